// Express (or Connect, or plain node:http) middleware that verifies a Rizler delivery.
// Express is not a dependency: requests and responses are typed by the little this file uses,
// which Express's own Request and Response satisfy.
import type { IncomingMessage } from 'node:http';
import type { RizlerWebhookEvent } from './event-types.js';
import { verifyWebhook, WebhookVerificationError } from './verify.js';
import type { VerifyWebhookOptions } from './verify.js';

export interface RizlerExpressRequest extends IncomingMessage {
  /** Set by `express.raw()` (a Buffer), `express.text()` (a string) or a JSON parser (too late). */
  body?: unknown;
  /** The verified event, set before `next()` is called. */
  rizlerEvent?: RizlerWebhookEvent;
}

export interface RizlerExpressResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

export type RizlerExpressMiddleware = (
  req: RizlerExpressRequest,
  res: RizlerExpressResponse,
  next: (error?: unknown) => void,
) => void;

export interface RizlerMiddlewareOptions extends VerifyWebhookOptions {
  /** The largest body read from the stream, in bytes. Default 1 MiB (events are ≤ 256 KiB). */
  limitBytes?: number;
}

const DEFAULT_LIMIT_BYTES = 1024 * 1024;

/**
 * Verifies the delivery, then sets `req.rizlerEvent` and calls `next()`; answers
 * 400 `{"error": {"code", "message"}}` (code from `WebhookVerificationError`) when it fails.
 *
 * Reads the raw body itself, or takes the Buffer that `express.raw({ type: 'application/json' })`
 * left in `req.body`. Mount it before `express.json()`: once JSON is parsed the raw bytes are gone
 * and the signature cannot be checked (that is reported through `next(error)`).
 */
export function rizlerWebhookMiddleware(
  secret: string,
  options: RizlerMiddlewareOptions = {},
): RizlerExpressMiddleware {
  if (typeof secret !== 'string' || secret === '') {
    throw new TypeError("rizlerWebhookMiddleware needs the endpoint's secret, a non-empty string");
  }
  const limit = options.limitBytes ?? DEFAULT_LIMIT_BYTES;
  return (req, res, next) => {
    const onBody = (body: string | Uint8Array | undefined): void => {
      if (body === undefined) {
        reply(res, 413, 'payload_too_large', `The body is larger than ${limit} bytes`);
        return;
      }
      let event: RizlerWebhookEvent;
      try {
        event = verifyWebhook(body, req.headers, secret, options);
      } catch (error) {
        if (error instanceof WebhookVerificationError) reply(res, 400, error.code, error.message);
        else next(error);
        return;
      }
      req.rizlerEvent = event;
      next();
    };
    rawBody(req, limit).then(onBody, next);
  };
}

function reply(res: RizlerExpressResponse, status: number, code: string, message: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify({ error: { code, message } }));
}

/** The raw body, or undefined when it is larger than `limit`. */
async function rawBody(
  req: RizlerExpressRequest,
  limit: number,
): Promise<string | Uint8Array | undefined> {
  const { body } = req;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  // body-parser marks a request it has read with `_body`; Express 5 leaves the stream ended.
  if (req.readableEnded || (req as { _body?: unknown })._body === true) {
    throw new Error(
      'The request body was already parsed before rizlerWebhookMiddleware ran, so its raw bytes ' +
        "are gone: mount the middleware before express.json(), or use express.raw({ type: 'application/json' })",
    );
  }
  return readStream(req, limit);
}

function readStream(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume(); // discard it, so the connection can still carry our answer
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += bytes.length;
      if (size > limit) {
        cleanup();
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(bytes);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('The client closed the connection before the whole body arrived'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
