// The process logger (pino): JSON lines, with keys, tokens and secrets redacted.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from '../config.js';

export function createLogger(
  config: Pick<Config, 'logLevel'>,
  destination?: DestinationStream,
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
  return destination ? pino(options, destination) : pino(options);
}
