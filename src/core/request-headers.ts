// An attempt's request headers as the store keeps them. The sender's own headers are mostly
// facts the attempt's row already holds under fixed names: its delivery, its number, the
// moment it was signed (`webhook-timestamp` is the second of `started_at`), and a constant
// content type. Kept whole they were about 550 bytes of JSON an attempt, the largest part of
// the attempts table (`bench/wal-pages.ts`: 12.3 of the 33.5 WAL frames a completion of 40
// wrote were the attempts'). Packed, an attempt keeps only what does not follow from its row:
//
//   [1, {custom headers and traceparent, in order}, user-agent, x-rizler-event,
//    x-rizler-signature, webhook-id, webhook-signature, x-rizler-ordering-key?]
//
// A JSON array, where headers kept whole are a JSON object, so the two never mix; and headers
// that are not exactly the sender's (a `listen` attempt's, or none) are kept whole. Reading
// rebuilds the same names, values and order.
/** JSON text as the store keeps it: made by `storedHeaders`, read back by `readHeaders`. */
export type StoredHeaders = string & { readonly storedHeaders: unique symbol };

/** What of an attempt's row its headers follow from. */
export interface HeaderFacts {
  deliveryId: string;
  attempt: number;
  startedAt: number;
}

const PACKED = 1;
const CONTENT_TYPE = 'application/json';
/** The sender's headers after the custom ones and traceparent, in the order it writes them. */
const SYSTEM = [
  'content-type',
  'user-agent',
  'x-rizler-event',
  'x-rizler-delivery',
  'x-rizler-attempt',
  'x-rizler-signature',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
] as const;
const ORDERING_KEY = 'x-rizler-ordering-key';

type Packed = [
  typeof PACKED,
  Record<string, string>,
  string,
  string,
  string,
  string,
  string,
  string?,
];

function signedAt(facts: HeaderFacts): string {
  return String(Math.floor(facts.startedAt / 1000));
}

/**
 * The headers as the store keeps them: packed when they are the sender's own for these facts
 * (worker/sender.ts `signedHeaders`), whole otherwise.
 */
export function storedHeaders(headers: Record<string, string>, facts?: HeaderFacts): StoredHeaders {
  const packed = facts && pack(headers, facts);
  return (packed ?? JSON.stringify(headers)) as StoredHeaders;
}

function pack(headers: Record<string, string>, facts: HeaderFacts): string | null {
  const names = Object.keys(headers);
  const start = names.indexOf('content-type');
  const count = names.length - start;
  if (start < 0 || count < SYSTEM.length || count > SYSTEM.length + 1) return null;
  for (let i = 0; i < SYSTEM.length; i++) if (names[start + i] !== SYSTEM[i]) return null;
  if (count > SYSTEM.length && names[names.length - 1] !== ORDERING_KEY) return null;
  if (
    headers['content-type'] !== CONTENT_TYPE ||
    headers['x-rizler-delivery'] !== facts.deliveryId ||
    headers['x-rizler-attempt'] !== String(facts.attempt) ||
    headers['webhook-timestamp'] !== signedAt(facts)
  ) {
    return null;
  }
  const before: [string, string][] = [];
  for (let i = 0; i < start; i++) before.push([names[i]!, headers[names[i]!]!]);
  const packed: Packed = [
    PACKED,
    Object.fromEntries(before),
    headers['user-agent']!,
    headers['x-rizler-event']!,
    headers['x-rizler-signature']!,
    headers['webhook-id']!,
    headers['webhook-signature']!,
  ];
  // Checked above: when there is one more header, it is the ordering key.
  if (count > SYSTEM.length) packed.push(headers[ORDERING_KEY]!);
  return JSON.stringify(packed);
}

/**
 * The headers an attempt was sent with, from what the store kept (`storedHeaders`): its text,
 * or the value PostgreSQL's driver parsed from its json column.
 */
export function readHeaders(stored: unknown, facts: HeaderFacts): Record<string, string> {
  const value: unknown = typeof stored === 'string' ? JSON.parse(stored) : stored;
  if (!Array.isArray(value)) return (value ?? {}) as Record<string, string>;
  const [version, before, userAgent, event, signature, webhookId, standard, key] = value as Packed;
  if (version !== PACKED) throw new Error(`request headers packed as version ${version}`);
  const entries: [string, string][] = [
    ...Object.entries(before),
    ['content-type', CONTENT_TYPE],
    ['user-agent', userAgent],
    ['x-rizler-event', event],
    ['x-rizler-delivery', facts.deliveryId],
    ['x-rizler-attempt', String(facts.attempt)],
    ['x-rizler-signature', signature],
    ['webhook-id', webhookId],
    ['webhook-timestamp', signedAt(facts)],
    ['webhook-signature', standard],
  ];
  if (key !== undefined) entries.push([ORDERING_KEY, key]);
  return Object.fromEntries(entries);
}
