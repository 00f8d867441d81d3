// The decision inside every claim, shared by both engines: of the due deliveries a claim
// found, which to lease now, which to hold back for the endpoint's rate limit, and which to
// park because their endpoint is gone or disabled. Pure: the engines read the inputs and
// write the result inside their claim transaction.
import type { ClaimRequest, ClaimedDelivery, Webhook } from './types.js';

export interface ClaimCandidate {
  deliveryId: string;
  webhookId: string | null;
  eventId: string;
  attemptCount: number;
  autoAttempts: number;
  manual: boolean;
}

export interface EndpointBucket {
  webhookId: string;
  enabled: boolean;
  /** Deliveries of the endpoint leased by any worker right now. */
  inFlight: number;
  ratePerMinute: number;
  /** Token bucket state; null before the first claim (a full bucket). */
  tokens: number | null;
  refilledAt: number | null;
}

export interface ClaimPlan {
  lease: ClaimCandidate[];
  /** Held back by the rate limit: due again when the bucket has a token for them. */
  defer: { deliveryId: string; dueAt: number }[];
  /** Over the endpoint's in-flight cap: held until its attempts in flight finish. */
  hold: string[];
  park: string[];
  buckets: { webhookId: string; tokens: number }[];
}

/** A bucket holds up to a minute's worth of tokens and refills continuously. */
export function refill(bucket: EndpointBucket, now: number): number {
  const capacity = bucket.ratePerMinute;
  if (bucket.tokens === null || bucket.refilledAt === null) return capacity;
  const elapsed = Math.max(0, now - bucket.refilledAt);
  return Math.min(capacity, bucket.tokens + (elapsed * capacity) / 60_000);
}

export function planClaim(
  candidates: readonly ClaimCandidate[],
  endpoints: ReadonlyMap<string, EndpointBucket>,
  request: Pick<ClaimRequest, 'now' | 'maxInFlightPerEndpoint'>,
): ClaimPlan {
  const plan: ClaimPlan = { lease: [], defer: [], hold: [], park: [], buckets: [] };
  const byEndpoint = new Map<string, ClaimCandidate[]>();
  for (const c of candidates) {
    const endpoint = c.webhookId === null ? undefined : endpoints.get(c.webhookId);
    if (!endpoint || !endpoint.enabled) {
      plan.park.push(c.deliveryId);
      continue;
    }
    let list = byEndpoint.get(endpoint.webhookId);
    if (!list) byEndpoint.set(endpoint.webhookId, (list = []));
    list.push(c);
  }
  for (const [webhookId, list] of byEndpoint) {
    const endpoint = endpoints.get(webhookId)!;
    const room = Math.max(0, request.maxInFlightPerEndpoint - endpoint.inFlight);
    const wanted = list.slice(0, room);
    for (const c of list.slice(room)) plan.hold.push(c.deliveryId);
    let tokens = refill(endpoint, request.now);
    const granted = Math.min(wanted.length, Math.floor(tokens));
    tokens -= granted;
    plan.lease.push(...wanted.slice(0, granted));
    const perToken = 60_000 / endpoint.ratePerMinute;
    wanted.slice(granted).forEach((c, i) => {
      // The i-th waiting delivery gets the (i+1)-th token still to come.
      const wait = Math.ceil((i + 1 - tokens) * perToken);
      plan.defer.push({ deliveryId: c.deliveryId, dueAt: request.now + Math.max(1, wait) });
    });
    if (wanted.length > 0) plan.buckets.push({ webhookId, tokens });
  }
  return plan;
}

/** What the worker gets for one leased delivery: the endpoint as it is now, the event body. */
export function toClaimed(
  c: ClaimCandidate,
  webhook: Webhook,
  event: { type: string; payload: string; traceparent?: string | null },
  request: Pick<ClaimRequest, 'now' | 'leaseToken'>,
): ClaimedDelivery {
  const sealedSecrets = [webhook.sealedSecret];
  // The secret before a rotation keeps signing webhook-signature until it expires.
  if (
    webhook.sealedPreviousSecret !== null &&
    (webhook.previousSecretExpiresAt ?? 0) > request.now
  ) {
    sealedSecrets.push(webhook.sealedPreviousSecret);
  }
  return {
    deliveryId: c.deliveryId,
    leaseToken: request.leaseToken,
    accountId: webhook.accountId,
    webhookId: webhook.id,
    eventId: c.eventId,
    eventType: event.type,
    url: webhook.url,
    payload: event.payload,
    attempt: c.attemptCount + 1,
    autoAttempts: c.autoAttempts,
    trigger: c.manual ? 'manual' : 'auto',
    sealedSecrets,
    headers: webhook.headers,
    traceparent: event.traceparent ?? null,
  };
}
