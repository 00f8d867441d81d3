// The storage contract: the domain's words, no engine's types. SQLite and PostgreSQL both
// implement `Storage`; the API, the worker and the CLI see nothing else. Times are Unix
// milliseconds; the HTTP layer turns them into ISO-8601.
import type { DurationHistogram } from '../core/histogram.js';
import type { StoredHeaders } from '../core/request-headers.js';
import type { Ordering } from './ordering.js';
import type { ThrottleSettings, ThrottleState } from './throttle.js';

export type WebhookStatus = 'enabled' | 'disabled';
/** Why an endpoint is disabled: by its owner, by failing for too long, or by answering 410. */
export type DisabledReason = 'manual' | 'failing' | 'gone';
export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';
export type AttemptTrigger = 'auto' | 'manual' | 'test';

import type { AccessStorage, Actor } from './access-types.js';
export * from './access-types.js';

export interface Webhook {
  id: string;
  accountId: string;
  url: string;
  description: string | null;
  events: string[];
  status: WebhookStatus;
  disabledReason: DisabledReason | null;
  /** null: the service default (RIZLER_ENDPOINT_RATE_LIMIT). */
  rateLimitPerMinute: number | null;
  /** The account's default for its endpoints (null: RIZLER_ENDPOINT_RATE_LIMIT). */
  accountRateLimitPerMinute: number | null;
  /** The current secret as sealed by the SecretBox. */
  sealedSecret: string;
  /** The secret before the last rotation, still signing `webhook-signature` until it expires. */
  sealedPreviousSecret: string | null;
  previousSecretExpiresAt: number | null;
  /** Its adaptive in-flight limit, kept by the completions (throttle.ts). */
  throttle: ThrottleState;
  /** Custom headers sent with every attempt (SPEC §11), as given. */
  headers: Record<string, string>;
  /** Content filter (SPEC §11), checked when saved; null lets every event of the types through. */
  filter: Record<string, unknown> | null;
  /** SPEC §10: per_key delivers each ordering key's deliveries one at a time, in order. */
  ordering: Ordering;
  createdAt: number;
  updatedAt: number;
}

export interface NewWebhook extends Pick<
  Webhook,
  'id' | 'accountId' | 'url' | 'description' | 'events' | 'status' | 'rateLimitPerMinute'
> {
  sealedSecret: string;
  headers?: Record<string, string>;
  filter?: Record<string, unknown> | null;
  /** Absent: 'none'. */
  ordering?: Ordering;
  now: number;
}

export interface WebhookPatch {
  url?: string;
  description?: string | null;
  events?: string[];
  status?: WebhookStatus;
  rateLimitPerMinute?: number | null;
  sealedSecret?: string;
  headers?: Record<string, string>;
  filter?: Record<string, unknown> | null;
  /** Takes effect for every delivery not yet sent (ordering.ts). */
  ordering?: Ordering;
}

export interface SecretRotation {
  sealedSecret: string;
  /** The secret being replaced, sealed again under the current key. */
  sealedPreviousSecret: string;
  /** The old secret keeps signing until this time. */
  previousExpiresAt: number;
}

export interface StoredEvent {
  id: string;
  accountId: string;
  type: string;
  /** The event's own time, as published (ISO-8601). */
  timestamp: string;
  /** The exact body every endpoint receives: compact JSON of id, event, timestamp, data. */
  payload: string;
  /** SPEC §10: published, or the catalogue's default for the type; null when neither. */
  orderingKey: string | null;
  test: boolean;
  /** W3C trace context the event belongs to (SPEC §11); attempts send children of it. */
  traceparent: string | null;
  createdAt: number;
}

export interface NewEvent {
  id: string;
  type: string;
  timestamp: string;
  payload: string;
  idempotencyKey: string | null;
  /** SPEC §10; absent: none. */
  orderingKey?: string | null;
  /** The event's `data`, when the caller has it parsed: content filters read it. */
  data?: unknown;
  traceparent?: string | null;
}

export interface PublishRequest {
  accountId: string;
  events: NewEvent[];
  /**
   * Delivery ids are made by the caller so the store stays free of id formats. Made at `now`,
   * they sort after those made before it (listDeliveryChanges finds new ones by id).
   */
  newDeliveryId: () => string;
  now: number;
  /** An idempotency key older than this window is forgotten and may be used again. */
  idempotencyWindowMs: number;
  /**
   * A delivery worker of this process with room: the publish may lease the deliveries it has
   * just made (SQLite), in its own transaction and by the claim's rules, and hand them over.
   * An engine that does not (PostgreSQL) leaves them due for the claims, as without it.
   */
  handoff?: Handoff;
}

/**
 * A worker's offer to take a publish's fresh deliveries at once (PublishRequest.handoff), so
 * that they never wait for a claim of their own: no wake-up, no second transaction.
 */
export interface Handoff {
  /** The claim the publish makes, for the endpoints it has just given deliveries only. */
  request: ClaimRequest;
  /** What the publish leased, after its commit; sent at once. Called at most once. */
  take(leased: ClaimedDelivery[]): void;
  /** Gives the room back when nothing was taken (a failed publish); harmless after take. */
  release(): void;
}

export interface PublishedEvent {
  event: StoredEvent;
  /** Deliveries created for the event (for a repeated idempotency key: those made the first time). */
  deliveries: number;
  duplicate: boolean;
}

export interface Delivery {
  id: string;
  accountId: string;
  /** null for a test send to a URL that is not saved as a webhook. */
  webhookId: string | null;
  eventId: string;
  eventType: string;
  /** Its event's ordering key (SPEC §10). */
  orderingKey: string | null;
  url: string;
  status: DeliveryStatus;
  attemptCount: number;
  lastStatusCode: number | null;
  lastDurationMs: number | null;
  lastError: string | null;
  /** When the next automatic attempt is due (pending only). */
  nextAttemptAt: number | null;
  /**
   * On a per_key webhook, a delivery waiting in its key's order: the id of the key's head,
   * which must succeed or fail for good first. null otherwise.
   */
  waitingFor: string | null;
  test: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface Attempt {
  deliveryId: string;
  attempt: number;
  trigger: AttemptTrigger;
  url: string;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  responseBody: string | null;
  error: string | null;
  requestHeaders: Record<string, string>;
}

/** An attempt to record: its request headers as the store keeps them (`storedHeaders`). */
export interface NewAttempt extends Omit<Attempt, 'requestHeaders'> {
  requestHeaders: StoredHeaders;
}

export interface DeliveryDetail extends Delivery {
  payload: string;
  attempts: Attempt[];
}

export interface Page {
  limit: number;
  /** The id after which (in newest-first order) the page starts. */
  after: string | null;
}

export interface DeliveryFilter {
  webhookId?: string;
  status?: DeliveryStatus;
  eventType?: string;
  orderingKey?: string;
  since?: number;
  until?: number;
}

/** One poll of `tail` (deliveries/stream.ts): what changed in an account's deliveries. */
export interface DeliveryChangesRequest {
  webhookId?: string;
  status?: DeliveryStatus;
  /** Deliveries created at or after this time are news… */
  createdSince: number;
  /** …and their ids are at or after this one (ids sort by creation; the caller makes them). */
  createdFromId: string;
  /** Deliveries with an attempt recorded after this cursor are news; null: none, only the cursor. */
  attemptsAfter: number | null;
}

export interface DeliveryChanges {
  /** Each changed delivery once, in no particular order. */
  deliveries: Delivery[];
  /**
   * The attempt cursor as of this read: an attempt recorded from now on comes after it. A
   * transaction under way may still commit an attempt before it, so a caller that must see
   * every attempt reads again from a cursor some seconds old.
   */
  attemptCursor: number;
}

export interface EventFilter {
  eventType?: string;
  since?: number;
  until?: number;
}

export interface ClaimRequest {
  /** Unique per claim; the completion must present it, so a stale worker cannot overwrite. */
  leaseToken: string;
  limit: number;
  leaseMs: number;
  now: number;
  /** Leased deliveries per endpoint across all workers. */
  maxInFlightPerEndpoint: number;
  /** Rate for endpoints that set none. */
  defaultRateLimitPerMinute: number;
  /**
   * Event bodies of at most this many bytes come with the claim; a larger one comes as
   * `payload: null` with its size, for the worker to read when it sends it (readPayloads).
   * Absent: every body comes with the claim.
   */
  inlinePayloadBytes?: number;
  /**
   * Bytes of event bodies the claim may lease, each event counted once however many of its
   * deliveries it leases: leasing stops before the sum would pass it, and the rest stays due.
   * Absent: no bound.
   */
  maxPayloadBytes?: number;
  /**
   * How many more attempts the claiming worker may start to an origin (core/origin.ts): the
   * claim leases no more than that to the endpoints of any one origin, in turn across them,
   * and the rest stays due. Absent: no bound.
   */
  originRoom?: (origin: string) => number;
  /**
   * Told, once the claim knows, that it will lease no more than `most` (fewer than `limit`),
   * before it has leased anything: the worker can promise the rest of its room to others
   * meanwhile (worker/pipeline.ts). An engine whose claim is one step need not call it.
   */
  found?: (most: number) => void;
}

/** Everything a worker needs to send one attempt, read in the claim. */
export interface ClaimedDelivery {
  deliveryId: string;
  leaseToken: string;
  accountId: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  /** Sent as X-Rizler-Ordering-Key (SPEC §10). */
  orderingKey: string | null;
  url: string;
  /** The exact body; null when it is larger than the claim's `inlinePayloadBytes`. */
  payload: string | null;
  /** The body's size in UTF-8 bytes. */
  payloadBytes: number;
  /** The number this attempt will carry (X-Rizler-Attempt). */
  attempt: number;
  /** Automatic attempts made before this one. */
  autoAttempts: number;
  trigger: 'auto' | 'manual';
  /** In its key's order on a per_key webhook (SPEC §10): its completion releases the next. */
  ordered: boolean;
  /** When the delivery was made (its rollups' slot). */
  createdAt: number;
  sealedSecrets: string[];
  /** The endpoint's custom headers (SPEC §11). */
  headers: Record<string, string>;
  /** The event's trace context; the attempt sends a child of it. */
  traceparent: string | null;
  /**
   * The engine's own key of the row, where it has one cheaper than the id (SQLite's rowid):
   * the completion finds the row by it, and checks the id and lease as well.
   */
  rowKey?: number;
}

/** What happened to the delivery after an attempt: one type per outcome. */
export type AttemptOutcome =
  | { kind: 'succeeded' }
  | { kind: 'retry'; nextAttemptAt: number }
  | { kind: 'failed' }
  /** A manual attempt that did not succeed: the delivery stays as it was. */
  | { kind: 'unchanged' };

export interface CompletedAttempt {
  claim: ClaimedDelivery;
  attempt: NewAttempt;
  outcome: AttemptOutcome;
  /** The receiver answered 410 Gone: disable the endpoint at once. */
  endpointGone: boolean;
}

export interface CompletionPolicy {
  now: number;
  /** Disable an endpoint whose every delivery has failed for this long. */
  autoDisableAfterMs: number;
  /** The adaptive per-endpoint concurrency rule; DEFAULT_THROTTLE when absent. */
  throttle?: ThrottleSettings;
}

export interface TestSendRecord {
  accountId: string;
  webhookId: string | null;
  event: NewEvent;
  deliveryId: string;
  attempt: NewAttempt;
  succeeded: boolean;
  now: number;
}

export interface StatsRequest {
  accountId: string;
  webhookId: string;
  /** A multiple of 5 minutes, the rollups' slot (the API's windows always are). */
  since: number;
  bucketMs: number;
}

export interface StatsBucket {
  start: number;
  succeeded: number;
  failed: number;
  pending: number;
  /** Response times of the attempts started in the bucket (from the rollups). */
  durations: DurationHistogram;
}

export interface WebhookStats {
  succeeded: number;
  failed: number;
  pending: number;
  lastDeliveryAt: number | null;
  buckets: StatsBucket[];
}

export interface PurgeResult {
  events: number;
  deliveries: number;
  attempts: number;
  /** Stats rollup rows (see rollups.ts). */
  rollups: number;
}

/** The whole contract. Every method may reject with `StorageUnavailableError`. */
export interface Storage extends AccessStorage {
  readonly engine: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Resolves when the database answers; readiness. */
  ping(): Promise<void>;

  // Accounts, keys, portal sessions and the audit log: AccessStorage (access-types.ts).
  // Every change below takes the actor that makes it and records it in the audit log, in
  // the same transaction; without one, the system is the actor.

  /** Creates the webhook unless the account already has `maxEndpoints`. */
  createWebhook(
    webhook: NewWebhook,
    maxEndpoints: number,
    actor?: Actor,
  ): Promise<Webhook | 'limit_reached'>;
  getWebhook(accountId: string, id: string): Promise<Webhook | null>;
  listWebhooks(accountId: string, page: Page): Promise<Webhook[]>;
  countWebhooks(accountId: string): Promise<number>;
  /** Applies the patch; enabling clears the disabled reason and wakes the endpoint's deliveries. */
  updateWebhook(
    accountId: string,
    id: string,
    patch: WebhookPatch,
    now: number,
    actor?: Actor,
  ): Promise<Webhook | null>;
  rotateSecret(
    accountId: string,
    id: string,
    rotation: SecretRotation,
    now: number,
    actor?: Actor,
  ): Promise<Webhook | null>;
  /**
   * Removes the endpoint at once (404 from then on, no new deliveries, its pending ones never
   * sent) and marks its history for purgeDeleted, which removes it in small batches later.
   */
  deleteWebhook(accountId: string, id: string, actor?: Actor): Promise<boolean>;

  /** Stores the events and every delivery they fan out to in one transaction. */
  publish(request: PublishRequest): Promise<PublishedEvent[]>;
  getEvent(accountId: string, id: string): Promise<StoredEvent | null>;
  listEvents(accountId: string, filter: EventFilter, page: Page): Promise<StoredEvent[]>;

  listDeliveries(accountId: string, filter: DeliveryFilter, page: Page): Promise<Delivery[]>;
  /** The account's deliveries created, or attempted, since the last poll of a `tail`. */
  listDeliveryChanges(accountId: string, request: DeliveryChangesRequest): Promise<DeliveryChanges>;
  getDelivery(accountId: string, id: string): Promise<DeliveryDetail | null>;
  /** Queues one manual attempt now; null when there is no such delivery or it has no endpoint. */
  requestRetry(accountId: string, id: string, now: number): Promise<Delivery | null>;
  /** Queues a manual attempt for every failed delivery of the endpoint created since `since`. */
  recoverFailed(accountId: string, webhookId: string, since: number, now: number): Promise<number>;
  recordTestSend(record: TestSendRecord): Promise<void>;
  webhookStats(request: StatsRequest): Promise<WebhookStats>;

  /** Leases due deliveries, honouring per-endpoint in-flight caps and rate limits. */
  claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]>;
  /**
   * Records attempts and their outcomes, in one transaction. With `next`, also claims as
   * `claimDue(next)` would and returns what it leased: the slots the attempts free are
   * refilled without a transaction of their own.
   */
  completeAttempts(
    completed: CompletedAttempt[],
    policy: CompletionPolicy,
    next?: ClaimRequest,
  ): Promise<ClaimedDelivery[]>;
  /**
   * The bodies of these events, by id: what a claim left out (`inlinePayloadBytes`), read when
   * the worker sends them. An id with no event (purged) is absent from the answer.
   */
  readPayloads(eventIds: readonly string[]): Promise<Map<string, string>>;
  /** Earliest time a delivery falls due, or null when none is scheduled: the worker's alarm. */
  nextDueAt(): Promise<number | null>;
  /**
   * Calls back when deliveries may have become due (publish, retry, enable); returns
   * unsubscribe. `due: false`: something changed (a publish whose deliveries a worker of this
   * process took at once), but nothing waits for a claim: streams look, workers need not.
   */
  onWake(listener: (due: boolean) => void): () => void;

  /** Deletes finished deliveries, their attempts and events older than `before`, at most `batch` rows of each. */
  purge(before: number, batch: number): Promise<PurgeResult>;
  /**
   * Removes, in one short transaction, up to `batch` rows of each kind of the history of a
   * deleted webhook or account (see rollups' `deleted_owners` marks); `remaining` says whether
   * another call would find work now. The retention loop calls it until nothing remains.
   */
  purgeDeleted(batch: number): Promise<PurgeResult & { remaining: boolean }>;

  /** The operator's view of the queue and the endpoints, for metrics. */
  queueStats(now: number, options?: QueueStatsOptions): Promise<QueueStats>;

  /**
   * Rewrites every stored endpoint secret (current and previous) through `reseal`, in
   * batches; returns how many webhooks changed. Encryption key rotation uses it.
   */
  resealSecrets(reseal: (sealed: string) => string): Promise<number>;

  /**
   * Creates, updates and enables the operator's system-owned endpoint (SPEC §11,
   * RIZLER_OPERATOR_WEBHOOK_URL), or disables it when `setting` is null.
   */
  configureOperatorWebhook(
    setting: { url: string; sealedSecret: string } | null,
    now: number,
  ): Promise<void>;
}

export interface QueueStatsOptions {
  /**
   * The workers' per-endpoint cap (RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT, default 256): the claim
   * leaves an endpoint's backlog due while it is at its cap, and the figures count those rows
   * as held by this.
   */
  maxInFlightPerEndpoint?: number;
}

/** Pending deliveries by where they stand, read from the queue's own indexes. */
export interface QueueStats {
  /** Due now and waiting for a worker; `oldestDueAt` is when the longest-waiting fell due. */
  due: number;
  oldestDueAt: number | null;
  /** Leased by a worker: an attempt in flight. */
  inFlight: number;
  /** Waiting for a retry or for the endpoint's rate limit. */
  scheduled: number;
  /** Held while their endpoint is at its in-flight cap. */
  held: number;
  /**
   * When the longest-throttled delivery fell due: one held at its endpoint's in-flight cap, or
   * put off by its rate limit (due, but its turn moved later). Due-now cannot show these.
   */
  oldestThrottledAt: number | null;
  /** Endpoints by state: `enabled`, or `disabled:<reason>`. */
  endpoints: Record<string, number>;
  /** Endpoints whose adaptive concurrency is cut, by reason (throttle.ts); absent: none. */
  throttled?: Record<string, number>;
}

/** The database cannot be reached; the API answers 503 and the caller may try again. */
export class StorageUnavailableError extends Error {
  readonly code = 'service_unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageUnavailableError';
  }
}
