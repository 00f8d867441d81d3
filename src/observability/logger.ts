// The process logger (pino): JSON lines, with keys, tokens and secrets redacted.
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from '../config.js';

/** Query parameters whose values are credentials, in any spelling a client might use. */
const CREDENTIAL_PARAM = /key|token|secret|password|passwd|auth|session|signature|credential/i;

/** `/v1/webhooks?api_key=rzk_…&limit=5` → `/v1/webhooks?api_key=[redacted]&limit=5` */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq === -1) return pair;
      let name = pair.slice(0, eq);
      try {
        name = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // a malformed name is judged as written
      }
      return CREDENTIAL_PARAM.test(name) ? `${pair.slice(0, eq)}=[redacted]` : pair;
    })
    .join('&');
  return `${url.slice(0, q)}?${query}`;
}

interface LoggedRequest {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** Fastify's request fields, with credentials in the query string redacted. */
function serializeRequest(req: LoggedRequest) {
  return {
    method: req.method,
    url: req.url === undefined ? undefined : redactUrl(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

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
    serializers: { req: serializeRequest },
  };
  return destination ? pino(options, destination) : pino(options);
}
