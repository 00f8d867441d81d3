// Endpoint controls of SPEC §11 as the API takes them: custom headers (checked, and masked
// where they are listed) and content filters (checked by compiling them).
import { Type } from '@sinclair/typebox';
import { compileFilter } from '../core/filter.js';
import { ApiError } from '../http/errors.js';

export const MAX_HEADERS = 20;
export const MAX_HEADER_VALUE_BYTES = 1024;
const HEADER_NAME = /^[A-Za-z0-9-]{1,64}$/;
/** Printable ASCII and tabs: what every HTTP stack sends unchanged. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/** Headers the system sets on every attempt (SPEC §3, §10, §11); a webhook cannot set them. */
const RESERVED = new Set([
  'content-type',
  'content-length',
  'host',
  'user-agent',
  'connection',
  'transfer-encoding',
  'traceparent',
  'tracestate',
]);
const RESERVED_PREFIXES = ['x-rizler-', 'webhook-'];

export function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return RESERVED.has(lower) || RESERVED_PREFIXES.some((p) => lower.startsWith(p));
}

export const HeadersField = Type.Record(Type.String(), Type.String(), {
  description: `Sent with every attempt: at most ${MAX_HEADERS}, names ^[A-Za-z0-9-]{1,64}$, values up to 1 KiB of printable ASCII. Names the system sets (Content-Type, User-Agent, X-Rizler-*, webhook-*, …) are refused.`,
});

export const FilterField = Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
  description:
    'Matched against {"event","data"}; null for none. Operators: $eq, $neq, $gt, $gte, $lt, $lte, $in, $nin, $startsWith, $endsWith, $exists, $and, $or, $not.',
});

/** validation_error as SPEC §11 asks for these fields: 422, with the field named. */
export class UnprocessableError extends ApiError {
  constructor(message: string) {
    super('validation_error', message);
    (this as { status: number }).status = 422;
  }
}

/** Checks a webhook's headers; returns them as given. */
export function checkHeaders(headers: Record<string, string>): Record<string, string> {
  const names = Object.keys(headers);
  if (names.length > MAX_HEADERS) {
    throw new UnprocessableError(
      `headers has ${names.length} entries; a webhook may set at most ${MAX_HEADERS}.`,
    );
  }
  const seen = new Set<string>();
  for (const name of names) {
    const value = headers[name]!;
    const where = `headers[${JSON.stringify(name)}]`;
    if (!HEADER_NAME.test(name)) {
      throw new UnprocessableError(
        `${where}: a header name is 1 to 64 letters, digits and hyphens.`,
      );
    }
    if (isReservedHeader(name)) {
      throw new UnprocessableError(
        `${where}: ${name} is set by Rizler on every attempt and cannot be overridden; choose another name.`,
      );
    }
    const lower = name.toLowerCase();
    if (seen.has(lower)) {
      throw new UnprocessableError(
        `${where}: the header is given twice (names are case-insensitive).`,
      );
    }
    seen.add(lower);
    if (/[\r\n]/.test(value)) {
      throw new UnprocessableError(`${where}: a header value cannot contain CR or LF.`);
    }
    if (!HEADER_VALUE.test(value)) {
      throw new UnprocessableError(
        `${where}: a header value may hold printable ASCII characters and tabs only.`,
      );
    }
    if (Buffer.byteLength(value) > MAX_HEADER_VALUE_BYTES) {
      throw new UnprocessableError(`${where}: a header value is at most 1 KiB.`);
    }
  }
  return headers;
}

/**
 * Where a filter holds a NUL character (in a key or a string), or null. The request schema
 * guards every string it declares (http/validation.ts); a filter's inside is free-form JSON the
 * schema cannot describe, so the same rule is applied here, with the same 400.
 */
function nulIn(value: unknown, path: string): string | null {
  if (typeof value === 'string') return value.includes('\0') ? path : null;
  if (value === null || typeof value !== 'object') return null;
  for (const [key, child] of Object.entries(value)) {
    const at = Array.isArray(value)
      ? `${path}[${key}]`
      : /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)
        ? `${path}.${key}`
        : `${path}[${JSON.stringify(key)}]`;
    if (key.includes('\0')) return at;
    const found = nulIn(child, at);
    if (found !== null) return found;
  }
  return null;
}

/** Checks a filter by compiling it; returns it as given. */
export function checkFilter(
  filter: Record<string, unknown> | null,
): Record<string, unknown> | null {
  if (filter === null) return null;
  const compiled = compileFilter(filter);
  if (!compiled.ok) throw new UnprocessableError(`${compiled.message}.`);
  // After compiling, which refuses a filter deeper than 8 levels: this walk is recursive.
  const nul = nulIn(filter, 'filter');
  if (nul !== null) {
    throw new ApiError('validation_error', `${nul} must not contain a NUL character.`);
  }
  return filter;
}

const SECRET_NAME = /auth|token|secret|key|pass|signature|cookie|credential|session/i;

/** A header whose name says it carries a credential. */
export function isSecretLooking(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** A credential's value as lists show it: enough to recognise, not enough to use. */
export function maskValue(value: string): string {
  const shown = value.length >= 16 ? value.slice(0, 4) : '';
  return `${shown}••••••••`;
}

/** The headers with secret-looking values masked (lists, delivery logs). */
export function maskHeaders(
  headers: Record<string, string>,
  keep: (name: string) => boolean = () => false,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name] = !keep(name) && isSecretLooking(name) ? maskValue(value) : value;
  }
  return out;
}
