// The process logger (pino): JSON lines, with keys, tokens and secrets redacted. In a terminal
// (stdout a TTY) the same records are printed readably by pino-pretty; piped to a file or a log
// collector they stay JSON, one object a line.
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { PrettyOptions } from 'pino-pretty';
import type { Config } from '../config.js';

/** pino-pretty, loaded only when a terminal will read the logs (it costs start-up time). */
function prettyStream(output: NodeJS.WritableStream): DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as (
    options: PrettyOptions,
  ) => DestinationStream;
  // sync: a line is on screen before the next statement, as with the JSON destination.
  return pretty({ destination: output, sync: true, translateTime: 'SYS:HH:MM:ss.l' });
}

export function createLogger(
  config: Pick<Config, 'logLevel'>,
  destination?: DestinationStream,
  stdout: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
): Logger {
  const options = {
    level: config.logLevel,
    // Keys, tokens and secrets never reach the logs, whatever logs them.
    redact: {
      paths: [
        'req.headers.authorization',
        'headers.authorization',
        'authorization',
        'secret',
        '*.secret',
        'api_key',
        '*.api_key',
        'apiKey',
      ],
      censor: '[redacted]',
    },
  };
  if (destination) return pino(options, destination);
  return stdout.isTTY ? pino(options, prettyStream(stdout)) : pino(options);
}
