// The process logger (pino): JSON lines, with keys, tokens and secrets redacted. In a terminal
// (stdout a TTY) the same records are printed readably by pino-pretty; piped to a file or a log
// collector they stay JSON, one object a line.
import { createRequire } from 'node:module';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { pino, destination as pinoDestination, type DestinationStream, type Logger } from 'pino';
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

/**
 * Fastify's request log as one line a request, written when it is answered: method, path,
 * caller, status and time together, as an access log has them (Fastify's own writes two, the
 * request as it comes and the answer with only its status). An event published alone paid
 * for both: with one line, the service's CPU an event read 815 µs against 853 (SQLite, three
 * pairs; docs/benchmark-history.md, session 36). The request as it comes is still there at
 * `debug`, for a request that never gets its answer.
 */
export class RequestLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const fields = { req: request, res: reply, responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...fields, err: error }, 'request errored');
    else reply.log.info(fields, 'request completed');
  }
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
    serializers: { req: serializeRequest },
  };
  if (destination) return pino(options, destination);
  return stdout.isTTY ? pino(options, prettyStream(stdout)) : pino(options, bufferedStdout());
}

/** How long a JSON log line may wait in the buffer before it is written. */
const LOG_FLUSH_MS = 100;

/**
 * Standard output for JSON lines, written in batches: what a turn of work logs goes out in one
 * write at most LOG_FLUSH_MS later, where a write a line (one for each API request) cost the
 * main thread a system call each, and a wake-up of whatever reads the pipe. pino writes what
 * is left synchronously when the process exits; only a kill -9 can lose the last lines.
 */
function bufferedStdout(): DestinationStream {
  const out = pinoDestination({ dest: 1, sync: false, minLength: 8 * 1024 });
  setInterval(() => out.flush(), LOG_FLUSH_MS).unref();
  return out;
}
