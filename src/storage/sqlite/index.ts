// The embedded engine: one SQLite file in WAL mode through better-sqlite3. Calls are
// synchronous underneath; the contract is async so that PostgreSQL fits behind it too.
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { threadEntry } from '../../core/thread-entry.js';
import { migrations } from './migrations.js';
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
import { SqliteOperational } from './operational.js';
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
import { notDeletedWebhook, RollupBatch } from '../rollups.js';
import { applyOutcomes, succeededSinceSql, type HealthOutcome } from '../health.js';
import {
  markDeleted,
  purgeDeletedBatch,
  purgeExpiredRollups,
  readStats,
  registerRollupFunctions,
  writeRollups,
} from './rollups.js';
import {
  DEFAULT_THROTTLE,
  effectiveCap,
  throttleSignal,
  type ThrottleSignal,
} from '../throttle.js';
import { perAccount, type Rotation } from '../fair-share.js';
import { CANDIDATE_COLUMNS, accountsInTurn, dueOf, holdBacklog, recordThrottle } from './claim.js';
import { REDACTED, webhookChanges } from '../../audit/changes.js';
import { SqliteAccess } from './accounts.js';
import { writeAudit, type AuditRecord } from './audit.js';
import { placeOne, releaseNext, switchOrdering } from './ordering.js';
import { WAITING_FOR, type FinishedDelivery, type OrderState } from '../ordering.js';

/** How often the checkpointer copies the WAL back; a burst of writes grows it meanwhile. */
const CHECKPOINT_INTERVAL_MS = 200;

/**
 * When the longest-throttled pending delivery fell due: held rows (at the in-flight cap) since
 * their due time, rate-deferred rows (due_at moved past a due time that has come) since that.
 */
const THROTTLED_SINCE = `
  SELECT min(t) AS t FROM (
    SELECT min(coalesce(next_attempt_at, created_at)) AS t FROM deliveries
      INDEXED BY deliveries_held WHERE held = 1
    UNION ALL
    SELECT min(coalesce(next_attempt_at, updated_at)) AS t FROM deliveries
      INDEXED BY deliveries_due
      WHERE due_at > :now AND lease_token IS NULL AND coalesce(next_attempt_at, updated_at) <= :now)`;

/** SQLite error codes that mean the database, not the request, is at fault. */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|READONLY|FULL|IOERR|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)/;

/** An account's rows, the filters that are set, and the page's starting point. */
function conditions(
  accountId: string,
  page: Page,
  filters: [sql: string, value: string | number | undefined][],
): { where: string; args: (string | number)[] } {
  const where = ['account_id = ?'];
  const args: (string | number)[] = [accountId];
  for (const [sql, value] of filters) {
    if (value === undefined) continue;
    where.push(sql);
    args.push(value);
  }
  if (page.after !== null) {
    where.push('id < ?');
    args.push(page.after);
  }
  return { where: where.join(' AND '), args };
}

export class SqliteStorage implements Storage {
  readonly engine = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly wake = new EventEmitter();
  private readonly statements = new Map<string, Database.Statement>();
  /** Where the claims' turns across accounts stand (fair-share.ts). */
  private readonly rotation: Rotation = { cursor: '' };
  private readonly filters = new FilterCache();
  private readonly operational = new SqliteOperational((sql) => this.stmt(sql), this.filters);

  private checkpointer: Worker | null = null;

  /**
   * `backgroundCheckpoints`: for the long-running processes. Checkpoints move to a thread of
   * their own (checkpointer.ts) instead of running inside whichever commit crosses the WAL
   * threshold, where their fsyncs held up that commit. Bench, SQLite end to end with one
   * endpoint, three runs each: ratio to bare undici 0.41-0.45 with checkpoints in the
   * commits, 0.46-0.48 with them on their own thread.
   */
  constructor(path: string, options: { backgroundCheckpoints?: boolean } = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives a process crash (kill -9); only an OS crash or
    // power loss can drop the last transactions. FULL halves publish throughput here.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = OFF');
    // Memory-mapped reads and a 64 MiB page cache keep the hot indexes (due, leased, held)
    // resident under a large backlog. 256 MiB of mmap put the worker at 341 MiB resident
    // while draining a backlog of 1M (bench); 64 MiB keeps it under the 300 MB goal.
    this.db.pragma('mmap_size = 67108864');
    this.db.pragma('cache_size = -65536');
    this.wake.setMaxListeners(0);
    registerRollupFunctions(this.db);
    if (options.backgroundCheckpoints && path !== ':memory:') this.startCheckpointer(path);
  }

  private startCheckpointer(path: string): void {
    this.db.pragma('wal_autocheckpoint = 0');
    const thread = new Worker(threadEntry(import.meta.url, './checkpointer.js'), {
      workerData: { path, intervalMs: CHECKPOINT_INTERVAL_MS },
    });
    // Should it ever stop, commits checkpoint again, as SQLite does by default.
    const fallBack = () => {
      if (this.checkpointer !== thread) return;
      this.checkpointer = null;
      if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
    };
    thread.on('error', fallBack);
    thread.on('exit', fallBack);
    thread.unref();
    this.checkpointer = thread;
  }

  /** One prepared statement per SQL text, reused: preparing costs more than running. */
  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (UNAVAILABLE.test(code)) {
        return Promise.reject(
          new StorageUnavailableError(`the database cannot be written (${code})`, { cause: err }),
        );
      }
      return Promise.reject(err);
    }
  }

  private tx<T>(work: () => T): Promise<T> {
    return this.run(() => this.db.transaction(work).immediate());
  }

  private notify(): void {
    this.wake.emit('wake');
  }

  async migrate(): Promise<void> {
    await this.run(() => {
      this.db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
      const applyAll = this.db.transaction(() => {
        const done = new Set(
          this.db
            .prepare('SELECT version FROM schema_migrations')
            .all()
            .map((r) => num((r as Row).version)),
        );
        assertSchemaNotNewer(done, migrations);
        for (const migration of migrations) {
          if (done.has(migration.version)) continue;
          this.db.exec(migration.sql);
          this.db
            .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
            .run(migration.version, migration.name, Date.now());
        }
      });
      applyAll.immediate();
    });
  }

  async close(): Promise<void> {
    this.wake.removeAllListeners();
    const checkpointer = this.checkpointer;
    if (checkpointer) {
      this.checkpointer = null;
      // Its connection closes first, so that closing the last one checkpoints the WAL away.
      await new Promise<void>((resolve) => {
        checkpointer.once('message', () => resolve());
        checkpointer.once('exit', () => resolve());
        checkpointer.postMessage('stop');
      });
      await checkpointer.terminate();
    }
    this.db.close();
  }

  async ping(): Promise<void> {
    await this.run(() => this.stmt('SELECT 1').get());
  }

  // ---- accounts, keys, portal sessions, audit log (accounts.ts) ----

  private readonly access = new SqliteAccess({
    stmt: (sql) => this.stmt(sql),
    run: (work) => this.run(work),
    tx: (work) => this.tx(work),
    notify: () => this.notify(),
  });
  private audit(record: AuditRecord): void {
    writeAudit((sql) => this.stmt(sql), record);
  }

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
  private accountActive(accountId: string): boolean {
    return (
      this.stmt("SELECT 1 FROM accounts WHERE id = ? AND status = 'active'").get(accountId) !==
      undefined
    );
  }

  // ---- webhooks ----

  async createWebhook(
    w: NewWebhook,
    maxEndpoints: number,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook | 'limit_reached'> {
    return this.tx(() => {
      const count = num(
        (
          this.stmt('SELECT count(*) AS n FROM webhooks WHERE account_id = ?').get(
            w.accountId,
          ) as Row
        ).n,
      );
      if (count >= maxEndpoints) return 'limit_reached' as const;
      this.stmt(
        `INSERT INTO webhooks (id, account_id, url, description, events, status, disabled_reason,
           rate_limit_per_minute, secret, headers, filter, created_at, updated_at, ordering)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        w.id,
        w.accountId,
        w.url,
        w.description,
        JSON.stringify(w.events),
        w.status,
        w.status === 'disabled' ? 'manual' : null,
        w.rateLimitPerMinute,
        w.sealedSecret,
        JSON.stringify(w.headers ?? {}),
        w.filter ? JSON.stringify(w.filter) : null,
        w.now,
        w.now,
        w.ordering ?? 'none',
      );
      this.stmt(
        `UPDATE webhooks SET account_rate_limit_per_minute =
           (SELECT endpoint_rate_limit_per_minute FROM accounts WHERE id = ?) WHERE id = ?`,
      ).run(w.accountId, w.id);
      const created = toWebhook(this.stmt('SELECT * FROM webhooks WHERE id = ?').get(w.id) as Row);
      this.audit({
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
    const row = await this.run(
      () =>
        this.stmt('SELECT * FROM webhooks WHERE account_id = ? AND id = ?').get(
          accountId,
          id,
        ) as Row,
    );
    return row ? toWebhook(row) : null;
  }

  async listWebhooks(accountId: string, page: Page): Promise<Webhook[]> {
    const rows = await this.run(
      () =>
        this.stmt(
          `SELECT * FROM webhooks WHERE account_id = ? AND (? IS NULL OR id < ?)
           ORDER BY id DESC LIMIT ?`,
        ).all(accountId, page.after, page.after, page.limit) as Row[],
    );
    return rows.map(toWebhook);
  }

  async countWebhooks(accountId: string): Promise<number> {
    return this.run(() =>
      num(
        (this.stmt('SELECT count(*) AS n FROM webhooks WHERE account_id = ?').get(accountId) as Row)
          .n,
      ),
    );
  }

  async updateWebhook(
    accountId: string,
    id: string,
    patch: WebhookPatch,
    now: number,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook | null> {
    const result = await this.tx(() => {
      const row = this.stmt('SELECT * FROM webhooks WHERE account_id = ? AND id = ?').get(
        accountId,
        id,
      ) as Row | undefined;
      if (!row) return null;
      const before = toWebhook(row);
      const status = patch.status ?? before.status;
      const reason =
        status === 'enabled'
          ? null
          : patch.status === 'disabled'
            ? 'manual'
            : before.disabledReason;
      this.stmt(
        `UPDATE webhooks SET url = ?, description = ?, events = ?, status = ?, disabled_reason = ?,
           rate_limit_per_minute = ?, secret = ?, headers = ?, filter = ?, updated_at = ?,
           ordering = ?,
           failing_since = CASE WHEN ? = 'enabled' AND status = 'disabled' THEN NULL ELSE failing_since END
         WHERE id = ?`,
      ).run(
        patch.url ?? before.url,
        patch.description !== undefined ? patch.description : before.description,
        JSON.stringify(patch.events ?? before.events),
        status,
        reason,
        patch.rateLimitPerMinute !== undefined
          ? patch.rateLimitPerMinute
          : before.rateLimitPerMinute,
        patch.sealedSecret ?? before.sealedSecret,
        JSON.stringify(patch.headers ?? before.headers),
        (patch.filter !== undefined ? patch.filter : before.filter) === null
          ? null
          : JSON.stringify(patch.filter !== undefined ? patch.filter : before.filter),
        now,
        patch.ordering ?? before.ordering,
        status,
        id,
      );
      if (patch.url !== undefined) {
        this.stmt("UPDATE deliveries SET url = ? WHERE webhook_id = ? AND status = 'pending'").run(
          patch.url,
          id,
        );
      }
      if (before.status !== status) {
        if (status === 'disabled') this.parkEndpoint(id);
        else if (this.accountActive(accountId)) this.unparkEndpoint(id, now);
        const after = { id, url: patch.url ?? before.url };
        this.operational.publish(
          accountId,
          status === 'disabled' ? webhookDisabled(after, 'manual') : webhookEnabled(after),
          now,
        );
      }
      const reordered = patch.ordering !== undefined && patch.ordering !== before.ordering;
      if (reordered) switchOrdering((sql) => this.stmt(sql), id, patch.ordering!, now);
      const after = toWebhook(this.stmt('SELECT * FROM webhooks WHERE id = ?').get(id) as Row);
      this.auditWebhookChange(before, after, actor, now);
      return {
        webhook: after,
        woke: (before.status !== status && status === 'enabled') || reordered,
      };
    });
    if (this.operational.takeWake()) this.notify();
    if (!result) return null;
    if (result.woke) this.notify();
    return result.webhook;
  }

  /** `webhook.updated`, or `webhook.enabled` / `webhook.disabled` when only the status moved. */
  private auditWebhookChange(before: Webhook, after: Webhook, actor: Actor, now: number): void {
    const changes = webhookChanges(before, after);
    const fields = Object.keys(changes);
    if (fields.length === 0) return;
    const statusOnly = fields.every((f) => f === 'status' || f === 'disabled_reason');
    this.audit({
      accountId: after.accountId,
      actor,
      action: statusOnly ? `webhook.${after.status}` : 'webhook.updated',
      targetId: after.id,
      changes,
      at: now,
    });
  }

  /** A disabled endpoint's pending deliveries wait, off the due index, until it is enabled. */
  private parkEndpoint(webhookId: string): void {
    this.stmt(
      'UPDATE deliveries SET due_at = NULL WHERE webhook_id = ? AND due_at IS NOT NULL AND lease_token IS NULL',
    ).run(webhookId);
  }

  private unparkEndpoint(webhookId: string, now: number): void {
    this.stmt(
      `UPDATE deliveries SET held = 0, due_at = CASE
           WHEN manual_requested = 1 THEN ?
           WHEN status = 'pending' AND coalesce(order_state, '') <> 'waiting'
             THEN max(coalesce(next_attempt_at, ?), ?)
           ELSE NULL END
       WHERE webhook_id = ? AND due_at IS NULL AND (status = 'pending' OR manual_requested = 1)`,
    ).run(now, now, now, webhookId);
  }

  async rotateSecret(
    accountId: string,
    id: string,
    rotation: SecretRotation,
    now: number,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook | null> {
    return this.tx(() => {
      const info = this.stmt(
        `UPDATE webhooks SET previous_secret = ?, previous_secret_expires_at = ?, secret = ?,
           updated_at = ?
         WHERE account_id = ? AND id = ?`,
      ).run(
        rotation.sealedPreviousSecret,
        rotation.previousExpiresAt,
        rotation.sealedSecret,
        now,
        accountId,
        id,
      );
      if (info.changes === 0) return null;
      this.audit({
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
      return toWebhook(this.stmt('SELECT * FROM webhooks WHERE id = ?').get(id) as Row);
    });
  }

  async deleteWebhook(
    accountId: string,
    id: string,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<boolean> {
    return this.tx(() => {
      const existing = this.stmt('SELECT * FROM webhooks WHERE account_id = ? AND id = ?').get(
        accountId,
        id,
      ) as Row | undefined;
      const info = this.stmt('DELETE FROM webhooks WHERE account_id = ? AND id = ?').run(
        accountId,
        id,
      );
      if (info.changes === 0) return false;
      // Its history goes in the background (purgeDeleted): removing 200,000 deliveries here
      // held the writer for 1.0-1.4 s, and every endpoint's deliveries with it.
      markDeleted((sql) => this.stmt(sql), 'webhook', id, Date.now());
      this.audit({
        accountId,
        actor,
        action: 'webhook.deleted',
        targetId: id,
        changes: webhookChanges(toWebhook(existing!), null),
        at: Date.now(),
      });
      return true;
    });
  }

  // ---- events ----

  async publish(request: PublishRequest): Promise<PublishedEvent[]> {
    const { accountId, now } = request;
    const published = await this.tx(() => {
      const endpoints = (
        this.stmt(
          `SELECT id, url, events, filter, updated_at, ordering FROM webhooks
           WHERE account_id = ? AND status = 'enabled'
             AND EXISTS (SELECT 1 FROM accounts WHERE id = ? AND status = 'active')`,
        ).all(accountId, accountId) as Row[]
      ).map((r) => ({
        id: String(r.id),
        url: String(r.url),
        events: JSON.parse(String(r.events)) as string[],
        filter: this.filters.predicateFor(String(r.id), num(r.updated_at), strOrNull(r.filter)),
        ordered: r.ordering === 'per_key',
      }));
      const findKey = this.stmt(
        'SELECT * FROM events WHERE account_id = ? AND idempotency_key = ?',
      );
      const insertEvent = this.stmt(
        `INSERT INTO events (id, account_id, type, timestamp, payload, idempotency_key, created_at,
           ordering_key, traceparent)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const insertDelivery = this.stmt(
        `INSERT INTO deliveries (id, account_id, webhook_id, event_id, event_type, url, status,
           next_attempt_at, due_at, created_at, updated_at, ordering_key, order_state, order_seq)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)`,
      );
      const out: PublishedEvent[] = [];
      for (const e of request.events) {
        if (e.idempotencyKey !== null) {
          const existing = findKey.get(accountId, e.idempotencyKey) as Row | undefined;
          if (existing) {
            if (num(existing.created_at) > now - request.idempotencyWindowMs) {
              if (!sameEvent(toEvent(existing), e)) {
                throw new IdempotencyConflictError(e.idempotencyKey);
              }
              const n = num(
                (
                  this.stmt('SELECT count(*) AS n FROM deliveries WHERE event_id = ?').get(
                    existing.id,
                  ) as Row
                ).n,
              );
              out.push({ event: toEvent(existing), deliveries: n, duplicate: true });
              continue;
            }
            this.stmt('UPDATE events SET idempotency_key = NULL WHERE id = ?').run(existing.id);
          }
        }
        const orderingKey = e.orderingKey ?? null;
        insertEvent.run(
          e.id,
          accountId,
          e.type,
          e.timestamp,
          e.payload,
          e.idempotencyKey,
          now,
          orderingKey,
          e.traceparent ?? null,
        );
        let deliveries = 0;
        const subject = filterSubject(e);
        for (const endpoint of endpoints) {
          if (!subscriptionMatches(endpoint.events, e.type)) continue;
          if (endpoint.filter && !endpoint.filter(subject())) continue;
          // In a key's order, only the head is due; the others wait off the due index.
          const place =
            endpoint.ordered && orderingKey !== null
              ? placeOne((sql) => this.stmt(sql), endpoint.id, orderingKey)
              : null;
          const due = place?.state === 'waiting' ? null : now;
          insertDelivery.run(
            request.newDeliveryId(),
            accountId,
            endpoint.id,
            e.id,
            e.type,
            endpoint.url,
            due,
            due,
            now,
            now,
            orderingKey,
            place?.state ?? null,
            place?.seq ?? null,
          );
          deliveries++;
        }
        out.push({
          event: {
            id: e.id,
            accountId,
            type: e.type,
            timestamp: e.timestamp,
            payload: e.payload,
            orderingKey,
            test: false,
            traceparent: e.traceparent ?? null,
            createdAt: now,
          },
          deliveries,
          duplicate: false,
        });
      }
      return out;
    });
    if (published.some((p) => !p.duplicate && p.deliveries > 0)) this.notify();
    return published;
  }

  async getEvent(accountId: string, id: string): Promise<StoredEvent | null> {
    const row = await this.run(
      () =>
        this.stmt('SELECT * FROM events WHERE account_id = ? AND id = ?').get(accountId, id) as Row,
    );
    return row ? toEvent(row) : null;
  }

  async listEvents(accountId: string, filter: EventFilter, page: Page): Promise<StoredEvent[]> {
    const { where, args } = conditions(accountId, page, [
      ['type = ?', filter.eventType],
      ['created_at >= ?', filter.since],
      ['created_at < ?', filter.until],
    ]);
    const rows = await this.run(
      () =>
        this.stmt(`SELECT * FROM events WHERE ${where} ORDER BY id DESC LIMIT ?`).all(
          ...args,
          page.limit,
        ) as Row[],
    );
    return rows.map(toEvent);
  }

  // ---- deliveries ----

  async listDeliveries(accountId: string, filter: DeliveryFilter, page: Page): Promise<Delivery[]> {
    const { where, args } = conditions(accountId, page, [
      ['webhook_id = ?', filter.webhookId],
      ['status = ?', filter.status],
      ['event_type = ?', filter.eventType],
      ['ordering_key = ?', filter.orderingKey],
      ['created_at >= ?', filter.since],
      ['created_at < ?', filter.until],
      ['updated_at >= ?', filter.updatedSince],
    ]);
    const rows = await this.run(
      () =>
        this.stmt(
          `SELECT d.*, ${WAITING_FOR} FROM deliveries d
           WHERE ${where} AND ${notDeletedWebhook('webhook_id')}
           ORDER BY id DESC LIMIT ?`,
        ).all(...args, page.limit) as Row[],
    );
    return rows.map(toDelivery);
  }

  async getDelivery(accountId: string, id: string): Promise<DeliveryDetail | null> {
    return this.run(() => {
      const row = this.stmt(
        `SELECT d.*, e.payload, ${WAITING_FOR} FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.account_id = ? AND d.id = ? AND ${notDeletedWebhook('d.webhook_id')}`,
      ).get(accountId, id) as Row | undefined;
      if (!row) return null;
      const attempts = (
        this.stmt('SELECT * FROM attempts WHERE delivery_id = ? ORDER BY rowid').all(id) as Row[]
      ).map(toAttempt);
      return { ...toDelivery(row), payload: String(row.payload), attempts };
    });
  }

  async requestRetry(accountId: string, id: string, now: number): Promise<Delivery | null> {
    const delivery = await this.tx(() => {
      const row = this.stmt(
        `SELECT d.*, w.status AS webhook_status FROM deliveries d
         LEFT JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.account_id = ? AND d.id = ?`,
      ).get(accountId, id) as Row | undefined;
      if (!row) return null;
      if (row.webhook_status === null || row.webhook_status === undefined) return 'no_endpoint';
      const enabled = row.webhook_status === 'enabled' && this.accountActive(accountId);
      // A leased delivery keeps its lease; the worker re-checks the flag when it completes.
      this.stmt(
        `UPDATE deliveries SET manual_requested = 1, held = 0, updated_at = ?,
           due_at = CASE WHEN lease_token IS NOT NULL AND due_at > ? THEN due_at
                         WHEN ? THEN ? ELSE NULL END
         WHERE id = ?`,
      ).run(now, now, enabled ? 1 : 0, now, id);
      return toDelivery(
        this.stmt(`SELECT d.*, ${WAITING_FOR} FROM deliveries d WHERE d.id = ?`).get(id) as Row,
      );
    });
    if (delivery === 'no_endpoint') return null;
    if (delivery) this.notify();
    return delivery;
  }

  async recoverFailed(
    accountId: string,
    webhookId: string,
    since: number,
    now: number,
  ): Promise<number> {
    const count = await this.tx(() => {
      const webhook = this.stmt('SELECT status FROM webhooks WHERE account_id = ? AND id = ?').get(
        accountId,
        webhookId,
      ) as Row | undefined;
      if (!webhook) return 0;
      const enabled = webhook.status === 'enabled' && this.accountActive(accountId);
      return this.stmt(
        `UPDATE deliveries SET manual_requested = 1, held = 0, updated_at = ?, due_at = ?
         WHERE webhook_id = ? AND status = 'failed' AND created_at >= ? AND manual_requested = 0`,
      ).run(now, enabled ? now : null, webhookId, since).changes;
    });
    if (count > 0) this.notify();
    return count;
  }

  async recordTestSend(record: TestSendRecord): Promise<void> {
    const { attempt, now } = record;
    await this.tx(() => {
      this.stmt(
        `INSERT INTO events (id, account_id, type, timestamp, payload, test, created_at)
         VALUES (?, ?, ?, ?, ?, 1, ?)`,
      ).run(
        record.event.id,
        record.accountId,
        record.event.type,
        record.event.timestamp,
        record.event.payload,
        now,
      );
      this.stmt(
        `INSERT INTO deliveries (id, account_id, webhook_id, event_id, event_type, url, status,
           attempt_count, last_status_code, last_duration_ms, last_error, last_attempt_at, test,
           created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, 1, ?, ?)`,
      ).run(
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
        now,
      );
      if (this.insertAttempt(attempt, record.webhookId) && record.webhookId !== null) {
        const rollups = new RollupBatch();
        rollups.attempt(record.webhookId, record.accountId, attempt.startedAt, attempt.durationMs);
        rollups.status(
          record.webhookId,
          record.accountId,
          now,
          null,
          record.succeeded ? 'succeeded' : 'failed',
        );
        writeRollups((sql) => this.stmt(sql), rollups);
      }
    });
  }

  /** Inserts the attempt when its delivery still exists; returns whether it did. */
  private insertAttempt(attempt: Attempt, webhookId: string | null): boolean {
    return (
      this.stmt(
        `INSERT INTO attempts (delivery_id, webhook_id, attempt, trigger, url, started_at,
           duration_ms, status_code, response_body, error, request_headers)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
         WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?)`,
      ).run(
        attempt.deliveryId,
        webhookId,
        attempt.attempt,
        attempt.trigger,
        attempt.url,
        attempt.startedAt,
        attempt.durationMs,
        attempt.statusCode,
        attempt.responseBody,
        attempt.error,
        JSON.stringify(attempt.requestHeaders),
        attempt.deliveryId,
      ).changes > 0
    );
  }

  async webhookStats(request: StatsRequest): Promise<WebhookStats> {
    return this.run(() => {
      const owned = this.stmt('SELECT 1 FROM webhooks WHERE account_id = ? AND id = ?').get(
        request.accountId,
        request.webhookId,
      );
      if (!owned) return { succeeded: 0, failed: 0, pending: 0, lastDeliveryAt: null, buckets: [] };
      return readStats((sql) => this.stmt(sql), request);
    });
  }

  // ---- the worker's side ----

  async claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    return this.tx(() => this.claimWithin(request));
  }

  /**
   * The claim, inside a transaction the caller opened. `freed`: endpoints whose attempts the
   * same transaction just recorded, with how many: their held rows are candidates first, so
   * a busy endpoint's backlog goes from held to leased without a trip through the due index.
   */
  private claimWithin(request: ClaimRequest, freed?: Map<string, number>): ClaimedDelivery[] {
    const { now } = request;
    // Leased rows per endpoint, counted from the covering index of leased rows, only for
    // the endpoints this claim is about: a count over every lease costs 0.1 ms per claim
    // at 512 in flight; this costs a few µs per endpoint.
    const countLeased = this.stmt(
      `SELECT count(*) AS n FROM deliveries INDEXED BY deliveries_leased
         WHERE webhook_id = ? AND lease_token IS NOT NULL AND due_at > ?`,
    );
    const inFlight = new Map<string, number>();
    const leasedOf = (webhookId: string): number => {
      let n = inFlight.get(webhookId);
      if (n === undefined) {
        n = num((countLeased.get(webhookId, now) as Row).n);
        inFlight.set(webhookId, n);
      }
      return n;
    };
    this.releaseHeld(leasedOf, request);
    // The due index in due order, bounded by the claim size: rows of endpoints at their cap
    // are held (below), so no claim reads a saturated endpoint's backlog twice. Measured
    // on this 2-core machine with 20k due rows of one saturated endpoint, claims of 200:
    // 4.95 ms per claim when they were skipped with NOT IN (every claim rescans them all),
    // 1.8-2.0 ms with holding, each of those claims writing its 200 rows out of the index.
    const rows: Row[] = [];
    const heldOf = this.stmt(
      `SELECT ${CANDIDATE_COLUMNS}
         FROM deliveries WHERE webhook_id = ? AND held = 1 AND due_at IS NULL
         ORDER BY id LIMIT ?`,
    );
    for (const [webhookId, count] of freed ?? []) {
      const room = request.limit - rows.length;
      if (room <= 0) break;
      rows.push(...(heldOf.all(webhookId, Math.min(count, room)) as Row[]));
    }
    // The accounts in turn, each its share of twice the claim size: when more is leasable
    // than the claim may take, the plan takes in turn across accounts and endpoints
    // (fair-share.ts), never the head of one global due order.
    const window = request.limit * 2;
    if (rows.length < window) {
      const stmt = (sql: string) => this.stmt(sql);
      const accounts = accountsInTurn(stmt, this.rotation, now);
      rows.push(...dueOf(stmt, accounts, perAccount(window - rows.length, accounts.length), now));
    }
    const candidates = rows.map((r): ClaimCandidate => ({
      deliveryId: String(r.id),
      accountId: String(r.account_id),
      webhookId: strOrNull(r.webhook_id),
      eventId: String(r.event_id),
      orderingKey: strOrNull(r.ordering_key),
      attemptCount: num(r.attempt_count),
      autoAttempts: num(r.auto_attempts),
      manual: r.manual_requested === 1,
      waiting: r.order_state === 'waiting',
    }));
    if (candidates.length === 0) return [];

    const webhookIds = [...new Set(candidates.map((c) => c.webhookId).filter((id) => id !== null))];
    const endpoints = new Map<string, EndpointBucket & { webhook: Webhook }>();
    for (const row of this.stmt(
      'SELECT * FROM webhooks WHERE id IN (SELECT value FROM json_each(?))',
    ).all(JSON.stringify(webhookIds)) as Row[]) {
      const webhook = toWebhook(row);
      endpoints.set(webhook.id, {
        webhook,
        webhookId: webhook.id,
        enabled: webhook.status === 'enabled',
        inFlight: leasedOf(webhook.id),
        concurrencyLimit: webhook.throttle.limit,
        ratePerMinute:
          webhook.rateLimitPerMinute ??
          webhook.accountRateLimitPerMinute ??
          request.defaultRateLimitPerMinute,
        tokens: numOrNull(row.rate_tokens),
        refilledAt: numOrNull(row.rate_refilled_at),
      });
    }

    // Body sizes only for a claim with a byte budget: octet_length reads the record header,
    // not the body (2,000 bodies of 245 KiB: 2.5 ms, against 1.5 s for length()).
    let sizes: Map<string, number> | undefined;
    if (request.maxPayloadBytes !== undefined) {
      const rows = this.stmt(
        `SELECT id, octet_length(payload) AS n FROM events
         WHERE id IN (SELECT value FROM json_each(?))`,
      ).all(JSON.stringify([...new Set(candidates.map((c) => c.eventId))])) as Row[];
      sizes = new Map(rows.map((r) => [String(r.id), num(r.n)]));
    }
    const plan = planClaim(candidates, endpoints, request, sizes);

    // A candidate may come from the held rows: each outcome sets `held` as well as `due_at`.
    const park = this.stmt('UPDATE deliveries SET due_at = NULL, held = 0 WHERE id = ?');
    for (const id of plan.park) park.run(id);
    const hold = this.stmt(
      'UPDATE deliveries SET due_at = NULL, held = 1 WHERE id = ? AND held = 0',
    );
    for (const id of plan.hold) hold.run(id);
    holdBacklog(
      (sql) => this.stmt(sql),
      plan.saturated.map((id) => ({
        webhookId: id,
        accountId: endpoints.get(id)!.webhook.accountId,
      })),
      now,
    );
    const defer = this.stmt('UPDATE deliveries SET due_at = ?, held = 0 WHERE id = ?');
    for (const d of plan.defer) defer.run(d.dueAt, d.deliveryId);
    const bucket = this.stmt(
      'UPDATE webhooks SET rate_tokens = ?, rate_refilled_at = ? WHERE id = ?',
    );
    for (const b of plan.buckets) bucket.run(b.tokens, now, b.webhookId);
    const lease = this.stmt(
      'UPDATE deliveries SET due_at = ?, lease_token = ?, held = 0 WHERE id = ?',
    );
    const payloads = this.stmt(
      `SELECT type, octet_length(payload) AS bytes,
         CASE WHEN octet_length(payload) <= ? THEN payload END AS payload, traceparent
       FROM events WHERE id = ?`,
    );
    const inline = request.inlinePayloadBytes ?? Number.MAX_SAFE_INTEGER;
    const claimed: ClaimedDelivery[] = [];
    for (const c of plan.lease) {
      lease.run(now + request.leaseMs, request.leaseToken, c.deliveryId);
      const endpoint = endpoints.get(c.webhookId!)!;
      const event = payloads.get(inline, c.eventId) as Row;
      const webhook = endpoint.webhook;
      claimed.push(
        toClaimed(
          c,
          webhook,
          {
            type: String(event.type),
            payload: strOrNull(event.payload),
            payloadBytes: num(event.bytes),
            traceparent: strOrNull(event.traceparent),
          },
          request,
        ),
      );
    }
    return claimed;
  }

  private lastSweep = 0;

  /**
   * Held rows come back as their endpoint's attempts finish (completeAttempts). This sweep,
   * once a second, also frees them where no attempt is left to finish (a worker died).
   */
  private releaseHeld(leasedOf: (webhookId: string) => number, request: ClaimRequest): void {
    if (request.now - this.lastSweep < 1000) return;
    this.lastSweep = request.now;
    // Distinct held endpoints by skipping through the index, one seek per endpoint.
    const held = this.stmt(
      `WITH RECURSIVE w(id) AS (
         SELECT (SELECT min(webhook_id) FROM deliveries WHERE held = 1)
         UNION ALL
         SELECT (SELECT min(webhook_id) FROM deliveries WHERE held = 1 AND webhook_id > w.id)
         FROM w WHERE w.id IS NOT NULL)
       SELECT id FROM w WHERE id IS NOT NULL`,
    ).all() as Row[];
    const limitOf = this.stmt('SELECT concurrency_limit FROM webhooks WHERE id = ?');
    for (const row of held) {
      const id = String(row.id);
      const limit = numOrNull((limitOf.get(id) as Row | undefined)?.concurrency_limit);
      const room = effectiveCap(limit, request.maxInFlightPerEndpoint) - leasedOf(id);
      if (room > 0) this.unhold(id, room, request.now);
    }
  }

  private unhold(webhookId: string, count: number, now: number): number {
    return this.stmt(
      `UPDATE deliveries SET held = 0, due_at = min(?, coalesce(next_attempt_at, created_at)) WHERE id IN (
         SELECT id FROM deliveries WHERE webhook_id = ? AND held = 1 AND due_at IS NULL
         ORDER BY id LIMIT ?)`,
    ).run(now, webhookId, count).changes;
  }

  async completeAttempts(
    completed: CompletedAttempt[],
    policy: CompletionPolicy,
    next?: ClaimRequest,
  ): Promise<ClaimedDelivery[]> {
    if (completed.length === 0) return next ? this.claimDue(next) : [];
    const { now } = policy;
    // One commit for both. Measured in the bench, each transaction spent 360-460 µs in BEGIN
    // and COMMIT, as long as recording about 20 attempts, and the claim rewrites pages the
    // completion has just written.
    const { woke, claimed } = await this.tx(() => {
      let wake = false;
      const freed = new Map<string, number>();
      const health = new Map<string, HealthOutcome[]>();
      const signals = new Map<string, ThrottleSignal[]>();
      // One statement per outcome, no read first: SET expressions see the row as it was, so
      // a manual retry asked for during an auto attempt, and a manual failure that leaves the
      // status as it was, are decided in SQL.
      const update = this.stmt(
        `UPDATE deliveries SET
           status = CASE :kind WHEN 'succeeded' THEN 'succeeded' WHEN 'retry' THEN 'pending'
                               WHEN 'failed' THEN 'failed' ELSE status END,
           next_attempt_at = CASE :kind WHEN 'retry' THEN :next WHEN 'unchanged' THEN next_attempt_at
                                        ELSE NULL END,
           due_at = CASE
             WHEN :auto = 1 AND manual_requested = 1 AND :kind <> 'succeeded' THEN :now
             WHEN :kind = 'retry' THEN :next
             WHEN :kind = 'unchanged' AND status = 'pending' THEN next_attempt_at
             ELSE NULL END,
           manual_requested = CASE
             WHEN :auto = 1 AND manual_requested = 1 AND :kind <> 'succeeded' THEN 1 ELSE 0 END,
           attempt_count = attempt_count + 1, auto_attempts = auto_attempts + :auto,
           last_status_code = :code, last_duration_ms = :duration, last_error = :error,
           last_attempt_at = :started, lease_token = NULL, held = 0, updated_at = :now
         WHERE id = :id AND lease_token = :lease
         RETURNING manual_requested, created_at, attempt_count, order_state`,
      );
      const rollups = new RollupBatch();
      // Deliveries that left `pending` in a key's order: the next of the key may go.
      const finished: FinishedDelivery[] = [];
      for (const { claim, attempt, outcome, endpointGone } of completed) {
        // The delivery is gone (its webhook was deleted mid-attempt): nothing to record.
        if (!this.insertAttempt(attempt, claim.webhookId)) continue;
        rollups.attempt(claim.webhookId, claim.accountId, attempt.startedAt, attempt.durationMs);
        const auto = claim.trigger === 'auto' ? 1 : 0;
        const before = this.statusBefore(claim, outcome);
        const updated = update.get({
          kind: outcome.kind,
          next: outcome.kind === 'retry' ? outcome.nextAttemptAt : null,
          auto,
          now,
          code: attempt.statusCode,
          duration: attempt.durationMs,
          error: attempt.error,
          started: attempt.startedAt,
          id: claim.deliveryId,
          lease: claim.leaseToken,
        }) as Row | undefined;
        if (updated && outcome.kind !== 'unchanged' && outcome.kind !== 'retry') {
          if (updated.order_state !== null) {
            finished.push({
              deliveryId: claim.deliveryId,
              webhookId: claim.webhookId,
              orderingKey: claim.orderingKey,
              orderState: updated.order_state as OrderState,
            });
          }
          rollups.status(
            claim.webhookId,
            claim.accountId,
            num(updated.created_at),
            before,
            outcome.kind,
          );
        }
        // A manual retry asked for while this attempt was in flight still gets its attempt.
        if (updated?.manual_requested === 1) wake = true;
        // SPEC §11: once per delivery (only this completion moves it to failed), never about
        // an operational event's own delivery.
        if (updated && outcome.kind === 'failed' && !isOperationalEventType(claim.eventType)) {
          const exhausted = deliveryExhausted(
            claim,
            num(updated.attempt_count),
            attempt.statusCode,
            attempt.error,
          );
          this.operational.publish(claim.accountId, exhausted, now);
        }
        const succeeded = outcome.kind === 'succeeded';
        let list = health.get(claim.webhookId);
        if (!list) health.set(claim.webhookId, (list = []));
        list.push({ succeeded, gone: endpointGone });
        freed.set(claim.webhookId, (freed.get(claim.webhookId) ?? 0) + 1);
        let signalled = signals.get(claim.webhookId);
        if (!signalled) signals.set(claim.webhookId, (signalled = []));
        signalled.push(throttleSignal(succeeded, attempt.statusCode));
      }
      if (finished.length > 0 && releaseNext((sql) => this.stmt(sql), finished, now) > 0) {
        wake = true;
      }
      for (const [webhookId, outcomes] of health) this.recordHealth(webhookId, outcomes, policy);
      writeRollups((sql) => this.stmt(sql), rollups);
      recordThrottle((sql) => this.stmt(sql), signals, policy.throttle ?? DEFAULT_THROTTLE, now);
      // Each finished attempt frees a slot of its endpoint: as many held rows become due,
      // or, when this transaction claims too, become its first candidates.
      if (next) return { woke: wake, claimed: this.claimWithin(next, freed) };
      for (const [webhookId, count] of freed) {
        if (this.unhold(webhookId, count, now) > 0) wake = true;
      }
      return { woke: wake, claimed: [] };
    });
    // With `next`, what became due was claimed just now; the caller claims again if its batch
    // came back full.
    if ((woke && !next) || this.operational.takeWake()) this.notify();
    return claimed;
  }

  /**
   * The status a delivery had before this attempt, for the rollups. An automatic attempt is
   * only ever made on a pending delivery; a manual one may be made on any, and only its
   * success changes the status (then the row is read, a rare path).
   */
  private statusBefore(
    claim: CompletedAttempt['claim'],
    outcome: CompletedAttempt['outcome'],
  ): DeliveryStatus {
    if (claim.trigger === 'auto' || outcome.kind !== 'succeeded') return 'pending';
    const row = this.stmt('SELECT status FROM deliveries WHERE id = ?').get(claim.deliveryId) as
      Row | undefined;
    return (row?.status as DeliveryStatus | undefined) ?? 'pending';
  }

  /** Auto-disable (health.ts): one read of the endpoint, one write when anything changed. */
  private recordHealth(
    webhookId: string,
    outcomes: HealthOutcome[],
    policy: CompletionPolicy,
  ): void {
    const row = this.stmt(
      'SELECT account_id, status, failing_since FROM webhooks WHERE id = ?',
    ).get(webhookId) as Row | undefined;
    if (!row) return;
    const change = applyOutcomes(
      { status: String(row.status) as WebhookStatus, failingSince: numOrNull(row.failing_since) },
      outcomes,
      policy,
      (since) =>
        num(
          (
            this.stmt(
              `SELECT EXISTS (SELECT 1 FROM attempts a
                 WHERE a.webhook_id = ? AND ${succeededSinceSql('?')}) AS found`,
            ).get(webhookId, since) as Row
          ).found,
        ) === 1,
    );
    if (!change.changed) return;
    const reason = change.disable;
    this.stmt(
      `UPDATE webhooks SET failing_since = ?,
         status = CASE WHEN ? IS NULL THEN status ELSE 'disabled' END,
         disabled_reason = coalesce(?, disabled_reason),
         updated_at = CASE WHEN ? IS NULL THEN updated_at ELSE ? END
       WHERE id = ?`,
    ).run(change.failingSince, reason, reason, reason, policy.now, webhookId);
    if (reason) {
      this.parkEndpoint(webhookId);
      this.audit({
        accountId: String(row.account_id),
        actor: SYSTEM_ACTOR,
        action: 'webhook.disabled',
        targetId: webhookId,
        changes: {
          status: { old: 'enabled', new: 'disabled' },
          disabled_reason: { old: null, new: reason },
        },
        at: policy.now,
      });
      this.operational.publishAbout(webhookId, (w) => webhookDisabled(w, reason), policy.now);
    }
  }

  async readPayloads(eventIds: readonly string[]): Promise<Map<string, string>> {
    return this.run(() => {
      const rows = this.stmt(
        'SELECT id, payload FROM events WHERE id IN (SELECT value FROM json_each(?))',
      ).all(JSON.stringify(eventIds)) as Row[];
      return new Map(rows.map((r) => [String(r.id), String(r.payload)]));
    });
  }

  async nextDueAt(): Promise<number | null> {
    return this.run(() =>
      numOrNull(
        (this.stmt('SELECT min(due_at) AS t FROM deliveries WHERE due_at IS NOT NULL').get() as Row)
          .t,
      ),
    );
  }

  onWake(listener: () => void): () => void {
    this.wake.on('wake', listener);
    return () => this.wake.off('wake', listener);
  }

  async purge(before: number, batch: number): Promise<PurgeResult> {
    return this.tx(() => {
      const attempts = this.stmt(
        `DELETE FROM attempts WHERE rowid IN (
           SELECT a.rowid FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
           WHERE d.created_at < ? AND d.status <> 'pending' LIMIT ?)`,
      ).run(before, batch).changes;
      const deliveries = this.stmt(
        `DELETE FROM deliveries WHERE id IN (
           SELECT d.id FROM deliveries d WHERE d.created_at < ? AND d.status <> 'pending'
             AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
           LIMIT ?)`,
      ).run(before, batch).changes;
      const events = this.stmt(
        `DELETE FROM events WHERE id IN (
           SELECT e.id FROM events e WHERE e.created_at < ?
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
           LIMIT ?)`,
      ).run(before, batch).changes;
      const rollups = purgeExpiredRollups((sql) => this.stmt(sql), before, batch);
      return { events, deliveries, attempts, rollups };
    });
  }

  async purgeDeleted(batch: number): Promise<PurgeResult & { remaining: boolean }> {
    return this.tx(() => purgeDeletedBatch((sql) => this.stmt(sql), batch));
  }

  async queueStats(now: number): Promise<QueueStats> {
    return this.run(() => {
      const due = this.stmt(
        `SELECT count(*) AS n, min(due_at) AS oldest FROM deliveries INDEXED BY deliveries_due
         WHERE due_at <= ?`,
      ).get(now) as Row;
      const later = this.stmt(
        'SELECT count(*) AS n FROM deliveries INDEXED BY deliveries_due WHERE due_at > ?',
      ).get(now) as Row;
      const inFlight = this.stmt(
        `SELECT count(*) AS n FROM deliveries INDEXED BY deliveries_leased
         WHERE lease_token IS NOT NULL AND due_at > ?`,
      ).get(now) as Row;
      const held = this.stmt(
        'SELECT count(*) AS n FROM deliveries INDEXED BY deliveries_held WHERE held = 1',
      ).get() as Row;
      const longestThrottled = this.stmt(THROTTLED_SINCE).get({ now }) as Row;
      const endpoints: Record<string, number> = {};
      for (const row of this.stmt(
        'SELECT status, disabled_reason, count(*) AS n FROM webhooks GROUP BY status, disabled_reason',
      ).all() as Row[]) {
        const key =
          row.status === 'enabled'
            ? 'enabled'
            : `disabled:${String(row.disabled_reason ?? 'manual')}`;
        endpoints[key] = (endpoints[key] ?? 0) + num(row.n);
      }
      const throttled: Record<string, number> = {};
      for (const row of this.stmt(
        `SELECT throttle_reason, count(*) AS n FROM webhooks
         WHERE concurrency_limit IS NOT NULL GROUP BY throttle_reason`,
      ).all() as Row[]) {
        throttled[String(row.throttle_reason)] = num(row.n);
      }
      return {
        throttled,
        due: num(due.n),
        oldestDueAt: numOrNull(due.oldest),
        inFlight: num(inFlight.n),
        scheduled: num(later.n) - num(inFlight.n),
        held: num(held.n),
        oldestThrottledAt: numOrNull(longestThrottled.t),
        endpoints,
      };
    });
  }

  async configureOperatorWebhook(
    setting: { url: string; sealedSecret: string } | null,
    now: number,
  ): Promise<void> {
    await this.tx(() => this.operational.configureOperator(setting, now));
    this.notify();
  }

  /**
   * The replaced values of a reseal (clear-text secrets, when a key was set for the first time)
   * linger in free space, free pages and the WAL's old frames: VACUUM rewrites the file without
   * them, and a TRUNCATE checkpoint empties the WAL. Once per reseal, which is rare.
   */
  private scrubFreedPages(): void {
    this.db.exec('VACUUM');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  async resealSecrets(reseal: (sealed: string) => string): Promise<number> {
    let changed = 0;
    let after = '';
    for (;;) {
      const rows = await this.run(
        () =>
          this.stmt(
            'SELECT id, secret, previous_secret FROM webhooks WHERE id > ? ORDER BY id LIMIT 500',
          ).all(after) as Row[],
      );
      if (rows.length === 0) {
        if (changed > 0) await this.run(() => this.scrubFreedPages());
        return changed;
      }
      changed += await this.tx(() => {
        let n = 0;
        for (const row of rows) {
          const secret = reseal(String(row.secret));
          const previous =
            row.previous_secret === null ? null : reseal(String(row.previous_secret));
          if (secret === row.secret && previous === row.previous_secret) continue;
          this.stmt('UPDATE webhooks SET secret = ?, previous_secret = ? WHERE id = ?').run(
            secret,
            previous,
            row.id,
          );
          n++;
        }
        return n;
      });
      after = String(rows[rows.length - 1]!.id);
    }
  }
}
