// The SQLite side of stats rollups (../rollups.ts) and of the batched purge of deleted webhooks
// and accounts. Everything here runs inside the engine's own transactions or reads.
import type Database from 'better-sqlite3';
import { DurationHistogram } from '../../core/histogram.js';
import { foldStats, SLOT_MS, type RollupBatch, type RollupRow } from '../rollups.js';
import { num, numOrNull, type Row } from '../rows.js';
import type { PurgeResult, StatsRequest, WebhookStats } from '../types.js';

type Stmt = (sql: string) => Database.Statement;

/** What an owner mark stands for: its history is purged by purgeDeleted. */
export type DeletedKind = 'webhook' | 'account';

/**
 * SQL functions the rollups need: merging two stored histograms (the upsert) and building one
 * from durations (the backfill migration). Registered before migrating.
 */
export function registerRollupFunctions(db: Database.Database): void {
  db.function('rizler_hist_merge', { deterministic: true }, (a: unknown, b: unknown) =>
    DurationHistogram.mergeText(a === null ? null : String(a), b === null ? null : String(b)),
  );
  db.aggregate('rizler_hist', {
    start: () => new DurationHistogram(),
    step: (h: DurationHistogram, ms: unknown) => h.add(Number(ms)),
    result: (h: DurationHistogram) => JSON.stringify(h),
  });
}

/** Adds a transaction's rollup changes: one upsert per endpoint and slot. */
export function writeRollups(stmt: Stmt, batch: RollupBatch): void {
  const deltas = batch.deltas();
  if (deltas.length === 0) return;
  const upsert = stmt(
    `INSERT INTO delivery_rollups (webhook_id, slot, account_id, succeeded, failed,
       last_attempt_at, histogram)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (webhook_id, slot) DO UPDATE SET
       succeeded = succeeded + excluded.succeeded,
       failed = failed + excluded.failed,
       last_attempt_at = max(coalesce(last_attempt_at, excluded.last_attempt_at),
                             coalesce(excluded.last_attempt_at, last_attempt_at)),
       histogram = rizler_hist_merge(histogram, excluded.histogram)`,
  );
  for (const d of deltas) {
    upsert.run(
      d.webhookId,
      d.slot,
      d.accountId,
      d.succeeded,
      d.failed,
      d.lastAttemptAt,
      JSON.stringify(d.histogram),
    );
  }
}

/** Stats of one endpoint from its rollups and its pending deliveries (the caller checked it). */
export function readStats(stmt: Stmt, request: StatsRequest): WebhookStats {
  const { webhookId, since, bucketMs } = request;
  const rows = (
    stmt(
      `SELECT slot, succeeded, failed, histogram FROM delivery_rollups
       WHERE webhook_id = ? AND slot >= ?`,
    ).all(webhookId, since) as Row[]
  ).map((r): RollupRow => ({
    slot: num(r.slot),
    succeeded: num(r.succeeded),
    failed: num(r.failed),
    histogram: r.histogram,
  }));
  // Pending deliveries from their partial index: as many rows as are pending, not as were sent.
  const pending = new Map(
    (
      stmt(
        `SELECT (created_at - ?) / ? AS b, count(*) AS n FROM deliveries INDEXED BY deliveries_pending
         WHERE webhook_id = ? AND status = 'pending' AND created_at >= ? GROUP BY b`,
      ).all(since, bucketMs, webhookId, since) as Row[]
    ).map((r) => [num(r.b), num(r.n)]),
  );
  // The latest slot with an attempt holds the latest attempt: a few rows from the end.
  const last = stmt(
    `SELECT last_attempt_at FROM delivery_rollups
     WHERE webhook_id = ? AND last_attempt_at IS NOT NULL ORDER BY slot DESC LIMIT 1`,
  ).get(webhookId) as Row | undefined;
  return foldStats(rows, pending, numOrNull(last?.last_attempt_at), since, bucketMs);
}

/** Rollup rows whose whole slot is older than `before`, at most `batch`. */
export function purgeExpiredRollups(stmt: Stmt, before: number, batch: number): number {
  return stmt(
    `DELETE FROM delivery_rollups WHERE (webhook_id, slot) IN (
       SELECT webhook_id, slot FROM delivery_rollups WHERE slot <= ? LIMIT ?)`,
  ).run(before - SLOT_MS, batch).changes;
}

/**
 * Marks an owner whose rows are to be purged in the background. deleteWebhook calls it; an
 * account deletion calls it with 'account' in its own transaction, after deleting the account's
 * own rows (keys, webhooks), and purgeDeleted removes its events, deliveries, attempts and
 * rollups in batches.
 */
export function markDeleted(stmt: Stmt, kind: DeletedKind, id: string, now: number): void {
  stmt('INSERT OR IGNORE INTO deleted_owners (id, kind, deleted_at) VALUES (?, ?, ?)').run(
    id,
    kind,
    now,
  );
}

/** One batch of the oldest mark's rows; the mark goes once nothing of it is left. */
export function purgeDeletedBatch(stmt: Stmt, batch: number): PurgeResult & { remaining: boolean } {
  const result = { events: 0, deliveries: 0, attempts: 0, rollups: 0, remaining: false };
  const mark = stmt('SELECT id, kind FROM deleted_owners ORDER BY deleted_at, id LIMIT 1').get() as
    Row | undefined;
  if (!mark) return result;
  const id = String(mark.id);
  if (mark.kind === 'webhook') {
    result.attempts = stmt(
      `DELETE FROM attempts WHERE rowid IN (
         SELECT rowid FROM attempts WHERE webhook_id = ? LIMIT ?)`,
    ).run(id, batch).changes;
    // Pending ones first: until they are gone, claims meet them in the due index (and park them).
    result.deliveries = stmt(
      `DELETE FROM deliveries WHERE id IN (
         SELECT id FROM deliveries INDEXED BY deliveries_pending
         WHERE webhook_id = ? AND status = 'pending' LIMIT ?)
       AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = deliveries.id)`,
    ).run(id, batch).changes;
    result.deliveries += stmt(
      `DELETE FROM deliveries WHERE id IN (
         SELECT d.id FROM deliveries d WHERE d.webhook_id = ?
           AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
         LIMIT ?)`,
    ).run(id, Math.max(0, batch - result.deliveries)).changes;
    result.rollups = stmt(
      `DELETE FROM delivery_rollups WHERE (webhook_id, slot) IN (
         SELECT webhook_id, slot FROM delivery_rollups WHERE webhook_id = ? LIMIT ?)`,
    ).run(id, batch).changes;
  } else {
    result.attempts = stmt(
      `DELETE FROM attempts WHERE rowid IN (
         SELECT a.rowid FROM deliveries d JOIN attempts a ON a.delivery_id = d.id
         WHERE d.account_id = ? LIMIT ?)`,
    ).run(id, batch).changes;
    result.deliveries = stmt(
      `DELETE FROM deliveries WHERE id IN (
         SELECT d.id FROM deliveries d WHERE d.account_id = ?
           AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
         LIMIT ?)`,
    ).run(id, batch).changes;
    result.events = stmt(
      `DELETE FROM events WHERE id IN (
         SELECT e.id FROM events e WHERE e.account_id = ?
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
         LIMIT ?)`,
    ).run(id, batch).changes;
    result.rollups = stmt(
      `DELETE FROM delivery_rollups WHERE (webhook_id, slot) IN (
         SELECT webhook_id, slot FROM delivery_rollups WHERE account_id = ? LIMIT ?)`,
    ).run(id, batch).changes;
  }
  const full =
    result.attempts >= batch ||
    result.deliveries >= batch ||
    result.events >= batch ||
    result.rollups >= batch;
  let progressed = result.attempts + result.deliveries + result.events + result.rollups > 0;
  if (!full && !ownerHasRows(stmt, mark.kind === 'webhook' ? 'webhook' : 'account', id)) {
    stmt('DELETE FROM deleted_owners WHERE id = ?').run(id);
    progressed = true;
  }
  // A batch that could do nothing leaves the rest to the next run rather than spin.
  result.remaining = progressed && stmt('SELECT 1 FROM deleted_owners LIMIT 1').get() !== undefined;
  return result;
}

function ownerHasRows(stmt: Stmt, kind: DeletedKind, id: string): boolean {
  const column = kind === 'webhook' ? 'webhook_id' : 'account_id';
  const exists = (sql: string) => stmt(sql).get(id) !== undefined;
  return (
    exists(`SELECT 1 FROM deliveries WHERE ${column} = ? LIMIT 1`) ||
    exists(`SELECT 1 FROM delivery_rollups WHERE ${column} = ? LIMIT 1`) ||
    (kind === 'webhook'
      ? exists('SELECT 1 FROM attempts WHERE webhook_id = ? LIMIT 1')
      : exists('SELECT 1 FROM events WHERE account_id = ? LIMIT 1'))
  );
}
