// Sends one signed attempt and describes what happened in words a person understands.
// Shared by the delivery pipeline and by test sends, so a test is exactly a real attempt.
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import {
  rizlerSignature,
  signingKey,
  standardSignatureHeader,
  type SigningKey,
} from '../core/signing.js';
import { parseRetryAfter } from '../core/retry.js';
import { USER_AGENT } from '../version.js';
import { storedHeaders, type StoredHeaders } from '../core/request-headers.js';
import { urlTarget } from '../core/origin.js';
import {
  MAX_RESPONSE_BODY,
  type AttemptResult,
  type AttemptSender,
  type OutgoingAttempt,
} from '../core/attempt.js';

/**
 * A header value carries printable ASCII only: a key with anything else (a non-Latin
 * character, a control character) is sent percent-encoded, as encodeURIComponent writes it.
 */
export function orderingKeyHeader(key: string): string {
  return /^[\x20-\x7e]*$/.test(key) ? key : encodeURIComponent(key);
}

export interface SenderOptions {
  dispatcher: Dispatcher;
  timeoutMs: number;
  now?: () => number;
}

/** How many secrets' keys a process keeps made (signingKeys); past it, the oldest go. */
const SIGNING_KEYS_KEPT = 10_000;
const signingKeys = new Map<string, SigningKey>();

/** Each secret's keys (core/signing.ts SigningKey), made at its first signature. */
function keysOf(secrets: readonly string[]): SigningKey[] {
  return secrets.map((secret) => {
    let key = signingKeys.get(secret);
    if (key === undefined) {
      if (signingKeys.size >= SIGNING_KEYS_KEPT) {
        signingKeys.delete(signingKeys.keys().next().value!);
      }
      key = signingKey(secret);
      signingKeys.set(secret, key);
    }
    return key;
  });
}

export function signedHeaders(
  out: OutgoingAttempt,
  signedAtSeconds: number,
): Record<string, string> {
  const keys = keysOf(out.secrets);
  const custom: Record<string, string> = {};
  if (out.headers)
    for (const [name, value] of Object.entries(out.headers)) custom[name.toLowerCase()] = value;
  const headers: Record<string, string> = {
    ...custom,
    ...(out.traceparent === undefined ? {} : { traceparent: out.traceparent }),
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'x-rizler-event': out.eventType,
    'x-rizler-delivery': out.deliveryId,
    'x-rizler-attempt': String(out.attempt),
    'x-rizler-signature': rizlerSignature(out.payload, keys[0] ?? ''),
    'webhook-id': out.eventId,
    'webhook-timestamp': String(signedAtSeconds),
    'webhook-signature': standardSignatureHeader(out.eventId, signedAtSeconds, out.payload, keys),
  };
  if (out.orderingKey != null)
    headers['x-rizler-ordering-key'] = orderingKeyHeader(out.orderingKey);
  return headers;
}

/** Turns a failed connection or request into a sentence. */
export function describeError(err: unknown, timeoutMs: number): string {
  const e = err as { code?: string; name?: string; message?: string; cause?: unknown };
  if (
    e.name === 'TimeoutError' ||
    e.name === 'AbortError' ||
    e.code === 'UND_ERR_HEADERS_TIMEOUT' ||
    e.code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return `timeout after ${timeoutMs} ms`;
  }
  if (e.code === 'blocked_address') return e.message ?? 'blocked address';
  // undici 7 raises its llhttp errors without a code, only this name.
  if (e.name === 'HTTPParserError') {
    return 'the receiver answered with something that is not valid HTTP';
  }
  if (e.cause && (e.cause as { code?: string }).code === 'blocked_address') {
    return (e.cause as Error).message;
  }
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset by the receiver';
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return 'connection closed by the receiver before the response was complete';
    case 'ENOTFOUND':
      return 'DNS lookup failed: no such host';
    case 'EAI_AGAIN':
      return 'DNS lookup failed: temporary resolver error';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'timeout while connecting';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_VERSION':
    case 'HPE_INVALID_STATUS':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'UND_ERR_INFO':
      return 'the receiver answered with something that is not valid HTTP';
    case 'UND_ERR_HEADERS_OVERFLOW':
      return 'the receiver sent response headers larger than allowed';
  }
  if (e.code?.startsWith('HPE_'))
    return 'the receiver answered with something that is not valid HTTP';
  if (e.code && /CERT|TLS|SSL/.test(e.code)) return `TLS error: ${e.message ?? e.code}`;
  if (e.cause) return describeError(e.cause, timeoutMs);
  return e.message || 'the request failed';
}

/** How an attempt's request ended: an answer read (up to the cap), or an error. */
type Outcome =
  | { statusCode: number; headers: IncomingHttpHeaders; body: string }
  | { statusCode: number | null; error: unknown; timedOut: boolean };

/** Why an attempt's request was ended on our side. */
class Ended extends Error {
  constructor(readonly why: 'deadline' | 'capped') {
    super(why === 'deadline' ? 'the attempt ran out of time' : 'the response body is long enough');
  }
}

/**
 * One attempt's request, as undici's dispatch handler: it reads the status, the headers it
 * needs and at most MAX_RESPONSE_BODY bytes of the body, and settles once. Dispatched
 * directly, an attempt makes no response stream and no promise inside undici (a bench of
 * 40,000 requests to a receiver in its own process: 28-30 µs of CPU a request, against 33-35
 * with `request()` and its body's `text()`).
 *
 * The whole-request deadline is one timer: when it fires, the request is aborted wherever it
 * is, waiting for a connection included. Once the cap is read, the rest of the body is not
 * (an endless body cannot hold us): the request is aborted and the connection closed.
 */
class AttemptRequest implements Dispatcher.DispatchHandler {
  /** Settles once, with the answer or the error. */
  readonly done: Promise<Outcome>;
  private settle!: (outcome: Outcome) => void;
  private statusCode: number | null = null;
  private headers: IncomingHttpHeaders = {};
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private controller: Dispatcher.DispatchController | null = null;
  private ended: Ended | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(timeoutMs: number) {
    this.done = new Promise((settle) => (this.settle = settle));
    this.timer = setTimeout(() => this.end(new Ended('deadline')), timeoutMs);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.ended) controller.abort(this.ended);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    // An informational answer (100 Continue, 103 Early Hints) comes before the real one.
    if (statusCode < 200) return;
    this.statusCode = statusCode;
    this.headers = headers;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.ended) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size >= MAX_RESPONSE_BODY) {
      this.finish();
      this.end(new Ended('capped'));
    }
  }

  onResponseEnd(): void {
    this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    clearTimeout(this.timer);
    // Ended for the cap, the attempt is settled already. Ended by the deadline, whatever
    // failed, the attempt timed out.
    if (err instanceof Ended && err.why === 'capped') return;
    this.settle({
      statusCode: this.statusCode,
      error: err,
      timedOut: this.ended?.why === 'deadline',
    });
  }

  private end(reason: Ended): void {
    if (this.ended) return;
    this.ended = reason;
    this.controller?.abort(reason);
  }

  private finish(): void {
    clearTimeout(this.timer);
    const bytes = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const text = bytes.subarray(0, MAX_RESPONSE_BODY).toString('utf8');
    // PostgreSQL text cannot hold NUL; a receiver's binary answer is shown, not stored raw.
    this.settle({
      // undici reports the answer's end only after its status.
      statusCode: this.statusCode!,
      headers: this.headers,
      body: text.includes('\0') ? text.replace(/\0/g, '\uFFFD') : text,
    });
  }
}

export class Sender implements AttemptSender {
  private readonly now: () => number;

  constructor(private readonly options: SenderOptions) {
    this.now = options.now ?? Date.now;
  }

  async send(out: OutgoingAttempt): Promise<AttemptResult> {
    const { timeoutMs } = this.options;
    const startedAt = this.now();
    const headers = signedHeaders(out, Math.floor(startedAt / 1000));
    const started = performance.now();
    let outcome: Outcome;
    try {
      // Dispatched with the URL parsed once: undici's request(url) parses it on every call.
      const { origin, path } = urlTarget(out.url);
      const request = new AttemptRequest(timeoutMs);
      this.options.dispatcher.dispatch(
        {
          origin,
          path,
          method: 'POST',
          headers,
          body: out.payload,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        },
        request,
      );
      outcome = await request.done;
    } catch (err) {
      outcome = { statusCode: null, error: err, timedOut: false };
    }
    const durationMs = Math.round(performance.now() - started);
    const requestHeaders = storedHeaders(headers, {
      deliveryId: out.deliveryId,
      attempt: out.attempt,
      startedAt,
    });
    if ('error' in outcome) {
      // No answer, or a status with its body cut off: a failed attempt either way, since the
      // receiver may not have finished its work.
      const error = outcome.timedOut
        ? `timeout after ${timeoutMs} ms`
        : describeError(outcome.error, timeoutMs);
      return this.failed(startedAt, durationMs, outcome.statusCode, null, error, requestHeaders);
    }
    const { statusCode: code, headers: answer } = outcome;
    if (code >= 200 && code < 300) {
      return {
        succeeded: true,
        startedAt,
        durationMs,
        statusCode: code,
        responseBody: outcome.body,
        error: null,
        retryAfterMs: null,
        requestHeaders,
      };
    }
    let error = `the receiver answered HTTP ${code}`;
    if (code >= 300 && code < 400) {
      const location = firstHeader(answer.location);
      error = `redirect (HTTP ${code}${location ? ` to ${location.slice(0, 200)}` : ''}) not followed; point the endpoint at the final URL`;
    }
    return {
      ...this.failed(startedAt, durationMs, code, outcome.body, error, requestHeaders),
      retryAfterMs:
        code === 429 || code === 503
          ? parseRetryAfter(firstHeader(answer['retry-after']), this.now())
          : null,
    };
  }

  private failed(
    startedAt: number,
    durationMs: number,
    statusCode: number | null,
    responseBody: string | null,
    error: string,
    requestHeaders: StoredHeaders,
  ): AttemptResult {
    return {
      succeeded: false,
      startedAt,
      durationMs,
      statusCode,
      responseBody,
      error,
      retryAfterMs: null,
      requestHeaders,
    };
  }
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
