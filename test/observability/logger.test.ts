// The process logger: readable lines in a terminal (pino-pretty), JSON lines otherwise; keys
// and secrets redacted either way.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';

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
});
