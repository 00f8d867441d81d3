// Trace context (SPEC §11) at the seams that already exist: publish, claim → record, attempt.
// Every event gets a W3C `traceparent`, kept with it: the publisher's own context, or a new
// trace. Every attempt sends a child of it. With OTEL_EXPORTER_OTLP_ENDPOINT set, the spans
// behind those ids are exported by the official OpenTelemetry SDK (./otel.ts, which server.ts
// loads only then); without it nothing of the SDK is loaded and the ids cost a few random
// bytes per event and attempt.
import type { AttemptOutcome, ClaimedDelivery } from '../storage/types.js';
import type { AttemptResult } from '../core/attempt.js';
import { RandomPool } from '../core/random-pool.js';

export interface TraceContext {
  traceId: string;
  spanId: string;
  flags: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A W3C traceparent (version 00), or null when it is malformed or has all-zero ids. */
export function parseTraceparent(value: string | undefined | null): TraceContext | null {
  if (typeof value !== 'string') return null;
  const match = TRACEPARENT.exec(value.trim().toLowerCase());
  if (!match) return null;
  const [, traceId, spanId, flags] = match as unknown as [string, string, string, string];
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return null;
  return { traceId, spanId, flags };
}

export function formatTraceparent(c: TraceContext): string {
  return `00-${c.traceId}-${c.spanId}-${c.flags}`;
}

const pool = new RandomPool();
function randomHex(bytes: number): string {
  const hex = pool.take(bytes).toString('hex');
  return /^0+$/.test(hex) ? randomHex(bytes) : hex;
}

export const newTraceId = () => randomHex(16);
export const newSpanId = () => randomHex(8);
/** The traceparent of a new trace, for what has no parent (sampled). */
export const newTraceparent = () =>
  formatTraceparent({ traceId: newTraceId(), spanId: newSpanId(), flags: '01' });

/** What a publish is about, for the span's attributes. */
export interface PublishInfo {
  accountId: string;
  eventIds: string[];
  eventTypes: string[];
}

/** One delivery's spans from its claim until its attempt is recorded. */
export interface AttemptTrace {
  /** The `traceparent` header the attempt sends. */
  traceparent: string;
  finished(result: AttemptResult, outcome: AttemptOutcome): void;
}

export interface Tracing {
  /**
   * Runs a publish under its span. `work` receives the traceparent every event of it keeps,
   * and returns how many deliveries it made.
   */
  publish<T>(
    info: PublishInfo,
    incoming: string | undefined,
    work: (traceparent: string) => Promise<{ result: T; deliveries: number }>,
  ): Promise<T>;
  /** A claimed delivery's attempt is about to be sent. */
  attempt(claim: ClaimedDelivery): AttemptTrace;
  /** These claims' attempts are recorded: their claim → record spans end. */
  recorded(claims: readonly ClaimedDelivery[]): void;
  shutdown(): Promise<void>;
}

/** A child of the event's context (or a new trace) for one attempt. */
function childOf(traceparent: string | null): string {
  const parent = parseTraceparent(traceparent);
  return formatTraceparent({
    traceId: parent?.traceId ?? newTraceId(),
    spanId: newSpanId(),
    flags: parent?.flags ?? '01',
  });
}

/** Tracing off: ids only, no spans, nothing of the SDK loaded. */
export class IdsOnlyTracing implements Tracing {
  async publish<T>(
    _info: PublishInfo,
    incoming: string | undefined,
    work: (traceparent: string) => Promise<{ result: T; deliveries: number }>,
  ): Promise<T> {
    // The publisher's context is kept as it is: with no span of ours in between, attempts
    // are children of the publisher's span.
    const given = parseTraceparent(incoming);
    const traceparent = given ? formatTraceparent(given) : newTraceparent();
    return (await work(traceparent)).result;
  }

  attempt(claim: ClaimedDelivery): AttemptTrace {
    return { traceparent: childOf(claim.traceparent), finished() {} };
  }

  recorded(): void {}

  async shutdown(): Promise<void> {}
}
