// The decision inside every claim, shared by both engines: of the due deliveries a claim
// found, which to lease now, which to hold back for the endpoint's rate limit, and which to
// park because their endpoint is gone or disabled. Pure: the engines read the inputs and
// write the result inside their claim transaction.
//
// Each endpoint's cap is the smaller of RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT and its adaptive
// limit (throttle.ts). The engines read each endpoint's due deliveries only up to its room
// (fair-share.ts takeInTurn), so `hold`, what is over the cap after all (another worker leased
// meanwhile), stays due, untouched. When the claim may lease fewer than it could, it takes
// them in turn across accounts and endpoints (fairOrder); the rest stays due too. A claim with a byte budget (`maxPayloadBytes`) leases, in that order, only
// as many as fit it, each event's body counted once.
import { originOf } from '../core/origin.js';
import { fairOrder } from './fair-share.js';
import { bool, num, numOrNull, strOrNull, toWebhook, type Row } from './rows.js';
import { effectiveCap } from './throttle.js';
import type { ClaimRequest, ClaimedDelivery, Webhook } from './types.js';

export interface ClaimCandidate {
  deliveryId: string;
  accountId: string;
  webhookId: string | null;
  eventId: string;
  orderingKey: string | null;
  attemptCount: number;
  autoAttempts: number;
  manual: boolean;
  /** Behind its key's head (ordering.ts): never sent automatically, only by a manual retry. */
  waiting: boolean;
  /** In a key's order (its order_state, as the claim read it). */
  ordered: boolean;
  createdAt: number;
}

export interface EndpointBucket {
  webhookId: string;
  /** Where it is sent: its origin may bound the claim (ClaimRequest.originRoom). */
  url: string;
  enabled: boolean;
  /** Deliveries of the endpoint leased by any worker right now. */
  inFlight: number;
  /** The adaptive limit (throttle.ts); null: not throttled. */
  concurrencyLimit: number | null;
  ratePerMinute: number;
  /** Token bucket state; null before the first claim (a full bucket). */
  tokens: number | null;
  refilledAt: number | null;
}

/** The columns of a due delivery that a claim reads: the row toCandidate takes. */
export const CANDIDATE_COLUMNS =
  'id, account_id, webhook_id, event_id, ordering_key, attempt_count, auto_attempts, manual_requested, order_state, created_at';

/** A due delivery's row (CANDIDATE_COLUMNS) as a candidate of the plan. */
export function toCandidate(r: Row): ClaimCandidate {
  return {
    deliveryId: String(r.id),
    accountId: String(r.account_id),
    webhookId: strOrNull(r.webhook_id),
    eventId: String(r.event_id),
    orderingKey: strOrNull(r.ordering_key),
    attemptCount: num(r.attempt_count),
    autoAttempts: num(r.auto_attempts),
    manual: bool(r.manual_requested),
    waiting: r.order_state === 'waiting',
    ordered: r.order_state !== null && r.order_state !== undefined,
    createdAt: num(r.created_at),
  };
}

/**
 * An endpoint's row as the plan's bucket, with `inFlight` of its deliveries leased now. Its
 * rate limit: its own, else its account's default, else the service's.
 */
export function toEndpoint(
  row: Row,
  inFlight: number,
  request: ClaimRequest,
): EndpointBucket & { webhook: Webhook } {
  const webhook = toWebhook(row);
  return {
    webhook,
    webhookId: webhook.id,
    url: webhook.url,
    enabled: webhook.status === 'enabled',
    inFlight,
    concurrencyLimit: webhook.throttle.limit,
    ratePerMinute:
      webhook.rateLimitPerMinute ??
      webhook.accountRateLimitPerMinute ??
      request.defaultRateLimitPerMinute,
    tokens: numOrNull(row.rate_tokens),
    refilledAt: numOrNull(row.rate_refilled_at),
  };
}

export interface ClaimPlan {
  lease: ClaimCandidate[];
  /** Held back by the rate limit: due again when the bucket has a token for them. */
  defer: { deliveryId: string; dueAt: number }[];
  /** Over the endpoint's in-flight cap: left due, for when its attempts in flight finish. */
  hold: string[];
  park: string[];
  buckets: { webhookId: string; tokens: number }[];
  /**
   * Deliveries it could lease (within their endpoints' caps and rate limits) that it left due:
   * over the claim's limit, its origins' room or its byte budget. They are due now.
   */
  leftDue: boolean;
}

/** How many more of an endpoint's deliveries may be in flight: its cap beside those leased now. */
export function endpointRoom(
  endpoint: Pick<EndpointBucket, 'concurrencyLimit' | 'inFlight'>,
  maxInFlightPerEndpoint: number,
): number {
  return effectiveCap(endpoint.concurrencyLimit, maxInFlightPerEndpoint) - endpoint.inFlight;
}

/** A bucket holds up to a minute's worth of tokens and refills continuously. */
export function refill(bucket: EndpointBucket, now: number): number {
  const capacity = bucket.ratePerMinute;
  if (bucket.tokens === null || bucket.refilledAt === null) return capacity;
  const elapsed = Math.max(0, now - bucket.refilledAt);
  return Math.min(capacity, bucket.tokens + (elapsed * capacity) / 60_000);
}

/**
 * The deliveries of `lease` whose bodies fit `maxBytes`, each event counted once (its
 * deliveries to several endpoints share one body in the worker). Once a body does not fit, its
 * endpoint takes nothing more in this claim, so each endpoint still goes in due order.
 * `sizes`: body bytes by event id.
 */
export function withinBytes<C extends Pick<ClaimCandidate, 'eventId' | 'webhookId'>>(
  lease: readonly C[],
  sizes: ReadonlyMap<string, number>,
  maxBytes: number,
): C[] {
  const counted = new Set<string>();
  const stopped = new Set<string | null>();
  let total = 0;
  return lease.filter((c) => {
    if (stopped.has(c.webhookId)) return false;
    if (counted.has(c.eventId)) return true;
    const bytes = sizes.get(c.eventId) ?? 0;
    if (total + bytes > maxBytes) {
      stopped.add(c.webhookId);
      return false;
    }
    total += bytes;
    counted.add(c.eventId);
    return true;
  });
}

/**
 * A test, for fairOrder, that takes each candidate while the worker has room for its
 * endpoint's origin, counting what it took; undefined without a bound.
 */
function withinOrigins(
  endpoints: ReadonlyMap<string, EndpointBucket>,
  originRoom: ((origin: string) => number) | undefined,
): ((c: Pick<ClaimCandidate, 'webhookId'>) => boolean) | undefined {
  if (!originRoom) return undefined;
  const left = new Map<string, number>();
  return (c) => {
    const origin = originOf(endpoints.get(c.webhookId!)!.url);
    const room = left.get(origin) ?? originRoom(origin);
    left.set(origin, room - 1);
    return room > 0;
  };
}

/** How many due deliveries of an endpoint ('null': of the account's gone ones) a turn took. */
export interface TurnTaken {
  accountId: string;
  webhookId: string | null;
  n: number;
}

/** What a claim takes of each endpoint, summed, in the order each was first taken. */
export class TurnTally {
  private readonly sums = new Map<string, TurnTaken>();

  /** Counts `n` more taken of the endpoint (null: the account's gone ones); returns `n`. */
  add(accountId: string, webhookId: string | null, n: number): number {
    if (n <= 0) return 0;
    const key = `${accountId}\n${webhookId ?? ''}`;
    const sum = this.sums.get(key);
    if (sum) sum.n += n;
    else this.sums.set(key, { accountId, webhookId, n });
    return n;
  }

  get taken(): TurnTaken[] {
    return [...this.sums.values()];
  }
}

/**
 * What a claim's turn took (fair-share.ts takeInTurn), cut to what the plan could lease of it:
 * the claim's limit and the worker's room for each origin, in turn across accounts and their
 * endpoints, as planClaim takes them (fairOrder, withinOrigins). An engine that knows how many
 * are due before it reads them (PostgreSQL's walk) then reads and locks only those, where the
 * turn takes up to twice the limit. What a disabled or gone endpoint's turn took (read to be
 * parked) is kept. `cut`: some were left due (as ClaimPlan.leftDue).
 */
export function leasableOfTurn(
  taken: readonly TurnTaken[],
  endpoints: ReadonlyMap<string, EndpointBucket>,
  request: Pick<ClaimRequest, 'limit' | 'originRoom'>,
): { taken: TurnTaken[]; cut: boolean } {
  const sendable = (t: TurnTaken) =>
    t.webhookId !== null && endpoints.get(t.webhookId)?.enabled === true;
  const items: { accountId: string; webhookId: string }[] = [];
  for (const t of taken) {
    if (!sendable(t)) continue;
    for (let i = 0; i < t.n; i++) items.push({ accountId: t.accountId, webhookId: t.webhookId! });
  }
  const picked = fairOrder(items, request.limit, withinOrigins(endpoints, request.originRoom));
  if (picked.length === items.length) return { taken: [...taken], cut: false };
  const count = new Map<string, number>();
  for (const p of picked) count.set(p.webhookId, (count.get(p.webhookId) ?? 0) + 1);
  return {
    taken: taken
      .map((t) => (sendable(t) ? { ...t, n: count.get(t.webhookId!) ?? 0 } : t))
      .filter((t) => t.n > 0),
    cut: true,
  };
}

export function planClaim(
  candidates: readonly ClaimCandidate[],
  endpoints: ReadonlyMap<string, EndpointBucket>,
  request: Pick<
    ClaimRequest,
    'now' | 'maxInFlightPerEndpoint' | 'limit' | 'maxPayloadBytes' | 'originRoom'
  >,
  /** Body bytes by event id; needed when the request has `maxPayloadBytes`. */
  payloadSizes?: ReadonlyMap<string, number>,
): ClaimPlan {
  const plan: ClaimPlan = {
    lease: [],
    defer: [],
    hold: [],
    park: [],
    buckets: [],
    leftDue: false,
  };
  const byEndpoint = new Map<string, ClaimCandidate[]>();
  for (const c of candidates) {
    const endpoint = c.webhookId === null ? undefined : endpoints.get(c.webhookId);
    // A waiting delivery is off the due index; one found due anyway is parked again, so the
    // order per key holds whatever put it there. A manual retry is outside the order.
    if (!endpoint || !endpoint.enabled || (c.waiting && !c.manual)) {
      plan.park.push(c.deliveryId);
      continue;
    }
    let list = byEndpoint.get(endpoint.webhookId);
    if (!list) byEndpoint.set(endpoint.webhookId, (list = []));
    list.push(c);
  }
  const grantable: ClaimCandidate[] = [];
  const tokensLeft = new Map<string, number>();
  for (const [webhookId, list] of byEndpoint) {
    const endpoint = endpoints.get(webhookId)!;
    const room = Math.max(0, endpointRoom(endpoint, request.maxInFlightPerEndpoint));
    const wanted = list.slice(0, room);
    for (const c of list.slice(room)) plan.hold.push(c.deliveryId);
    const tokens = refill(endpoint, request.now);
    const granted = Math.min(wanted.length, Math.floor(tokens));
    grantable.push(...wanted.slice(0, granted));
    const after = tokens - granted;
    const perToken = 60_000 / endpoint.ratePerMinute;
    wanted.slice(granted).forEach((c, i) => {
      // The i-th waiting delivery gets the (i+1)-th token still to come.
      const wait = Math.ceil((i + 1 - after) * perToken);
      plan.defer.push({ deliveryId: c.deliveryId, dueAt: request.now + Math.max(1, wait) });
    });
    if (wanted.length > 0) tokensLeft.set(webhookId, tokens);
  }
  // More leasable than the claim may take: in turn across accounts, then endpoints. What is
  // left out stays due, untouched, for the next claim; so does what is over the worker's room
  // for its endpoint's origin.
  plan.lease = fairOrder(grantable, request.limit, withinOrigins(endpoints, request.originRoom));
  if (request.maxPayloadBytes !== undefined && payloadSizes)
    plan.lease = withinBytes(plan.lease, payloadSizes, request.maxPayloadBytes);
  plan.leftDue = plan.lease.length < grantable.length;
  const leasedOf = new Map<string, number>();
  for (const c of plan.lease) leasedOf.set(c.webhookId!, (leasedOf.get(c.webhookId!) ?? 0) + 1);
  for (const [webhookId, tokens] of tokensLeft) {
    plan.buckets.push({ webhookId, tokens: tokens - (leasedOf.get(webhookId) ?? 0) });
  }
  return plan;
}

/**
 * What the worker gets for one leased delivery: the endpoint as it is now, the event body (or
 * null, when the claim left it to be read at send time) and its size.
 */
export function toClaimed(
  c: ClaimCandidate,
  webhook: Webhook,
  event: {
    type: string;
    payload: string | null;
    payloadBytes: number;
    traceparent?: string | null;
  },
  request: Pick<ClaimRequest, 'now' | 'leaseToken'>,
  rowKey?: number,
): ClaimedDelivery {
  const sealedSecrets = [webhook.sealedSecret];
  // The secret before a rotation keeps signing webhook-signature until it expires.
  if (
    webhook.sealedPreviousSecret !== null &&
    (webhook.previousSecretExpiresAt ?? 0) > request.now
  ) {
    sealedSecrets.push(webhook.sealedPreviousSecret);
  }
  const claimed: ClaimedDelivery = {
    deliveryId: c.deliveryId,
    leaseToken: request.leaseToken,
    accountId: webhook.accountId,
    webhookId: webhook.id,
    eventId: c.eventId,
    eventType: event.type,
    orderingKey: c.orderingKey,
    url: webhook.url,
    payload: event.payload,
    payloadBytes: event.payloadBytes,
    attempt: c.attemptCount + 1,
    autoAttempts: c.autoAttempts,
    trigger: c.manual ? 'manual' : 'auto',
    ordered: c.ordered,
    createdAt: c.createdAt,
    sealedSecrets,
    headers: webhook.headers,
    traceparent: event.traceparent ?? null,
  };
  if (rowKey !== undefined) claimed.rowKey = rowKey;
  return claimed;
}
