// The worker's pattern on the storage alone, shared by storage-loop.ts (CPU per delivery) and
// wal-pages.ts (pages written): a burst published in batches of 1000, then every delivery
// claimed and its attempt recorded (all succeed), the oldest `batch` at a time, each
// completion claiming in its own transaction what the worker would ask for next.
import { attemptRecord } from '../src/core/attempt.js';
import { storedHeaders } from '../src/core/request-headers.js';
import type {
  ClaimRequest,
  ClaimedDelivery,
  CompletedAttempt,
  Storage,
} from '../src/storage/index.js';
import { DAY, T, publishMany } from '../test/storage/fixtures.js';

/**
 * Publishes `events` call.ended events for the account, 1000 to a publish, at T, each with
 * the ordering key the API gives a call event by default (its call's id, SPEC §10), as the
 * service's bench publishes them (context.ts DATA): its endpoints keep no order, and the key
 * goes with every delivery all the same.
 */
export async function publishBurst(
  storage: Storage,
  accountId: string,
  events: number,
): Promise<void> {
  for (let sent = 0; sent < events; sent += 1000) {
    await publishMany(storage, accountId, Math.min(1000, events - sent), {
      orderingKey: 'call_123456',
    });
  }
}

export interface DrainOptions {
  /** Attempts recorded per completion. */
  batch: number;
  /** What the first claim asks for. */
  firstLimit: number;
  /** What a completion claims, given how many it recorded and how many are still in flight. */
  nextLimit(recorded: number, inFlight: number): number;
  /** The request headers each attempt records. */
  requestHeaders: Record<string, string>;
  /**
   * The worker's bound of attempts in flight to one origin (RIZLER_MAX_IN_FLIGHT_PER_ORIGIN),
   * where all the endpoints share one, as the bench's do; absent, none.
   */
  perOrigin?: number;
}

/**
 * The headers as the sender writes them for this attempt: those of `headers` that carry the
 * attempt's delivery, number and second of signing take this attempt's.
 */
function sentHeaders(
  headers: Record<string, string>,
  claim: { deliveryId: string; attempt: number },
  now: number,
): Record<string, string> {
  const own = { ...headers };
  if ('x-rizler-delivery' in own) own['x-rizler-delivery'] = claim.deliveryId;
  if ('x-rizler-attempt' in own) own['x-rizler-attempt'] = String(claim.attempt);
  if ('webhook-timestamp' in own) own['webhook-timestamp'] = String(Math.floor(now / 1000));
  return own;
}

/** Claims and records until nothing is due; how many deliveries, in how many completions. */
export async function drain(
  storage: Storage,
  options: DrainOptions,
): Promise<{ delivered: number; completions: number }> {
  let now = T;
  let lease = 0;
  const { perOrigin } = options;
  const request = (limit: number): ClaimRequest => ({
    leaseToken: `worker-pattern:${++lease}`,
    limit,
    leaseMs: 60_000,
    now,
    maxInFlightPerEndpoint: 128,
    defaultRateLimitPerMinute: 100_000_000,
    ...(perOrigin === undefined ? {} : { originRoom: () => perOrigin - inFlight.length }),
  });
  const inFlight: ClaimedDelivery[] = [];
  inFlight.push(...(await storage.claimDue(request(options.firstLimit))));
  let delivered = 0;
  let completions = 0;
  while (inFlight.length > 0) {
    now += 1;
    const batch = inFlight.splice(0, options.batch);
    const completed: CompletedAttempt[] = batch.map((claim) => ({
      claim,
      outcome: { kind: 'succeeded' },
      endpointGone: false,
      attempt: attemptRecord(claim, {
        succeeded: true,
        startedAt: now,
        durationMs: 1,
        statusCode: 200,
        responseBody: 'ok',
        error: null,
        retryAfterMs: null,
        requestHeaders: storedHeaders(sentHeaders(options.requestHeaders, claim, now), {
          deliveryId: claim.deliveryId,
          attempt: claim.attempt,
          startedAt: now,
        }),
      }),
    }));
    const next = request(options.nextLimit(batch.length, inFlight.length));
    inFlight.push(
      ...(await storage.completeAttempts(completed, { now, autoDisableAfterMs: DAY }, next)),
    );
    delivered += batch.length;
    completions++;
  }
  return { delivered, completions };
}
