// The process logger: readable lines in a terminal (pino-pretty), JSON lines otherwise; keys
// and secrets redacted either way.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createLogger, RequestLog } from '../../src/observability/logger.js';
import { ROOT } from '../helpers/process.js';

function capture(isTTY: boolean) {
  const out = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  return { out, text: () => text };
}

describe('the process logger', () => {
  it('prints readable lines to a terminal, with secrets redacted', () => {
    const tty = capture(true);
    const logger = createLogger({ logLevel: 'info' }, undefined, tty.out);
    logger.info({ webhook: 'wh_1', secret: 'whsec_do_not_print' }, 'endpoint created');
    const line = tty.text();
    expect(line).toContain('endpoint created');
    expect(line).toContain('wh_1');
    expect(line).not.toContain('whsec_do_not_print');
    expect(line.trim().startsWith('{')).toBe(false);
  });

  it('writes one JSON object a line, redacted, to a destination that is not a terminal', () => {
    // (Piped stdout is JSON too: every spawned-process test reads the CLI's stdout as JSON lines.)
    const pipe = capture(false);
    const logger = createLogger({ logLevel: 'info' }, pipe.out as never, pipe.out);
    logger.info({ api_key: 'rzk_secret' }, 'account created');
    const record = JSON.parse(pipe.text()) as Record<string, unknown>;
    expect(record).toMatchObject({ msg: 'account created', api_key: '[redacted]', level: 30 });
  });

  it('writes piped stdout in batches: a line shows while the process runs, the last at exit', async () => {
    // The built logger (test/setup/global.ts rebuilds dist/), in a process whose stdout is a
    // pipe: it logs, waits for this test to have read the line, logs again and exits at once.
    const logger = pathToFileURL(join(ROOT, 'dist', 'src', 'observability', 'logger.js')).href;
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { createLogger } = await import(${JSON.stringify(logger)});
         const log = createLogger({ logLevel: 'info' });
         log.info({ secret: 'whsec_no' }, 'first');
         process.stdin.once('data', () => { log.info('last'); process.exit(0); });`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    onTestFinished(() => {
      child.kill();
    });
    let text = '';
    const seen = (msg: string) =>
      new Promise<void>((resolve) => {
        const check = () => text.includes(`"msg":"${msg}"`) && resolve();
        child.stdout.on('data', (c: Buffer) => {
          text += c.toString();
          check();
        });
        check();
      });
    await seen('first');
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.stdin.end('go');
    await exited;
    await seen('last');
    const records = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => r.msg)).toEqual(['first', 'last']);
    expect(records[0]).toMatchObject({ secret: '[redacted]' });
  });

  it('logs each request once, when it is answered, with the request and the answer', async () => {
    const lines = async (level: string) => {
      const pipe = capture(false);
      const logger = createLogger({ logLevel: level }, pipe.out as never, pipe.out);
      const app = Fastify({ loggerInstance: logger, logController: new RequestLog() });
      app.get('/ok', async () => ({ ok: true }));
      app.get('/broken', async () => {
        throw new Error('broke on purpose');
      });
      await app.inject({ url: '/ok?api_key=rzk_secret' });
      await app.inject({ url: '/broken' });
      await app.close();
      return pipe
        .text()
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, any>)
        .filter((record) => record.reqId !== undefined);
    };
    const info = await lines('info');
    const answered = info.filter((r) => r.msg === 'request completed');
    expect(answered).toHaveLength(2);
    expect(answered[0]).toMatchObject({
      req: { method: 'GET', url: '/ok?api_key=[redacted]' },
      res: { statusCode: 200 },
      responseTime: expect.any(Number),
    });
    expect(answered[1]).toMatchObject({ req: { url: '/broken' }, res: { statusCode: 500 } });
    // The failure itself is logged too, as an error of that request.
    expect(info.some((r) => r.level === 50 && r.reqId === answered[1]!.reqId)).toBe(true);
    expect(info.filter((r) => r.msg === 'incoming request')).toHaveLength(0);
    // At debug, the request is also logged as it comes.
    const debug = await lines('debug');
    expect(debug.filter((r) => r.msg === 'incoming request')).toHaveLength(2);
  });
});
