// One delivery attempt as data: what is sent, what came back, and what sends it. The worker's
// sender makes attempts; the API's test sends, the metrics and the traces read them.
import type { StoredHeaders } from './request-headers.js';

/** Response bodies are kept up to 8 KiB (SPEC §4); the rest is not read. */
export const MAX_RESPONSE_BODY = 8 * 1024;

export interface OutgoingAttempt {
  url: string;
  eventId: string;
  eventType: string;
  deliveryId: string;
  attempt: number;
  /**
   * The exact body: compact JSON of id, event, timestamp, data. A large one comes as its UTF-8
   * bytes in shared memory (worker/payload-cache.ts), signed and sent as they are, never copied.
   */
  payload: string | Uint8Array;
  /** Active secrets, newest first: the first signs X-Rizler-Signature, all sign webhook-signature. */
  secrets: string[];
  /** The endpoint's custom headers (SPEC §11); the system's own headers come after them. */
  headers?: Record<string, string>;
  /** W3C trace context of this attempt (SPEC §11). */
  traceparent?: string;
  /** The event's ordering key, sent as X-Rizler-Ordering-Key (SPEC §10); absent: none. */
  orderingKey?: string | null;
}

export interface AttemptResult {
  succeeded: boolean;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  responseBody: string | null;
  error: string | null;
  /** The receiver's Retry-After on 429/503, in milliseconds. */
  retryAfterMs: number | null;
  /**
   * The headers it was sent with, as the store keeps them: packed by the sender, on its own
   * thread, so that the thread that records the attempt copies and writes one short string.
   */
  requestHeaders: StoredHeaders;
}

/** What sends an attempt: the Sender itself, or the ThreadedSender that hands it to a thread. */
export interface AttemptSender {
  send(out: OutgoingAttempt): Promise<AttemptResult>;
  /**
   * Settles, now, the attempts whose answers have come in but wait for a turn of the event
   * loop to be read (a sender on another thread); their promises resolve as usual. Returns how
   * many it settled.
   */
  collect?(): number;
}

/** An attempt's record, as the store keeps it: whose attempt it was, and what came of it. */
export function attemptRecord<Trigger extends string>(
  who: { deliveryId: string; attempt: number; trigger: Trigger; url: string },
  result: AttemptResult,
) {
  // Every field named, in one literal: built with a spread of `who`, the record took its
  // fields one map transition at a time, 4.6 µs a delivery of the worker's thread (--cpu-prof,
  // SQLite burst, 122,000 deliveries).
  return {
    deliveryId: who.deliveryId,
    attempt: who.attempt,
    trigger: who.trigger,
    url: who.url,
    startedAt: result.startedAt,
    durationMs: result.durationMs,
    statusCode: result.statusCode,
    responseBody: result.responseBody,
    error: result.error,
    requestHeaders: result.requestHeaders,
  };
}
