// The SQLite side of stats rollups (../rollups.ts). Everything here runs inside the engine's
// own transactions or reads.
import type Database from 'better-sqlite3';
import type { Stmt } from './statement.js';
import { DurationHistogram } from '../../core/histogram.js';
import { foldStats, SLOT_MS, type RollupBatch, type RollupRow } from '../rollups.js';
import { num, numOrNull, type Row } from '../rows.js';
import type { StatsRequest, WebhookStats } from '../types.js';

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
