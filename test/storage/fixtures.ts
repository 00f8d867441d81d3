// Builders shared by the storage tests: accounts, webhooks, events, claims and completions
// with fixed times and ids that sort in creation order (as the real prefixed ids do).
import type {
  Account,
  AttemptOutcome,
  ClaimRequest,
  Handoff,
  ClaimedDelivery,
  NewWebhook,
  PublishedEvent,
  Storage,
  Webhook,
} from '../../src/storage/index.js';
import { storedHeaders, type StoredHeaders } from '../../src/core/request-headers.js';

/** 2023-11-14T22:13:20Z: every test speaks in offsets from it, never the wall clock. */
export const T = 1_700_000_000_000;
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const LEASE_MS = MINUTE;

let seq = 0;
/** `prefix_` + a zero-padded counter: unique in the process, sorting in creation order. */
export function nextId(prefix: string): string {
  seq++;
  return `${prefix}_${String(seq).padStart(10, '0')}`;
}

export async function makeAccount(storage: Storage, name = 'acme'): Promise<Account> {
  return storage.createAccount({ id: nextId('acc'), name, createdAt: T }, nextId('hash'));
}

export async function makeWebhook(
  storage: Storage,
  accountId: string,
  options: Partial<Omit<NewWebhook, 'id' | 'accountId'>> = {},
): Promise<Webhook> {
  const created = await storage.createWebhook(
    {
      id: nextId('wh'),
      accountId,
      url: options.url ?? 'https://example.com/hooks',
      description: options.description ?? null,
      events: options.events ?? ['*'],
      status: options.status ?? 'enabled',
      rateLimitPerMinute: options.rateLimitPerMinute ?? null,
      sealedSecret: options.sealedSecret ?? 'sealed:secret-1',
      headers: options.headers,
      filter: options.filter,
      ordering: options.ordering ?? 'none',
      now: options.now ?? T,
    },
    1000,
  );
  if (created === 'limit_reached') throw new Error('endpoint limit reached');
  return created;
}

export interface PublishOptions {
  now?: number;
  idempotencyKey?: string | null;
  windowMs?: number;
  id?: string;
  /** A worker's offer to take the fresh deliveries at once (PublishRequest.handoff). */
  handoff?: Handoff;
}

export function eventPayload(id: string, type: string): string {
  return JSON.stringify({
    id,
    event: type,
    timestamp: '2023-11-14T22:13:20Z',
    data: { call_id: 'call_1' },
  });
}

/** An event as a publish takes it, at the fixtures' timestamp, with its payload. */
export function newEvent(type: string, id = nextId('evt'), idempotencyKey: string | null = null) {
  return {
    id,
    type,
    timestamp: '2023-11-14T22:13:20Z',
    payload: eventPayload(id, type),
    idempotencyKey,
  };
}

export async function publishOne(
  storage: Storage,
  accountId: string,
  type: string,
  options: PublishOptions = {},
): Promise<PublishedEvent> {
  const [published] = await storage.publish({
    accountId,
    events: [newEvent(type, options.id ?? nextId('evt'), options.idempotencyKey ?? null)],
    newDeliveryId: () => nextId('dlv'),
    now: options.now ?? T,
    idempotencyWindowMs: options.windowMs ?? DAY,
    ...(options.handoff ? { handoff: options.handoff } : {}),
  });
  return published!;
}

/**
 * Publishes `n` call.ended events in one publish (one transaction), all accepted at `now`,
 * each with `orderingKey` when given.
 */
export async function publishMany(
  storage: Storage,
  accountId: string,
  n: number,
  options: Omit<PublishOptions, 'id' | 'idempotencyKey'> & { orderingKey?: string } = {},
): Promise<PublishedEvent[]> {
  const { orderingKey } = options;
  return storage.publish({
    accountId,
    events: Array.from({ length: n }, () =>
      orderingKey === undefined
        ? newEvent('call.ended')
        : { ...newEvent('call.ended'), orderingKey },
    ),
    newDeliveryId: () => nextId('dlv'),
    now: options.now ?? T,
    idempotencyWindowMs: options.windowMs ?? DAY,
    ...(options.handoff ? { handoff: options.handoff } : {}),
  });
}

/** Publishes one event per key, in the order given, each in its own transaction. */
export async function publishKeyed(
  storage: Storage,
  accountId: string,
  keys: readonly string[],
  options: { now?: number; type?: string } = {},
): Promise<string[]> {
  const type = options.type ?? 'call.ringing';
  const ids: string[] = [];
  for (const key of keys) {
    const id = nextId('evt');
    await storage.publish({
      accountId,
      events: [
        {
          id,
          type,
          timestamp: '2023-11-14T22:13:20Z',
          payload: eventPayload(id, type),
          idempotencyKey: null,
          orderingKey: key,
        },
      ],
      newDeliveryId: () => nextId('dlv'),
      now: options.now ?? T,
      idempotencyWindowMs: DAY,
    });
    ids.push(id);
  }
  return ids;
}

let leases = 0;
/**
 * A claim's request as a worker makes it, with the tests' defaults (a new lease token, 100
 * deliveries, 100 in flight per endpoint, a rate limit that never binds).
 */
export function claimRequest(
  now: number,
  options: Partial<Omit<ClaimRequest, 'now'>> = {},
): ClaimRequest {
  return {
    leaseToken: options.leaseToken ?? `lease-${++leases}`,
    limit: options.limit ?? 100,
    leaseMs: options.leaseMs ?? LEASE_MS,
    now,
    maxInFlightPerEndpoint: options.maxInFlightPerEndpoint ?? 100,
    defaultRateLimitPerMinute: options.defaultRateLimitPerMinute ?? 100_000,
    ...(options.inlinePayloadBytes === undefined
      ? {}
      : { inlinePayloadBytes: options.inlinePayloadBytes }),
    ...(options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes }),
    ...(options.originRoom === undefined ? {} : { originRoom: options.originRoom }),
  };
}

export function claim(
  storage: Storage,
  now: number,
  options: Partial<Omit<ClaimRequest, 'now'>> = {},
): Promise<ClaimedDelivery[]> {
  return storage.claimDue(claimRequest(now, options));
}

export interface CompleteOptions {
  now?: number;
  statusCode?: number | null;
  gone?: boolean;
  autoDisableAfterMs?: number;
  /** Also claim, in the same call, as `claimDue(next)` would. */
  next?: ClaimRequest;
  startedAt?: number;
  durationMs?: number;
  error?: string | null;
  /** The attempt's request headers as the store keeps them (`storedHeaders`). */
  requestHeaders?: StoredHeaders;
}

export async function complete(
  storage: Storage,
  claimed: ClaimedDelivery,
  outcome: AttemptOutcome,
  options: CompleteOptions = {},
): Promise<ClaimedDelivery[]> {
  const now = options.now ?? T;
  const succeeded = outcome.kind === 'succeeded';
  const statusCode = options.statusCode !== undefined ? options.statusCode : succeeded ? 200 : 500;
  return storage.completeAttempts(
    [
      {
        claim: claimed,
        outcome,
        endpointGone: options.gone ?? false,
        attempt: {
          deliveryId: claimed.deliveryId,
          attempt: claimed.attempt,
          trigger: claimed.trigger,
          url: claimed.url,
          startedAt: options.startedAt ?? now,
          durationMs: options.durationMs ?? 12,
          statusCode,
          responseBody: succeeded ? 'ok' : 'boom',
          error: options.error !== undefined ? options.error : null,
          requestHeaders:
            options.requestHeaders ??
            storedHeaders({
              'content-type': 'application/json',
              'x-rizler-attempt': String(claimed.attempt),
              'x-rizler-delivery': claimed.deliveryId,
            }),
        },
      },
    ],
    { now, autoDisableAfterMs: options.autoDisableAfterMs ?? DAY },
    options.next,
  );
}
