// The scale-out engine: PostgreSQL through a `pg` Pool. Any number of API and worker processes,
// on any number of machines, share one database; row locks (FOR UPDATE SKIP LOCKED on the due
// deliveries, FOR NO KEY UPDATE on the endpoints) make their claims disjoint and keep the
// per-endpoint caps and rate limits global. Behaviour matches the SQLite engine method for
// method; the shared suite in test/storage/contract.test.ts holds both to it.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { StorageOptions } from '../index.js';
import { migrations, MIGRATION_LOCK } from './migrations.js';
import { assertSchemaNotNewer } from '../schema-version.js';
import {
  StorageUnavailableError,
  SYSTEM_ACTOR,
  type Actor,
  type Attempt,
  type ClaimRequest,
  type ClaimedDelivery,
  type CompletedAttempt,
  type CompletionPolicy,
  type Delivery,
  type DeliveryDetail,
  type DeliveryFilter,
  type DeliveryStatus,
  type EventFilter,
  type NewEvent,
  type NewWebhook,
  type Page,
  type PublishRequest,
  type PublishedEvent,
  type PurgeResult,
  type QueueStats,
  type SecretRotation,
  type StatsRequest,
  type Storage,
  type StoredEvent,
  type TestSendRecord,
  type Webhook,
  type WebhookStatus,
  type WebhookPatch,
  type WebhookStats,
} from '../types.js';
import { subscriptionMatches } from '../../core/event-types.js';
import { FilterCache, filterSubject } from '../../core/filter.js';
import {
  deliveryExhausted,
  isOperationalEventType,
  webhookDisabled,
  webhookEnabled,
} from '../../events/operational.js';
import { PostgresOperational } from './operational.js';
import {
  num,
  numOrNull,
  strOrNull,
  toAttempt,
  toDelivery,
  toEvent,
  toWebhook,
  type Row,
} from '../rows.js';
import { IdempotencyConflictError, sameEvent } from '../idempotency.js';
import { planClaim, toClaimed, type ClaimCandidate, type EndpointBucket } from '../claim-plan.js';
import { WAITING_FOR, type FinishedDelivery, type OrderState } from '../ordering.js';
import { placeBatch, releaseNext, switchOrdering } from './ordering.js';
import { notDeletedWebhook, RollupBatch } from '../rollups.js';
import {
  applyOutcomes,
  mayDisableAsFailing,
  succeededSinceSql,
  type HealthOutcome,
} from '../health.js';
import {
  markDeleted,
  purgeDeletedBatch,
  purgeExpiredRollups,
  readStats,
  writeRollups,
} from './rollups.js';
import {
  DEFAULT_THROTTLE,
  effectiveCap,
  throttleSignal,
  type ThrottleSignal,
} from '../throttle.js';
import { perAccount, type Rotation } from '../fair-share.js';
import { accountsInTurn, dueOf, holdBacklog, recordThrottle } from './claim.js';
import { REDACTED, webhookChanges } from '../../audit/changes.js';
import { PostgresAccess } from './accounts.js';
import { writeAudit } from './audit.js';

type Query = (text: string, values?: unknown[]) => Promise<Row[]>;

/** The NOTIFY channel every process listens on for "deliveries may be due". */
const WAKE_CHANNEL = 'rizler_wake';

// ---- errors ----

/** Socket-level failures: the database host, not the request, is at fault. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
]);

/**
 * SQLSTATEs that mean "not now" rather than "bad request": admin/crash shutdown (57P01,
 * 57P02), starting up (57P03), statement timeout or cancel (57014), read-only after a failover
 * to a standby (25006), out of connections, memory or disk (53xxx), I/O trouble (58xxx) and
 * every connection exception (08xxx).
 */
function unavailableSqlState(code: string): boolean {
  return (
    ['57P01', '57P02', '57P03', '57014', '25006'].includes(code) ||
    /^(08|53|58)[0-9A-Z]{3}$/.test(code)
  );
}

const UNAVAILABLE_MESSAGE =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|terminating connection|Connection refused|database system is (starting up|shutting down|in recovery mode)|Query read timeout/i;

/** Whether `err` says the database cannot be reached (as opposed to a bad statement). */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof StorageUnavailableError) return true;
  if (typeof err !== 'object' || err === null) return false;
  const { code, message, errors } = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || unavailableSqlState(code)))
    return true;
  if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return true;
  // Node's happy-eyeballs connect fails with an AggregateError of one error per address.
  if (Array.isArray(errors) && errors.length > 0) return errors.every(isUnavailable);
  return false;
}

function toStorageError(err: unknown): unknown {
  if (err instanceof StorageUnavailableError || !isUnavailable(err)) return err;
  const detail = (err as { code?: unknown }).code ?? (err as Error).message;
  return new StorageUnavailableError(`the database cannot be reached (${String(detail)})`, {
    cause: err,
  });
}

/** deadlock_detected, serialization_failure: the whole transaction may simply run again. */
function retryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

// ---- rows ----

/** Times are bigint (INT8, oid 20) milliseconds: read as numbers (exact to 2^53), on our pool only. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

const INSERT_ATTEMPTS = `
  INSERT INTO attempts (delivery_id, webhook_id, attempt, trigger, url, started_at, duration_ms,
    status_code, response_body, error, request_headers)
  SELECT u.delivery_id, u.webhook_id, u.attempt, u.trigger, u.url, u.started_at, u.duration_ms,
    u.status_code, u.response_body, u.error, u.request_headers::json
  FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bigint[],
      $7::bigint[], $8::int[], $9::text[], $10::text[], $11::text[]) WITH ORDINALITY
    AS u(delivery_id, webhook_id, attempt, trigger, url, started_at, duration_ms, status_code,
      response_body, error, request_headers, ord)
  -- an attempt of a delivery deleted meanwhile (its endpoint was deleted) is not kept: nothing
  -- could show it and purge could never reach it
  WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.id = u.delivery_id)
  ORDER BY u.ord
  RETURNING delivery_id`;

function attemptColumns(list: { attempt: Attempt; webhookId: string | null }[]): unknown[] {
  return [
    list.map((a) => a.attempt.deliveryId),
    list.map((a) => a.webhookId),
    list.map((a) => a.attempt.attempt),
    list.map((a) => a.attempt.trigger),
    list.map((a) => a.attempt.url),
    list.map((a) => a.attempt.startedAt),
    list.map((a) => a.attempt.durationMs),
    list.map((a) => a.attempt.statusCode),
    list.map((a) => a.attempt.responseBody),
    list.map((a) => a.attempt.error),
    list.map((a) => JSON.stringify(a.attempt.requestHeaders)),
  ];
}

// ---- LISTEN ----

/**
 * The LISTEN side of the wake-up: one dedicated connection (never a pooled one, which would be
 * handed to other queries) that reconnects by itself with backoff. Held only while someone
 * listens. After a reconnect it wakes its listener once: notifications sent while it was away
 * are lost, and the deliveries they announced may be due now.
 */
class WakeChannel {
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private stopping: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private failures = 0;

  constructor(
    private readonly config: pg.ClientConfig,
    /** Our own NOTIFY payload: those wakes were already delivered in-process. */
    private readonly selfId: string,
    private readonly wake: () => void,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  /** Resolves when every connection this channel opened is closed. */
  stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // Detach first: a start() right after us gets a client of its own, and a connect still
    // under way sees it is no longer wanted.
    const client = this.client;
    this.client = null;
    const connecting = this.connecting;
    const previous = this.stopping;
    this.stopping = (async () => {
      await previous;
      await connecting;
      if (client) await client.end().catch(() => undefined);
    })();
    return this.stopping;
  }

  private connect(): void {
    this.timer = null;
    if (!this.running) return;
    const client = new pg.Client(this.config);
    this.client = client;
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (message) => {
      if (message.channel === WAKE_CHANNEL && message.payload !== this.selfId) this.wake();
    });
    const connecting = (async () => {
      try {
        await client.connect();
        if (this.client !== client) return;
        await client.query(`LISTEN ${WAKE_CHANNEL}`);
        if (this.failures > 0) this.wake();
        this.failures = 0;
      } catch {
        this.lost(client);
      }
    })();
    const tracked: Promise<void> = connecting.finally(() => {
      if (this.connecting === tracked) this.connecting = null;
    });
    this.connecting = tracked;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    void client.end().catch(() => undefined);
    if (!this.running) return;
    // 250 ms, 500 ms, … up to 30 s, with jitter so a restarted database is not stormed.
    const delay = Math.min(30_000, 250 * 2 ** this.failures++) * (0.5 + Math.random() / 2);
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref();
  }
}

// ---- the engine ----

export class PostgresStorage implements Storage {
  readonly engine = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly listeners = new Set<() => void>();
  private readonly channel: WakeChannel;
  /** Tags our NOTIFYs so our own LISTEN connection can ignore them. */
  private readonly instanceId = randomBytes(8).toString('hex');
  private closed: Promise<void> | null = null;
  /** Where this process's claims' turns across accounts stand (fair-share.ts). */
  private readonly rotation: Rotation = { cursor: '' };
  private readonly filters = new FilterCache();
  private readonly operational = new PostgresOperational(this.filters, (q) => this.notify(q));

  constructor(url: string, options: StorageOptions = {}) {
    const statementTimeoutMs = options.statementTimeoutMs ?? 5000;
    const config: pg.ClientConfig = {
      connectionString: url,
      // Fail fast instead of hanging when the database is down: the API answers 503 at once.
      connectionTimeoutMillis: 3000,
      statement_timeout: statementTimeoutMs,
      // A transaction left open by a frozen process must not hold row locks forever.
      idle_in_transaction_session_timeout: Math.max(60_000, statementTimeoutMs * 4),
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: 'rizler-webhooks',
      types,
    };
    this.pool = new pg.Pool({ ...config, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 });
    // An idle client whose connection dies emits 'error' on the pool; unhandled, that would
    // crash the process. The pool drops the client and the next query connects afresh.
    this.pool.on('error', () => undefined);
    // Same for a checked-out client between two queries of a transaction: the next query
    // rejects, and the client is then released as broken.
    this.pool.on('connect', (client) => client.on('error', () => undefined));
    this.channel = new WakeChannel(
      { ...config, statement_timeout: undefined, idle_in_transaction_session_timeout: undefined },
      this.instanceId,
      () => this.emitWake(),
    );
  }

  // ---- plumbing ----

  private async query(text: string, values?: unknown[]): Promise<Row[]> {
    try {
      return (await this.pool.query<Row>(text, values)).rows;
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /** Runs `work` in one transaction; a deadlock or serialization failure runs it again. */
  private async tx<T>(work: (q: Query) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(work);
      } catch (err) {
        if (attempt >= 5 || !retryable(err)) throw toStorageError(err);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
      }
    }
  }

  private async once<T>(work: (q: Query) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      const q: Query = async (text, values) => (await client.query<Row>(text, values)).rows;
      await client.query('BEGIN');
      try {
        const result = await work(q);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
        throw err;
      }
    } catch (err) {
      if (isUnavailable(err)) broken = true;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** NOTIFY inside the transaction: it reaches other processes only if the work commits. */
  private async notify(q: Query): Promise<void> {
    await q('SELECT pg_notify($1, $2)', [WAKE_CHANNEL, this.instanceId]);
  }

  private emitWake(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch {
        // a listener's failure is its own; the others still get woken
      }
    }
  }

  // ---- lifecycle ----

  async migrate(): Promise<void> {
    const client = await this.pool.connect().catch((err: unknown) => {
      throw toStorageError(err);
    });
    let broken = false;
    try {
      const inLock = async <T>(work: () => Promise<T>): Promise<T> => {
        await client.query('BEGIN');
        try {
          // Waiting for another process's migration is not a slow statement; nor is a long
          // migration.
          await client.query('SET LOCAL statement_timeout = 0');
          await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
          const result = await work();
          await client.query('COMMIT');
          return result;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => (broken = true));
          throw err;
        }
      };
      await inLock(() =>
        client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
          version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`),
      );
      const applied = await client.query<{ version: number }>(
        'SELECT version FROM schema_migrations',
      );
      assertSchemaNotNewer(
        applied.rows.map((r) => r.version),
        migrations,
      );
      for (const migration of migrations) {
        await inLock(async () => {
          const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [
            migration.version,
          ]);
          if (done.rowCount) return;
          await client.query(migration.sql);
          await client.query(
            'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
            [migration.version, migration.name, Date.now()],
          );
        });
      }
    } catch (err) {
      if (isUnavailable(err)) broken = true;
      throw toStorageError(err);
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    this.closed ??= (async () => {
      this.listeners.clear();
      await this.channel.stop();
      await this.pool.end();
    })();
    return this.closed;
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  // ---- accounts, keys, portal sessions, audit log (accounts.ts) ----

  private readonly access = new PostgresAccess({
    query: (text, values) => this.query(text, values),
    tx: (work) => this.tx(work),
    notify: (q) => this.notify(q),
    emitWake: () => this.emitWake(),
  });

  createAccount: Storage['createAccount'] = (...a) => this.access.createAccount(...a);
  findAccountByKeyHash: Storage['findAccountByKeyHash'] = (...a) =>
    this.access.findAccountByKeyHash(...a);
  findApiKey: Storage['findApiKey'] = (...a) => this.access.findApiKey(...a);
  getAccount: Storage['getAccount'] = (...a) => this.access.getAccount(...a);
  countAccounts: Storage['countAccounts'] = () => this.access.countAccounts();
  listAccounts: Storage['listAccounts'] = (...a) => this.access.listAccounts(...a);
  updateAccount: Storage['updateAccount'] = (...a) => this.access.updateAccount(...a);
  deleteAccount: Storage['deleteAccount'] = (...a) => this.access.deleteAccount(...a);
  purgeDeletedAccounts: Storage['purgeDeletedAccounts'] = (...a) =>
    this.access.purgeDeletedAccounts(...a);
  parkInactiveAccounts: Storage['parkInactiveAccounts'] = (...a) =>
    this.access.parkInactiveAccounts(...a);
  createApiKey: Storage['createApiKey'] = (...a) => this.access.createApiKey(...a);
  listApiKeys: Storage['listApiKeys'] = (...a) => this.access.listApiKeys(...a);
  revokeApiKey: Storage['revokeApiKey'] = (...a) => this.access.revokeApiKey(...a);
  touchApiKeys: Storage['touchApiKeys'] = (...a) => this.access.touchApiKeys(...a);
  createPortalSession: Storage['createPortalSession'] = (...a) =>
    this.access.createPortalSession(...a);
  findPortalSession: Storage['findPortalSession'] = (...a) => this.access.findPortalSession(...a);
  listAuditLog: Storage['listAuditLog'] = (...a) => this.access.listAuditLog(...a);
  purgeAuditLog: Storage['purgeAuditLog'] = (...a) => this.access.purgeAuditLog(...a);

  /** Whether the account may have deliveries attempted (not suspended, not deleted). */
  private async accountActive(q: Query, accountId: string): Promise<boolean> {
    const rows = await q("SELECT 1 FROM accounts WHERE id = $1 AND status = 'active'", [accountId]);
    return rows.length > 0;
  }

  // ---- webhooks ----

  async createWebhook(
    w: NewWebhook,
    maxEndpoints: number,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook | 'limit_reached'> {
    return this.tx(async (q) => {
      // Two concurrent creates must not both pass the count: serialize them per account.
      await q("SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || $1, 0))", [
        w.accountId,
      ]);
      const [count] = await q('SELECT count(*) AS n FROM webhooks WHERE account_id = $1', [
        w.accountId,
      ]);
      if (num(count!.n) >= maxEndpoints) return 'limit_reached' as const;
      const [row] = await q(
        `INSERT INTO webhooks (id, account_id, url, description, events, status, disabled_reason,
           rate_limit_per_minute, secret, created_at, updated_at, headers, filter,
           account_rate_limit_per_minute, ordering)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $10, $11::json, $12::json,
           (SELECT endpoint_rate_limit_per_minute FROM accounts WHERE id = $2), $13)
         RETURNING *`,
        [
          w.id,
          w.accountId,
          w.url,
          w.description,
          JSON.stringify(w.events),
          w.status,
          w.status === 'disabled' ? 'manual' : null,
          w.rateLimitPerMinute,
          w.sealedSecret,
          w.now,
          JSON.stringify(w.headers ?? {}),
          w.filter ? JSON.stringify(w.filter) : null,
          w.ordering ?? 'none',
        ],
      );
      const created = toWebhook(row!);
      await writeAudit(q, {
        accountId: w.accountId,
        actor,
        action: 'webhook.created',
        targetId: w.id,
        changes: webhookChanges(null, created),
        at: w.now,
      });
      return created;
    });
  }

  async getWebhook(accountId: string, id: string): Promise<Webhook | null> {
    const [row] = await this.query('SELECT * FROM webhooks WHERE account_id = $1 AND id = $2', [
      accountId,
      id,
    ]);
    return row ? toWebhook(row) : null;
  }

  async listWebhooks(accountId: string, page: Page): Promise<Webhook[]> {
    const rows = await this.query(
      `SELECT * FROM webhooks WHERE account_id = $1 AND ($2::text IS NULL OR id < $2)
       ORDER BY id DESC LIMIT $3`,
      [accountId, page.after, page.limit],
    );
    return rows.map(toWebhook);
  }

  async countWebhooks(accountId: string): Promise<number> {
    const [row] = await this.query('SELECT count(*) AS n FROM webhooks WHERE account_id = $1', [
      accountId,
    ]);
    return num(row!.n);
  }

  async updateWebhook(
    accountId: string,
    id: string,
    patch: WebhookPatch,
    now: number,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook | null> {
    const result = await this.tx(async (q) => {
      // A change of `ordering` locks out publishes to the endpoint (FOR UPDATE conflicts with
      // their KEY SHARE) until it has placed every pending delivery (ordering.ts).
      const [row] = await q(
        `SELECT * FROM webhooks WHERE account_id = $1 AND id = $2
         ${patch.ordering !== undefined ? 'FOR UPDATE' : 'FOR NO KEY UPDATE'}`,
        [accountId, id],
      );
      if (!row) return null;
      const before = toWebhook(row);
      const status = patch.status ?? before.status;
      const reason =
        status === 'enabled'
          ? null
          : patch.status === 'disabled'
            ? 'manual'
            : before.disabledReason;
      const [updated] = await q(
        `UPDATE webhooks SET url = $1, description = $2, events = $3::jsonb, status = $4,
           disabled_reason = $5, rate_limit_per_minute = $6, secret = $7, updated_at = $8,
           headers = $10::json, filter = $11::json,
           failing_since = CASE WHEN $4 = 'enabled' AND status = 'disabled' THEN NULL
                                ELSE failing_since END,
           ordering = $12
         WHERE id = $9
         RETURNING *`,
        [
          patch.url ?? before.url,
          patch.description !== undefined ? patch.description : before.description,
          JSON.stringify(patch.events ?? before.events),
          status,
          reason,
          patch.rateLimitPerMinute !== undefined
            ? patch.rateLimitPerMinute
            : before.rateLimitPerMinute,
          patch.sealedSecret ?? before.sealedSecret,
          now,
          id,
          JSON.stringify(patch.headers ?? before.headers),
          (patch.filter !== undefined ? patch.filter : before.filter) === null
            ? null
            : JSON.stringify(patch.filter !== undefined ? patch.filter : before.filter),
          patch.ordering ?? before.ordering,
        ],
      );
      if (patch.url !== undefined) {
        await q("UPDATE deliveries SET url = $1 WHERE webhook_id = $2 AND status = 'pending'", [
          patch.url,
          id,
        ]);
      }
      const reordered = patch.ordering !== undefined && patch.ordering !== before.ordering;
      const woke = (before.status !== status && status === 'enabled') || reordered;
      if (before.status !== status) {
        if (status === 'disabled') await this.parkEndpoints(q, [id]);
        else if (await this.accountActive(q, accountId)) await this.unparkEndpoint(q, id, now);
        const after = { id, url: patch.url ?? before.url };
        await this.operational.publish(
          q,
          accountId,
          status === 'disabled' ? webhookDisabled(after, 'manual') : webhookEnabled(after),
          now,
        );
      }
      if (reordered) await switchOrdering(q, id, patch.ordering!, now);
      if (woke) await this.notify(q);
      const after = toWebhook(updated!);
      await this.auditWebhookChange(q, before, after, actor, now);
      return { webhook: after, woke };
    });
    if (this.operational.takeWake()) this.emitWake();
    if (!result) return null;
    if (result.woke) this.emitWake();
    return result.webhook;
  }

  /** `webhook.updated`, or `webhook.enabled` / `webhook.disabled` when only the status moved. */
  private async auditWebhookChange(
    q: Query,
    before: Webhook,
    after: Webhook,
    actor: Actor,
    now: number,
  ): Promise<void> {
    const changes = webhookChanges(before, after);
    const fields = Object.keys(changes);
    if (fields.length === 0) return;
    const statusOnly = fields.every((f) => f === 'status' || f === 'disabled_reason');
    await writeAudit(q, {
      accountId: after.accountId,
      actor,
      action: statusOnly ? `webhook.${after.status}` : 'webhook.updated',
      targetId: after.id,
      changes,
      at: now,
    });
  }

  /**
   * A disabled endpoint's pending deliveries wait, off the due index, until it is enabled.
   * Rows a claim has locked right now are skipped rather than waited for: that claim is about
   * to lock this endpoint (which we hold), sees it disabled and parks them itself, and waiting
   * here would deadlock with it.
   */
  private async parkEndpoints(q: Query, webhookIds: string[]): Promise<void> {
    await q(
      `UPDATE deliveries SET due_at = NULL WHERE id IN (
         SELECT id FROM deliveries
         WHERE webhook_id = ANY($1::text[]) AND due_at IS NOT NULL AND lease_token IS NULL
         FOR UPDATE SKIP LOCKED)`,
      [webhookIds],
    );
  }

  private async unparkEndpoint(q: Query, webhookId: string, now: number): Promise<void> {
    await q(
      `UPDATE deliveries SET held = false, due_at = CASE
           WHEN manual_requested THEN $1
           WHEN status = 'pending' AND coalesce(order_state, '') <> 'waiting'
             THEN greatest(coalesce(next_attempt_at, $1), $1)
           ELSE NULL END
       WHERE webhook_id = $2 AND due_at IS NULL AND (status = 'pending' OR manual_requested)`,
      [now, webhookId],
    );
  }

  async rotateSecret(
    accountId: string,
    id: string,
    rotation: SecretRotation,
    now: number,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook | null> {
    return this.tx(async (q) => {
      const [row] = await q(
        `UPDATE webhooks SET previous_secret = $6, previous_secret_expires_at = $1, secret = $2,
           updated_at = $3
         WHERE account_id = $4 AND id = $5
         RETURNING *`,
        [
          rotation.previousExpiresAt,
          rotation.sealedSecret,
          now,
          accountId,
          id,
          rotation.sealedPreviousSecret,
        ],
      );
      if (!row) return null;
      await writeAudit(q, {
        accountId,
        actor,
        action: 'secret.rotated',
        targetId: id,
        changes: {
          secret: { old: REDACTED, new: REDACTED },
          previous_secret_expires_at: {
            old: null,
            new: new Date(rotation.previousExpiresAt).toISOString(),
          },
        },
        at: now,
      });
      return toWebhook(row);
    });
  }

  async deleteWebhook(
    accountId: string,
    id: string,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<boolean> {
    return this.tx(async (q) => {
      // The endpoint only: its history goes in the background (purgeDeleted), in batches, so
      // no transaction holds a long history's locks. A publish holds KEY SHARE on the endpoint,
      // which this DELETE waits for; deliveries it committed are purged with the rest.
      const deleted = await q(
        'DELETE FROM webhooks WHERE account_id = $1 AND id = $2 RETURNING *',
        [accountId, id],
      );
      if (deleted.length === 0) return false;
      await markDeleted(q, 'webhook', id, Date.now());
      await writeAudit(q, {
        accountId,
        actor,
        action: 'webhook.deleted',
        targetId: id,
        changes: webhookChanges(toWebhook(deleted[0]!), null),
        at: Date.now(),
      });
      return true;
    });
  }

  // ---- events ----

  async publish(request: PublishRequest): Promise<PublishedEvent[]> {
    const { accountId, now } = request;
    const published = await this.tx(async (q) => {
      // KEY SHARE: an endpoint cannot be deleted under a publish (which would leave deliveries
      // without an endpoint); claims and updates take NO KEY UPDATE, which does not conflict.
      const endpoints = (
        await q(
          `SELECT id, url, events, filter::text AS filter, updated_at, ordering FROM webhooks
           WHERE account_id = $1 AND status = 'enabled'
             AND EXISTS (SELECT 1 FROM accounts WHERE id = $1 AND status = 'active')
           ORDER BY id FOR KEY SHARE`,
          [accountId],
        )
      ).map((r) => ({
        id: String(r.id),
        url: String(r.url),
        events: r.events as string[],
        filter: this.filters.predicateFor(String(r.id), num(r.updated_at), strOrNull(r.filter)),
        ordered: r.ordering === 'per_key',
      }));

      // Idempotency keys: lock each (in a fixed order, so two batches cannot deadlock), then
      // read what they already name. A concurrent publish with the same key waits here and
      // then sees our event.
      const keys = [
        ...new Set(request.events.map((e) => e.idempotencyKey).filter((k) => k !== null)),
      ].sort();
      // What each key names so far: a stored event (its deliveries counted below if it is
      // repeated) or one made earlier in this batch.
      interface Named {
        event: StoredEvent;
        deliveries: number | null;
        /** Index in `newEvents` when made by this batch. */
        index: number | null;
      }
      const named = new Map<string, Named>();
      if (keys.length > 0) {
        await q(
          `SELECT count(pg_advisory_xact_lock(hashtextextended('events:' || $1 || ':' || k, 0)))
           FROM (SELECT k FROM unnest($2::text[]) AS k ORDER BY k) AS sorted`,
          [accountId, keys],
        );
        for (const row of await q(
          'SELECT * FROM events WHERE account_id = $1 AND idempotency_key = ANY($2::text[])',
          [accountId, keys],
        )) {
          named.set(String(row.idempotency_key), {
            event: toEvent(row),
            deliveries: null,
            index: null,
          });
        }
      }

      const results: ({ named: Named; duplicate: true } | { published: PublishedEvent })[] = [];
      const forgotten: string[] = [];
      const newEvents: NewEvent[] = [];
      const deliveries: {
        id: string;
        webhookId: string;
        event: NewEvent;
        url: string;
        ordered: boolean;
      }[] = [];
      for (const e of request.events) {
        const existing = e.idempotencyKey === null ? undefined : named.get(e.idempotencyKey);
        if (existing) {
          if (existing.event.createdAt > now - request.idempotencyWindowMs) {
            if (!sameEvent(existing.event, e))
              throw new IdempotencyConflictError(e.idempotencyKey!);
            results.push({ named: existing, duplicate: true });
            continue;
          }
          // Older than the window: the key is forgotten and names the new event from now on.
          if (existing.index !== null) {
            newEvents[existing.index] = { ...newEvents[existing.index]!, idempotencyKey: null };
          } else {
            forgotten.push(existing.event.id);
          }
        }
        let count = 0;
        const subject = filterSubject(e);
        for (const endpoint of endpoints) {
          if (!subscriptionMatches(endpoint.events, e.type)) continue;
          if (endpoint.filter && !endpoint.filter(subject())) continue;
          deliveries.push({
            id: request.newDeliveryId(),
            webhookId: endpoint.id,
            event: e,
            url: endpoint.url,
            ordered: endpoint.ordered && (e.orderingKey ?? null) !== null,
          });
          count++;
        }
        const event: StoredEvent = {
          id: e.id,
          accountId,
          type: e.type,
          timestamp: e.timestamp,
          payload: e.payload,
          orderingKey: e.orderingKey ?? null,
          test: false,
          traceparent: e.traceparent ?? null,
          createdAt: now,
        };
        if (e.idempotencyKey !== null) {
          named.set(e.idempotencyKey, { event, deliveries: count, index: newEvents.length });
        }
        newEvents.push(e);
        results.push({ published: { event, deliveries: count, duplicate: false } });
      }

      if (forgotten.length > 0) {
        await q('UPDATE events SET idempotency_key = NULL WHERE id = ANY($1::text[])', [forgotten]);
      }
      if (newEvents.length > 0) {
        await q(
          `INSERT INTO events (id, account_id, type, timestamp, payload, idempotency_key, created_at,
             ordering_key, traceparent)
           SELECT u.id, $1, u.type, u.timestamp, u.payload, u.idempotency_key, $2, u.ordering_key,
             u.traceparent
           FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
             $9::text[]) AS u(id, type, timestamp, payload, idempotency_key, ordering_key, traceparent)`,
          [
            accountId,
            now,
            newEvents.map((e) => e.id),
            newEvents.map((e) => e.type),
            newEvents.map((e) => e.timestamp),
            newEvents.map((e) => e.payload),
            newEvents.map((e) => e.idempotencyKey),
            newEvents.map((e) => e.orderingKey ?? null),
            newEvents.map((e) => e.traceparent ?? null),
          ],
        );
      }
      if (deliveries.length > 0) {
        // In a key's order (ordering.ts), only the head is due; the others wait off the index.
        const ordered = deliveries.filter((d) => d.ordered);
        const placed = new Map<string, { state: string; seq: number }>();
        (
          await placeBatch(
            q,
            ordered.map((d) => ({ webhookId: d.webhookId, orderingKey: d.event.orderingKey! })),
          )
        ).forEach((p, i) => placed.set(ordered[i]!.id, p));
        await q(
          `INSERT INTO deliveries (id, account_id, webhook_id, event_id, event_type, url, status,
             next_attempt_at, due_at, created_at, updated_at, ordering_key, order_state, order_seq)
           SELECT u.id, $1, u.webhook_id, u.event_id, u.event_type, u.url, 'pending',
             CASE WHEN u.order_state = 'waiting' THEN NULL ELSE $2::bigint END,
             CASE WHEN u.order_state = 'waiting' THEN NULL ELSE $2::bigint END, $2, $2,
             u.ordering_key, u.order_state, u.order_seq
           FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
               $9::text[], $10::bigint[])
             AS u(id, webhook_id, event_id, event_type, url, ordering_key, order_state, order_seq)`,
          [
            accountId,
            now,
            deliveries.map((d) => d.id),
            deliveries.map((d) => d.webhookId),
            deliveries.map((d) => d.event.id),
            deliveries.map((d) => d.event.type),
            deliveries.map((d) => d.url),
            deliveries.map((d) => d.event.orderingKey ?? null),
            deliveries.map((d) => placed.get(d.id)?.state ?? null),
            deliveries.map((d) => placed.get(d.id)?.seq ?? null),
          ],
        );
        await this.notify(q);
      }
      // A repeat of an event stored before this call reports the deliveries made back then.
      const uncounted = [
        ...new Set(
          results.flatMap((r) => ('named' in r && r.named.deliveries === null ? [r.named] : [])),
        ),
      ];
      if (uncounted.length > 0) {
        const counts = new Map(
          (
            await q(
              `SELECT event_id, count(*) AS n FROM deliveries WHERE event_id = ANY($1::text[])
               GROUP BY event_id`,
              [uncounted.map((n) => n.event.id)],
            )
          ).map((r) => [String(r.event_id), num(r.n)]),
        );
        for (const n of uncounted) n.deliveries = counts.get(n.event.id) ?? 0;
      }
      return results.map((r): PublishedEvent =>
        'published' in r
          ? r.published
          : { event: r.named.event, deliveries: r.named.deliveries ?? 0, duplicate: true },
      );
    });
    if (published.some((p) => !p.duplicate && p.deliveries > 0)) this.emitWake();
    return published;
  }

  async getEvent(accountId: string, id: string): Promise<StoredEvent | null> {
    const [row] = await this.query('SELECT * FROM events WHERE account_id = $1 AND id = $2', [
      accountId,
      id,
    ]);
    return row ? toEvent(row) : null;
  }

  async listEvents(accountId: string, filter: EventFilter, page: Page): Promise<StoredEvent[]> {
    const where = ['account_id = $1'];
    const args: unknown[] = [accountId];
    const add = (clause: string, value: unknown) => {
      args.push(value);
      where.push(clause.replace('?', `$${args.length}`));
    };
    if (filter.eventType !== undefined) add('type = ?', filter.eventType);
    if (filter.since !== undefined) add('created_at >= ?', filter.since);
    if (filter.until !== undefined) add('created_at < ?', filter.until);
    if (page.after !== null) add('id < ?', page.after);
    args.push(page.limit);
    const rows = await this.query(
      `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT $${args.length}`,
      args,
    );
    return rows.map(toEvent);
  }

  // ---- deliveries ----

  async listDeliveries(accountId: string, filter: DeliveryFilter, page: Page): Promise<Delivery[]> {
    const where = ['account_id = $1'];
    const args: unknown[] = [accountId];
    const add = (clause: string, value: unknown) => {
      args.push(value);
      where.push(clause.replace('?', `$${args.length}`));
    };
    if (filter.webhookId !== undefined) add('webhook_id = ?', filter.webhookId);
    if (filter.status !== undefined) add('status = ?', filter.status);
    if (filter.eventType !== undefined) add('event_type = ?', filter.eventType);
    if (filter.orderingKey !== undefined) add('ordering_key = ?', filter.orderingKey);
    if (filter.since !== undefined) add('created_at >= ?', filter.since);
    if (filter.until !== undefined) add('created_at < ?', filter.until);
    if (filter.updatedSince !== undefined) add('updated_at >= ?', filter.updatedSince);
    if (page.after !== null) add('id < ?', page.after);
    args.push(page.limit);
    where.push(notDeletedWebhook('webhook_id'));
    const rows = await this.query(
      `SELECT d.*, ${WAITING_FOR} FROM deliveries d
       WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT $${args.length}`,
      args,
    );
    return rows.map(toDelivery);
  }

  async getDelivery(accountId: string, id: string): Promise<DeliveryDetail | null> {
    const [row] = await this.query(
      `SELECT d.*, e.payload, ${WAITING_FOR} FROM deliveries d JOIN events e ON e.id = d.event_id
       WHERE d.account_id = $1 AND d.id = $2 AND ${notDeletedWebhook('d.webhook_id')}`,
      [accountId, id],
    );
    if (!row) return null;
    const attempts = (
      await this.query('SELECT * FROM attempts WHERE delivery_id = $1 ORDER BY seq', [id])
    ).map(toAttempt);
    return { ...toDelivery(row), payload: String(row.payload), attempts };
  }

  async requestRetry(accountId: string, id: string, now: number): Promise<Delivery | null> {
    const delivery = await this.tx(async (q) => {
      const [row] = await q(
        `SELECT d.id, w.status AS webhook_status FROM deliveries d
         LEFT JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.account_id = $1 AND d.id = $2
         FOR UPDATE OF d`,
        [accountId, id],
      );
      if (!row || row.webhook_status === null) return null;
      // A leased delivery keeps its lease; the worker re-checks the flag when it completes.
      const [updated] = await q(
        `UPDATE deliveries SET manual_requested = true, updated_at = $1,
           due_at = CASE WHEN lease_token IS NOT NULL AND due_at > $1 THEN due_at
                         WHEN $2 THEN $1 ELSE NULL END,
           -- due now: no longer waiting among the held (it may be held again by a claim)
           held = held AND NOT $2
         WHERE id = $3
         RETURNING *`,
        [now, row.webhook_status === 'enabled' && (await this.accountActive(q, accountId)), id],
      );
      await this.notify(q);
      return toDelivery(updated!);
    });
    if (delivery) this.emitWake();
    return delivery;
  }

  async recoverFailed(
    accountId: string,
    webhookId: string,
    since: number,
    now: number,
  ): Promise<number> {
    const count = await this.tx(async (q) => {
      const [webhook] = await q('SELECT status FROM webhooks WHERE account_id = $1 AND id = $2', [
        accountId,
        webhookId,
      ]);
      if (!webhook) return 0;
      const rows = await q(
        `UPDATE deliveries SET manual_requested = true, updated_at = $1, due_at = $2
         WHERE webhook_id = $3 AND status = 'failed' AND created_at >= $4 AND NOT manual_requested
         RETURNING id`,
        [
          now,
          webhook.status === 'enabled' && (await this.accountActive(q, accountId)) ? now : null,
          webhookId,
          since,
        ],
      );
      if (rows.length > 0) await this.notify(q);
      return rows.length;
    });
    if (count > 0) this.emitWake();
    return count;
  }

  async recordTestSend(record: TestSendRecord): Promise<void> {
    const { attempt, now } = record;
    await this.tx(async (q) => {
      await q(
        `INSERT INTO events (id, account_id, type, timestamp, payload, test, created_at)
         VALUES ($1, $2, $3, $4, $5, true, $6)`,
        [
          record.event.id,
          record.accountId,
          record.event.type,
          record.event.timestamp,
          record.event.payload,
          now,
        ],
      );
      await q(
        `INSERT INTO deliveries (id, account_id, webhook_id, event_id, event_type, url, status,
           attempt_count, last_status_code, last_duration_ms, last_error, last_attempt_at, test,
           created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $11, true, $12, $12)`,
        [
          record.deliveryId,
          record.accountId,
          record.webhookId,
          record.event.id,
          record.event.type,
          attempt.url,
          record.succeeded ? 'succeeded' : 'failed',
          attempt.statusCode,
          attempt.durationMs,
          attempt.error,
          attempt.startedAt,
          now,
        ],
      );
      const stored = await q(
        INSERT_ATTEMPTS,
        attemptColumns([{ attempt, webhookId: record.webhookId }]),
      );
      if (stored.length > 0 && record.webhookId !== null) {
        const rollups = new RollupBatch();
        rollups.attempt(record.webhookId, record.accountId, attempt.startedAt, attempt.durationMs);
        rollups.status(
          record.webhookId,
          record.accountId,
          now,
          null,
          record.succeeded ? 'succeeded' : 'failed',
        );
        await writeRollups(q, rollups);
      }
    });
  }

  async webhookStats(request: StatsRequest): Promise<WebhookStats> {
    const [owned] = await this.query('SELECT 1 FROM webhooks WHERE account_id = $1 AND id = $2', [
      request.accountId,
      request.webhookId,
    ]);
    if (!owned) return { succeeded: 0, failed: 0, pending: 0, lastDeliveryAt: null, buckets: [] };
    return readStats((text, values) => this.query(text, values), request);
  }

  // ---- the worker's side ----

  async claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    const { now } = request;
    await this.releaseHeld(request);
    return this.tx(async (q) => {
      // The hot query. It was the global due index in due order, bounded by the claim size
      // (0.24 ms for 200 rows of 10k due over 50 endpoints, EXPLAIN ANALYZE, this machine),
      // but then one account's backlog of 30,000 put another account's new delivery 470
      // claims back. Now: the next accounts in turn (a skip scan of deliveries_due_by_account,
      // two probes per account), each its share of twice the claim size in due order, with
      // SKIP LOCKED so concurrent workers take disjoint sets. Rows of endpoints at their cap
      // are held (below), so no claim rereads a saturated endpoint's backlog; when more is
      // leasable than the claim may take, the plan takes in turn across accounts and endpoints
      // (fair-share.ts).
      const accounts = await accountsInTurn(q, this.rotation, now);
      const candidates = (
        await dueOf(q, accounts, perAccount(request.limit * 2, accounts.length), now)
      ).map((r): ClaimCandidate => ({
        deliveryId: String(r.id),
        accountId: String(r.account_id),
        webhookId: strOrNull(r.webhook_id),
        eventId: String(r.event_id),
        orderingKey: strOrNull(r.ordering_key),
        attemptCount: num(r.attempt_count),
        autoAttempts: num(r.auto_attempts),
        manual: r.manual_requested === true,
        waiting: r.order_state === 'waiting',
      }));
      if (candidates.length === 0) return [];

      // Lock the endpoints (in id order: two claims never wait on each other in a cycle), then
      // count their leases: a statement started after the lock sees every lease committed by
      // the claim that held it before us, so the in-flight cap and the token bucket hold
      // across processes.
      const webhookIds = [
        ...new Set(candidates.map((c) => c.webhookId).filter((id) => id !== null)),
      ].sort();
      const rows = await q(
        'SELECT * FROM webhooks WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE',
        [webhookIds],
      );
      const inFlight = await this.countInFlight(q, webhookIds, now);
      const endpoints = new Map<string, EndpointBucket & { webhook: Webhook }>();
      for (const row of rows) {
        const webhook = toWebhook(row);
        endpoints.set(webhook.id, {
          webhook,
          webhookId: webhook.id,
          enabled: webhook.status === 'enabled',
          inFlight: inFlight.get(webhook.id) ?? 0,
          concurrencyLimit: webhook.throttle.limit,
          ratePerMinute:
            webhook.rateLimitPerMinute ??
            webhook.accountRateLimitPerMinute ??
            request.defaultRateLimitPerMinute,
          tokens: numOrNull(row.rate_tokens),
          refilledAt: numOrNull(row.rate_refilled_at),
        });
      }

      // Body sizes only for a claim with a byte budget (the worker asks for one only when
      // its bytes in flight near RIZLER_MAX_BYTES_IN_FLIGHT): octet_length of a TOASTed body
      // reads its pointer, not the body.
      let sizes: Map<string, number> | undefined;
      if (request.maxPayloadBytes !== undefined) {
        const rows = await q(
          'SELECT id, octet_length(payload) AS n FROM events WHERE id = ANY($1::text[])',
          [[...new Set(candidates.map((c) => c.eventId))]],
        );
        sizes = new Map(rows.map((r) => [String(r.id), num(r.n)]));
      }
      const plan = planClaim(candidates, endpoints, request, sizes);
      await holdBacklog(
        q,
        plan.saturated.map((id) => ({
          webhookId: id,
          accountId: endpoints.get(id)!.webhook.accountId,
        })),
        now,
      );

      // Every write of the plan in one statement: parks and holds (off the due index),
      // defers (due when a token comes), leases (due when the lease runs out).
      const ids: string[] = [];
      const dues: (number | null)[] = [];
      const kinds: ('park' | 'hold' | 'defer' | 'lease')[] = [];
      const write = (id: string, due: number | null, kind: (typeof kinds)[number]) => {
        ids.push(id);
        dues.push(due);
        kinds.push(kind);
      };
      for (const id of plan.park) write(id, null, 'park');
      for (const id of plan.hold) write(id, null, 'hold');
      for (const d of plan.defer) write(d.deliveryId, d.dueAt, 'defer');
      for (const c of plan.lease) write(c.deliveryId, now + request.leaseMs, 'lease');
      const leased = await q(
        `WITH buckets AS (
           UPDATE webhooks w SET rate_tokens = b.tokens, rate_refilled_at = $1
           FROM unnest($2::text[], $3::float8[]) AS b(id, tokens)
           WHERE w.id = b.id
         ), changed AS (
           UPDATE deliveries d SET due_at = u.due_at,
             lease_token = CASE WHEN u.kind = 'lease' THEN $4 ELSE d.lease_token END,
             held = CASE u.kind WHEN 'hold' THEN true WHEN 'park' THEN d.held ELSE false END
           FROM unnest($5::text[], $6::bigint[], $7::text[]) AS u(id, due_at, kind)
           WHERE d.id = u.id
           RETURNING d.id, d.event_id, u.kind
         )
         SELECT c.id, e.type, octet_length(e.payload) AS payload_bytes,
           CASE WHEN octet_length(e.payload) <= $8::bigint THEN e.payload END AS payload,
           e.traceparent
         FROM changed c JOIN events e ON e.id = c.event_id
         WHERE c.kind = 'lease'`,
        [
          now,
          plan.buckets.map((b) => b.webhookId),
          plan.buckets.map((b) => b.tokens),
          request.leaseToken,
          ids,
          dues,
          kinds,
          request.inlinePayloadBytes ?? Number.MAX_SAFE_INTEGER,
        ],
      );
      const events = new Map(leased.map((r) => [String(r.id), r]));

      const claimed: ClaimedDelivery[] = [];
      for (const c of plan.lease) {
        const webhook = endpoints.get(c.webhookId!)!.webhook;
        const event = events.get(c.deliveryId)!;
        claimed.push(
          toClaimed(
            c,
            webhook,
            {
              type: String(event.type),
              payload: strOrNull(event.payload),
              payloadBytes: num(event.payload_bytes),
              traceparent: strOrNull(event.traceparent),
            },
            request,
          ),
        );
      }
      return claimed;
    });
  }

  /** Deliveries leased right now, per endpoint, across every worker. */
  private async countInFlight(
    q: Query,
    webhookIds: string[],
    now: number,
  ): Promise<Map<string, number>> {
    const rows = await q(
      `SELECT webhook_id, count(*) AS n FROM deliveries
       WHERE lease_token IS NOT NULL AND due_at > $1 AND webhook_id = ANY($2::text[])
       GROUP BY webhook_id`,
      [now, webhookIds],
    );
    return new Map(rows.map((r) => [String(r.webhook_id), num(r.n)]));
  }

  /**
   * Brings back up to `room` held deliveries per endpoint, oldest first. Only rows still off
   * the due index: a held row that a manual retry made due is no longer waiting.
   */
  private async unhold(q: Query, room: Map<string, number>, now: number): Promise<number> {
    const wanted = [...room].filter(([, n]) => n > 0);
    if (wanted.length === 0) return 0;
    const rows = await q(
      `UPDATE deliveries SET held = false,
         -- back at its old place in due order, so the backlog keeps its order
         due_at = least($1, coalesce(next_attempt_at, created_at))
       WHERE id IN (
         SELECT h.id FROM unnest($2::text[], $3::int[]) AS u(webhook_id, n)
         CROSS JOIN LATERAL (
           SELECT id FROM deliveries
           WHERE webhook_id = u.webhook_id AND held AND due_at IS NULL
           ORDER BY id LIMIT u.n) AS h)
       RETURNING 1`,
      [now, wanted.map(([id]) => id), wanted.map(([, n]) => n)],
    );
    return rows.length;
  }

  private lastSweep = 0;

  /**
   * Held rows come back as their endpoint's attempts finish (completeAttempts). This sweep,
   * at most once a second per process, also frees them where no attempt is left to finish
   * (its worker died and the lease ran out). Endpoints another transaction has locked are
   * left to the next sweep rather than waited for.
   */
  private async releaseHeld(request: ClaimRequest): Promise<void> {
    if (request.now - this.lastSweep < 1000) return;
    this.lastSweep = request.now;
    // Distinct held endpoints by skipping through the index, one probe per endpoint; usually
    // none, and then no transaction is needed.
    const held = (
      await this.query(
        `WITH RECURSIVE w(id) AS (
           SELECT (SELECT min(webhook_id) FROM deliveries WHERE held)
           UNION ALL
           SELECT (SELECT min(webhook_id) FROM deliveries WHERE held AND webhook_id > w.id)
           FROM w WHERE w.id IS NOT NULL)
         SELECT id FROM w WHERE id IS NOT NULL`,
      )
    ).map((r) => String(r.id));
    if (held.length === 0) return;
    // The claim that follows takes what comes back; no other process needs waking.
    await this.tx(async (q) => {
      const lockedRows = await q(
        `SELECT id, concurrency_limit FROM webhooks WHERE id = ANY($1::text[])
         ORDER BY id FOR NO KEY UPDATE SKIP LOCKED`,
        [held],
      );
      const locked = lockedRows.map((r) => String(r.id));
      if (locked.length === 0) return;
      const inFlight = await this.countInFlight(q, locked, request.now);
      const room = new Map(
        lockedRows.map((r) => [
          String(r.id),
          effectiveCap(numOrNull(r.concurrency_limit), request.maxInFlightPerEndpoint) -
            (inFlight.get(String(r.id)) ?? 0),
        ]),
      );
      await this.unhold(q, room, request.now);
    });
  }

  async completeAttempts(
    completed: CompletedAttempt[],
    policy: CompletionPolicy,
    next?: ClaimRequest,
  ): Promise<ClaimedDelivery[]> {
    if (completed.length === 0) return next ? this.claimDue(next) : [];
    const { now } = policy;
    const woke = await this.tx(async (q) => {
      const stored = new Set(
        (
          await q(
            INSERT_ATTEMPTS,
            attemptColumns(
              completed.map((c) => ({ attempt: c.attempt, webhookId: c.claim.webhookId })),
            ),
          )
        ).map((r) => String(r.delivery_id)),
      );

      // The deliveries, only where our lease still holds (a stale worker changes nothing).
      // A manual retry asked for while an automatic attempt was in flight still gets its
      // attempt: due now, flag kept. One row per delivery: a repeat in the batch would find
      // the lease already released, as it does in SQLite.
      const byDelivery = new Map<string, CompletedAttempt>();
      for (const c of completed) {
        if (!byDelivery.has(c.claim.deliveryId)) byDelivery.set(c.claim.deliveryId, c);
      }
      const once = [...byDelivery.values()];
      // For the rollups: the status before a manual success (an automatic attempt is only
      // ever made on a pending delivery, and a manual failure changes nothing).
      const manualSuccesses = once.filter(
        (c) => c.claim.trigger === 'manual' && c.outcome.kind === 'succeeded',
      );
      const statusBefore = new Map<string, DeliveryStatus>(
        manualSuccesses.length === 0
          ? []
          : (
              await q('SELECT id, status FROM deliveries WHERE id = ANY($1::text[])', [
                manualSuccesses.map((c) => c.claim.deliveryId),
              ])
            ).map((r) => [String(r.id), r.status as DeliveryStatus]),
      );
      const requeued = await q(
        `UPDATE deliveries d SET
           status = CASE u.kind WHEN 'succeeded' THEN 'succeeded' WHEN 'retry' THEN 'pending'
                                WHEN 'failed' THEN 'failed' ELSE d.status END,
           attempt_count = d.attempt_count + 1,
           auto_attempts = d.auto_attempts + CASE WHEN u.trigger = 'auto' THEN 1 ELSE 0 END,
           last_status_code = u.status_code, last_duration_ms = u.duration_ms, last_error = u.error,
           last_attempt_at = u.started_at,
           next_attempt_at = CASE u.kind WHEN 'retry' THEN u.next_at
                                         WHEN 'unchanged' THEN d.next_attempt_at ELSE NULL END,
           due_at = CASE
             WHEN u.trigger = 'auto' AND d.manual_requested AND u.kind <> 'succeeded' THEN $1
             WHEN u.kind = 'retry' THEN u.next_at
             WHEN u.kind = 'unchanged' AND d.status = 'pending' THEN d.next_attempt_at
             ELSE NULL END,
           lease_token = NULL,
           held = false,
           manual_requested = (u.trigger = 'auto' AND d.manual_requested AND u.kind <> 'succeeded'),
           updated_at = $1
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::int[],
             $8::bigint[], $9::text[], $10::bigint[])
           AS u(id, lease_token, kind, trigger, next_at, status_code, duration_ms, error, started_at)
         WHERE d.id = u.id AND d.lease_token = u.lease_token
         RETURNING d.id, d.manual_requested, d.created_at, d.attempt_count, d.webhook_id,
           d.ordering_key, d.order_state`,
        [
          now,
          once.map((c) => c.claim.deliveryId),
          once.map((c) => c.claim.leaseToken),
          once.map((c) => c.outcome.kind),
          once.map((c) => c.claim.trigger),
          once.map((c) => (c.outcome.kind === 'retry' ? c.outcome.nextAttemptAt : null)),
          once.map((c) => c.attempt.statusCode),
          once.map((c) => c.attempt.durationMs),
          once.map((c) => c.attempt.error),
          once.map((c) => c.attempt.startedAt),
        ],
      );
      let wake = requeued.some((r) => r.manual_requested === true);
      // Deliveries that left `pending` in a key's order: the next of the key may go. Their
      // order_state is as before (the update leaves it); releaseNext clears it.
      const finished: FinishedDelivery[] = requeued
        .filter((r) => {
          const kind = byDelivery.get(String(r.id))!.outcome.kind;
          return r.order_state !== null && (kind === 'succeeded' || kind === 'failed');
        })
        .map((r) => ({
          deliveryId: String(r.id),
          webhookId: String(r.webhook_id),
          orderingKey: strOrNull(r.ordering_key),
          orderState: r.order_state as OrderState,
        }));
      if (finished.length > 0 && (await releaseNext(q, finished, now)) > 0) wake = true;
      const rollups = new RollupBatch();
      for (const c of completed) {
        if (!stored.has(c.claim.deliveryId)) continue;
        rollups.attempt(
          c.claim.webhookId,
          c.claim.accountId,
          c.attempt.startedAt,
          c.attempt.durationMs,
        );
      }
      for (const r of requeued) {
        const c = byDelivery.get(String(r.id))!;
        if (c.outcome.kind !== 'succeeded' && c.outcome.kind !== 'failed') continue;
        const before = statusBefore.get(c.claim.deliveryId) ?? 'pending';
        rollups.status(
          c.claim.webhookId,
          c.claim.accountId,
          num(r.created_at),
          before,
          c.outcome.kind,
        );
      }
      // SPEC §11: once per delivery (only this completion moves it to failed), never about an
      // operational event's own delivery.
      const attemptsOf = new Map(requeued.map((r) => [String(r.id), num(r.attempt_count)]));
      for (const c of once) {
        const attempts = attemptsOf.get(c.claim.deliveryId);
        if (attempts === undefined || c.outcome.kind !== 'failed') continue;
        if (isOperationalEventType(c.claim.eventType)) continue;
        const event = deliveryExhausted(c.claim, attempts, c.attempt.statusCode, c.attempt.error);
        await this.operational.publish(q, c.claim.accountId, event, now);
      }

      // The endpoints, locked in id order (after the deliveries: a claim locks deliveries
      // first too, so neither waits on the other in a cycle).
      const recorded = completed.filter((c) => stored.has(c.claim.deliveryId));
      if (recorded.length > 0) {
        // Claims lock the endpoint rows too, so locking them here serialised every claim and
        // completion of a busy endpoint across all workers: a second worker process added
        // nothing (bench). Most completions change nothing of the endpoint: a healthy endpoint
        // that succeeded again, with no held rows to bring back. Only the others are locked.
        // A failure committed concurrently with the unlocked read can leave failing_since set
        // after this success: health.ts never disables on such a stale mark.
        const webhookIds = [...new Set(recorded.map((c) => c.claim.webhookId))].sort();
        const current = await q(
          `SELECT w.id, w.failing_since, w.concurrency_limit, w.failure_streak,
             EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id AND d.held) AS has_held
           FROM webhooks w WHERE w.id = ANY($1::text[])`,
          [webhookIds],
        );
        const failed = new Set(
          recorded.filter((c) => c.outcome.kind !== 'succeeded').map((c) => c.claim.webhookId),
        );
        const lockIds = current
          .filter(
            (r) =>
              r.failing_since !== null ||
              r.has_held === true ||
              failed.has(String(r.id)) ||
              // a throttled endpoint grows back with each success
              r.concurrency_limit !== null ||
              num(r.failure_streak) > 0,
          )
          .map((r) => String(r.id))
          .sort();
        if (lockIds.length > 0) {
          const rows = await q(
            `SELECT id, status, failing_since, concurrency_limit, failure_streak, throttle_reason,
               throttled_since
             FROM webhooks WHERE id = ANY($1::text[])
             ORDER BY id FOR NO KEY UPDATE`,
            [lockIds],
          );
          const locked = new Set(lockIds);
          const concerned = recorded.filter((c) => locked.has(c.claim.webhookId));
          await this.recordHealth(q, rows, concerned, policy);
          const signals = new Map<string, ThrottleSignal[]>();
          for (const c of concerned) {
            let list = signals.get(c.claim.webhookId);
            if (!list) signals.set(c.claim.webhookId, (list = []));
            list.push(throttleSignal(c.outcome.kind === 'succeeded', c.attempt.statusCode));
          }
          await recordThrottle(q, rows, signals, policy.throttle ?? DEFAULT_THROTTLE, now);
          // Each finished attempt frees a slot of its endpoint: bring back as many held rows.
          // Under the endpoint's lock, so no claim is holding more of them meanwhile.
          const freed = new Map<string, number>();
          for (const c of concerned)
            freed.set(c.claim.webhookId, (freed.get(c.claim.webhookId) ?? 0) + 1);
          if ((await this.unhold(q, freed, now)) > 0) wake = true;
        }
      }
      await writeRollups(q, rollups);
      if (wake) await this.notify(q);
      return wake;
    });
    if (this.operational.takeWake()) this.emitWake();
    if (!next) {
      if (woke) this.emitWake();
      return [];
    }
    // Here the claim is a transaction of its own: the completion's endpoint locks are never
    // held across the claim's SKIP LOCKED scan. The attempts are recorded whatever happens to
    // the claim, so a failed claim must not fail the call (the caller would record them
    // twice): the worker's own loop claims instead.
    try {
      return await this.claimDue(next);
    } catch {
      this.emitWake();
      return [];
    }
  }

  /** Auto-disable (health.ts), on the endpoints locked by this completion. */
  private async recordHealth(
    q: Query,
    rows: Row[],
    completed: CompletedAttempt[],
    policy: CompletionPolicy,
  ): Promise<void> {
    const outcomes = new Map<string, HealthOutcome[]>();
    for (const c of completed) {
      let list = outcomes.get(c.claim.webhookId);
      if (!list) outcomes.set(c.claim.webhookId, (list = []));
      list.push({ succeeded: c.outcome.kind === 'succeeded', gone: c.endpointGone });
    }
    const health = rows.map((r) => ({
      id: String(r.id),
      status: String(r.status) as WebhookStatus,
      failingSince: numOrNull(r.failing_since),
    }));
    const toConfirm = health.filter((h) =>
      mayDisableAsFailing(h, outcomes.get(h.id) ?? [], policy),
    );
    const succeeded = new Set<string>();
    if (toConfirm.length > 0) {
      const found = await q(
        `SELECT u.id FROM unnest($1::text[], $2::bigint[]) AS u(id, since)
         WHERE EXISTS (SELECT 1 FROM attempts a
           WHERE a.webhook_id = u.id AND ${succeededSinceSql('u.since')})`,
        [toConfirm.map((h) => h.id), toConfirm.map((h) => h.failingSince)],
      );
      for (const r of found) succeeded.add(String(r.id));
    }
    const state = new Map(
      health.map((h) => {
        const change = applyOutcomes(h, outcomes.get(h.id) ?? [], policy, () =>
          succeeded.has(h.id),
        );
        return [
          h.id,
          {
            failingSince: change.failingSince,
            disabledReason: change.disable,
            changed: change.changed,
          },
        ];
      }),
    );
    const changed = [...state].filter(([, s]) => s.changed);
    if (changed.length === 0) return;
    await q(
      `UPDATE webhooks w SET failing_since = u.failing_since,
         status = CASE WHEN u.reason IS NULL THEN w.status ELSE 'disabled' END,
         disabled_reason = coalesce(u.reason, w.disabled_reason),
         updated_at = CASE WHEN u.reason IS NULL THEN w.updated_at ELSE $1 END
       FROM unnest($2::text[], $3::bigint[], $4::text[]) AS u(id, failing_since, reason)
       WHERE w.id = u.id`,
      [
        policy.now,
        changed.map(([id]) => id),
        changed.map(([, s]) => s.failingSince),
        changed.map(([, s]) => s.disabledReason),
      ],
    );
    const disabled = changed.filter(([, s]) => s.disabledReason !== null).map(([id]) => id);
    if (disabled.length > 0) await this.parkEndpoints(q, disabled);
    if (disabled.length > 0) {
      const owners = await q('SELECT id, account_id FROM webhooks WHERE id = ANY($1::text[])', [
        disabled,
      ]);
      await writeAudit(
        q,
        ...owners.map((o) => ({
          accountId: String(o.account_id),
          actor: SYSTEM_ACTOR,
          action: 'webhook.disabled',
          targetId: String(o.id),
          changes: {
            status: { old: 'enabled', new: 'disabled' },
            disabled_reason: { old: null, new: state.get(String(o.id))!.disabledReason },
          },
          at: policy.now,
        })),
      );
    }
    for (const [id, s] of changed) {
      const reason = s.disabledReason;
      if (reason)
        await this.operational.publishAbout(q, id, (w) => webhookDisabled(w, reason), policy.now);
    }
  }

  async readPayloads(eventIds: readonly string[]): Promise<Map<string, string>> {
    const rows = await this.query('SELECT id, payload FROM events WHERE id = ANY($1::text[])', [
      [...eventIds],
    ]);
    return new Map(rows.map((r) => [String(r.id), String(r.payload)]));
  }

  async nextDueAt(): Promise<number | null> {
    const [row] = await this.query(
      'SELECT min(due_at) AS t FROM deliveries WHERE due_at IS NOT NULL',
    );
    return numOrNull(row?.t);
  }

  onWake(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.closed === null) this.channel.start();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) void this.channel.stop();
    };
  }

  async purge(before: number, batch: number): Promise<PurgeResult> {
    return this.tx(async (q) => {
      const attempts = await q(
        `DELETE FROM attempts WHERE seq IN (
           SELECT a.seq FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
           WHERE d.created_at < $1 AND d.status <> 'pending' LIMIT $2)
         RETURNING 1`,
        [before, batch],
      );
      const deliveries = await q(
        `DELETE FROM deliveries WHERE id IN (
           SELECT d.id FROM deliveries d WHERE d.created_at < $1 AND d.status <> 'pending'
             AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
           LIMIT $2)
         RETURNING 1`,
        [before, batch],
      );
      const events = await q(
        `DELETE FROM events WHERE id IN (
           SELECT e.id FROM events e WHERE e.created_at < $1
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
           LIMIT $2)
         RETURNING 1`,
        [before, batch],
      );
      const rollups = await purgeExpiredRollups(q, before, batch);
      return {
        events: events.length,
        deliveries: deliveries.length,
        attempts: attempts.length,
        rollups,
      };
    });
  }

  async purgeDeleted(batch: number): Promise<PurgeResult & { remaining: boolean }> {
    return this.tx((q) => purgeDeletedBatch(q, batch));
  }

  async queueStats(now: number): Promise<QueueStats> {
    const [due] = await this.query(
      'SELECT count(*) AS n, min(due_at) AS oldest FROM deliveries WHERE due_at <= $1',
      [now],
    );
    const [later] = await this.query('SELECT count(*) AS n FROM deliveries WHERE due_at > $1', [
      now,
    ]);
    const [inFlight] = await this.query(
      'SELECT count(*) AS n FROM deliveries WHERE lease_token IS NOT NULL AND due_at > $1',
      [now],
    );
    const [held] = await this.query('SELECT count(*) AS n FROM deliveries WHERE held');
    // The longest-throttled delivery: held at the in-flight cap, or put off by the rate limit
    // (due_at moved past a due time that has come).
    const [longestThrottled] = await this.query(
      `SELECT least(
         (SELECT min(coalesce(next_attempt_at, created_at)) FROM deliveries WHERE held),
         (SELECT min(coalesce(next_attempt_at, updated_at)) FROM deliveries
          WHERE due_at > $1 AND lease_token IS NULL AND coalesce(next_attempt_at, updated_at) <= $1)
       ) AS t`,
      [now],
    );
    const endpoints: Record<string, number> = {};
    for (const row of await this.query(
      'SELECT status, disabled_reason, count(*) AS n FROM webhooks GROUP BY status, disabled_reason',
    )) {
      const key =
        row.status === 'enabled'
          ? 'enabled'
          : `disabled:${String(row.disabled_reason ?? 'manual')}`;
      endpoints[key] = (endpoints[key] ?? 0) + Number(row.n);
    }
    const throttled: Record<string, number> = {};
    for (const row of await this.query(
      `SELECT throttle_reason, count(*) AS n FROM webhooks
       WHERE concurrency_limit IS NOT NULL GROUP BY throttle_reason`,
    )) {
      throttled[String(row.throttle_reason)] = Number(row.n);
    }
    return {
      throttled,
      due: Number(due!.n),
      oldestDueAt: due!.oldest === null ? null : Number(due!.oldest),
      inFlight: Number(inFlight!.n),
      scheduled: Number(later!.n) - Number(inFlight!.n),
      held: Number(held!.n),
      oldestThrottledAt: numOrNull(longestThrottled?.t),
      endpoints,
    };
  }

  async configureOperatorWebhook(
    setting: { url: string; sealedSecret: string } | null,
    now: number,
  ): Promise<void> {
    await this.tx((q) => this.operational.configureOperator(q, setting, now));
    this.emitWake();
  }

  async resealSecrets(reseal: (sealed: string) => string): Promise<number> {
    let changed = 0;
    let after = '';
    for (;;) {
      const rows = await this.query(
        'SELECT id, secret, previous_secret FROM webhooks WHERE id > $1 ORDER BY id LIMIT 500',
        [after],
      );
      if (rows.length === 0) return changed;
      changed += await this.tx(async (q) => {
        let n = 0;
        for (const row of rows) {
          const secret = reseal(String(row.secret));
          const previous =
            row.previous_secret === null ? null : reseal(String(row.previous_secret));
          if (secret === row.secret && previous === row.previous_secret) continue;
          await q('UPDATE webhooks SET secret = $1, previous_secret = $2 WHERE id = $3', [
            secret,
            previous,
            row.id,
          ]);
          n++;
        }
        return n;
      });
      after = String(rows[rows.length - 1]!.id);
    }
  }
}
