// The process logger: readable lines in a terminal (pino-pretty), JSON lines otherwise; keys
// and secrets redacted either way.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
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
});
