// Verification of a delivery on the receiving side (SPEC §3 and §8). The signing itself lives in
// src/core/signing.ts, shared with the worker that signs, so the two cannot drift apart.
import { rizlerSignature, safeEqual, standardSignature } from '../core/signing.js';
import type { RizlerWebhookEvent } from './event-types.js';

export type WebhookVerificationErrorCode =
  | 'missing_header'
  | 'invalid_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'invalid_signature'
  | 'invalid_body';

/** Thrown by `verifyWebhook`; `code` names the check that failed, `message` explains it. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  readonly code: WebhookVerificationErrorCode;

  constructor(code: WebhookVerificationErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Anything with `get(name)`, such as the Fetch API's `Headers`. */
export interface HeaderGetter {
  get(name: string): string | null;
}

/**
 * Request headers as frameworks hand them over: a `Headers` instance, Node's
 * `IncomingHttpHeaders`, or a plain object with keys in any case.
 */
export type WebhookHeaders =
  HeaderGetter | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, in either direction. Default 300 s. */
  toleranceSeconds?: number;
  /** The current time, as a `Date` or milliseconds since the epoch (`Date.now()`). */
  now?: Date | number;
}

const DEFAULT_TOLERANCE_SECONDS = 300;

/**
 * Checks the Standard Webhooks headers of a delivery (`webhook-id`, `webhook-timestamp`,
 * `webhook-signature`) against the raw body and the endpoint's secret, and returns the event.
 *
 * `rawBody` must be the bytes as received: JSON parsed and serialised again is not the same
 * text, and its signature does not match. The event is returned as sent; its `data` is not
 * checked against the catalogue here (the platform validated it when it was published), and
 * an event type newer than this package still verifies.
 *
 * @throws WebhookVerificationError naming the failed check.
 */
export function verifyWebhook(
  rawBody: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string,
  options: VerifyWebhookOptions = {},
): RizlerWebhookEvent {
  const body = bodyText(rawBody);
  requireSecret(secret);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new TypeError('toleranceSeconds must be a non-negative number of seconds');
  }

  const id = requiredHeader(headers, 'webhook-id');
  const timestampHeader = requiredHeader(headers, 'webhook-timestamp');
  const signatureHeader = requiredHeader(headers, 'webhook-signature');

  const timestamp = parseTimestamp(timestampHeader);
  const nowMs = options.now === undefined ? Date.now() : Number(options.now);
  const age = Math.floor(nowMs / 1000) - timestamp;
  if (age > tolerance) {
    throw new WebhookVerificationError(
      'timestamp_too_old',
      `webhook-timestamp is ${age} s in the past, more than the ${tolerance} s tolerance; ` +
        "the delivery may be a replay, or this machine's clock is wrong",
    );
  }
  if (-age > tolerance) {
    throw new WebhookVerificationError(
      'timestamp_too_new',
      `webhook-timestamp is ${-age} s in the future, more than the ${tolerance} s tolerance; ` +
        "check this machine's clock",
    );
  }

  const candidates = signatureHeader
    .split(/\s+/)
    .map((entry) => entry.replace(/,$/, ''))
    .filter((entry) => entry.startsWith('v1,'));
  if (candidates.length === 0) {
    throw new WebhookVerificationError(
      'invalid_signature',
      'webhook-signature has no v1 signature; expected space-separated "v1,<base64>" entries',
    );
  }
  const expected = standardSignature(id, timestamp, body, secret);
  // Every candidate is compared, in constant time, so timing reveals neither which one
  // matched nor how much of it.
  let matched = false;
  for (const candidate of candidates) matched = safeEqual(candidate, expected) || matched;
  if (!matched) {
    throw new WebhookVerificationError(
      'invalid_signature',
      'No webhook-signature entry matches the body and secret: check that the secret is this ' +
        "endpoint's, and that the body is the raw bytes received, not parsed and re-serialised JSON",
    );
  }
  return parseEvent(body);
}

/**
 * Checks an `X-Rizler-Signature` header (`sha256=` + hex HMAC-SHA256 of the raw body, keyed by
 * the secret's UTF-8 bytes) in constant time. Prefer `verifyWebhook`: this signature carries no
 * timestamp, so it does not stop replays.
 */
export function verifySignature(
  rawBody: string | Uint8Array,
  signatureHeader: string | readonly string[] | null | undefined,
  secret: string,
): boolean {
  const body = bodyText(rawBody);
  requireSecret(secret);
  if (signatureHeader === null || signatureHeader === undefined) return false;
  const expected = rizlerSignature(body, secret);
  const given = typeof signatureHeader === 'string' ? [signatureHeader] : signatureHeader;
  let matched = false;
  for (const candidate of given) matched = safeEqual(candidate, expected) || matched;
  return matched;
}

function bodyText(rawBody: unknown): string {
  if (typeof rawBody === 'string') return rawBody;
  if (rawBody instanceof Uint8Array) {
    return Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength).toString('utf8');
  }
  throw new TypeError(
    'The raw body must be a string or a Buffer as received, not a parsed object: ' +
      'JSON serialised again is different text and its signature does not match',
  );
}

function requireSecret(secret: unknown): void {
  if (typeof secret !== 'string' || secret === '') {
    throw new TypeError("The secret must be the endpoint's secret, a non-empty string");
  }
}

function requiredHeader(headers: WebhookHeaders, name: string): string {
  const value = readHeader(headers, name);
  if (value === undefined || value.trim() === '') {
    throw new WebhookVerificationError('missing_header', `The ${name} header is missing`);
  }
  return value.trim();
}

function readHeader(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function') {
    return (headers as HeaderGetter).get(name) ?? undefined;
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  let value = record[name];
  if (value === undefined) {
    const key = Object.keys(record).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : record[key];
  }
  // A header sent twice arrives as an array; joined, the signature entries stay separate.
  return typeof value === 'string' ? value : value?.join(' ');
}

function parseTimestamp(header: string): number {
  const seconds = /^\d{1,15}$/.test(header) ? Number(header) : NaN;
  if (!Number.isSafeInteger(seconds)) {
    throw new WebhookVerificationError(
      'invalid_timestamp',
      `webhook-timestamp must be an integer number of Unix seconds, got ${JSON.stringify(header)}`,
    );
  }
  return seconds;
}

function parseEvent(body: string): RizlerWebhookEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new WebhookVerificationError('invalid_body', 'The body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new WebhookVerificationError('invalid_body', 'The body is not a JSON object');
  }
  const event = parsed as Record<string, unknown>;
  for (const field of ['id', 'event', 'timestamp'] as const) {
    if (typeof event[field] !== 'string') {
      throw new WebhookVerificationError(
        'invalid_body',
        `The body is not a Rizler event: "${field}" must be a string`,
      );
    }
  }
  const data = event.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new WebhookVerificationError(
      'invalid_body',
      'The body is not a Rizler event: "data" must be an object',
    );
  }
  return parsed as RizlerWebhookEvent;
}
