// The PostgreSQL side of stats rollups (../rollups.ts). Each function runs on the query
// function it is handed: inside one of the engine's transactions, or on the pool for reads.
import { foldStats, SLOT_MS, type RollupBatch, type RollupRow } from '../rollups.js';
import { num, numOrNull, type Row } from '../rows.js';
import type { StatsRequest, WebhookStats } from '../types.js';
import { queuedOf } from './queue.js';

type Query = (text: string, values?: unknown[]) => Promise<Row[]>;

/** Sum of two histograms' counts, bucket by bucket (jsonb objects of bucket → count). */
const MERGE_HISTOGRAMS = `
  CASE WHEN EXCLUDED.histogram = '{}'::jsonb THEN r.histogram
       WHEN r.histogram = '{}'::jsonb THEN EXCLUDED.histogram
       ELSE (SELECT jsonb_object_agg(key, n) FROM (
               SELECT key, sum(value::bigint) AS n FROM (
                 SELECT * FROM jsonb_each_text(r.histogram)
                 UNION ALL SELECT * FROM jsonb_each_text(EXCLUDED.histogram)) AS e
               GROUP BY key) AS s)
  END`;

/**
 * The rollups' upsert, rows in key order, from the columns of rollupColumns at parameter `from`
 * on, where `when` holds (a condition on the whole statement, when it is part of a larger one).
 * An engine's transaction runs it last before COMMIT: a row is locked from here to the commit,
 * and completions of one busy endpoint by several workers wait on each other for no longer
 * than that.
 */
export const upsertRollups = (from: number, when = 'true') => `
  INSERT INTO delivery_rollups AS r (webhook_id, slot, account_id, succeeded, failed,
    last_attempt_at, histogram)
  SELECT u.webhook_id, u.slot, u.account_id, u.succeeded, u.failed, u.last_attempt_at,
    u.histogram::jsonb
  FROM unnest($${from}::text[], $${from + 1}::bigint[], $${from + 2}::text[], $${from + 3}::int[],
      $${from + 4}::int[], $${from + 5}::bigint[], $${from + 6}::text[]) WITH ORDINALITY
    AS u(webhook_id, slot, account_id, succeeded, failed, last_attempt_at, histogram, ord)
  WHERE ${when}
  ORDER BY u.ord
  ON CONFLICT (webhook_id, slot) DO UPDATE SET
    succeeded = r.succeeded + EXCLUDED.succeeded,
    failed = r.failed + EXCLUDED.failed,
    last_attempt_at = greatest(r.last_attempt_at, EXCLUDED.last_attempt_at),
    histogram = ${MERGE_HISTOGRAMS}`;

/** A batch's rows as upsertRollups takes them. */
export function rollupColumns(batch: RollupBatch): unknown[] {
  const deltas = batch.deltas();
  return [
    deltas.map((d) => d.webhookId),
    deltas.map((d) => d.slot),
    deltas.map((d) => d.accountId),
    deltas.map((d) => d.succeeded),
    deltas.map((d) => d.failed),
    deltas.map((d) => d.lastAttemptAt),
    deltas.map((d) => JSON.stringify(d.histogram)),
  ];
}

/** Adds a transaction's rollup changes in one statement (upsertRollups). */
export async function writeRollups(q: Query, batch: RollupBatch): Promise<void> {
  const columns = rollupColumns(batch);
  if ((columns[0] as unknown[]).length === 0) return;
  await q(upsertRollups(1), columns);
}

/** Stats of one endpoint from its rollups and its pending deliveries (the caller checked it). */
export async function readStats(q: Query, request: StatsRequest): Promise<WebhookStats> {
  const { webhookId, since, bucketMs } = request;
  const [rows, pending, last] = await Promise.all([
    q(
      `SELECT slot, succeeded, failed, histogram FROM delivery_rollups
       WHERE webhook_id = $1 AND slot >= $2`,
      [webhookId, since],
    ),
    // Pending deliveries through the queue, which holds each: as many rows as are queued now.
    q(
      `SELECT (d.created_at - $1) / $2 AS b, count(*) AS n FROM deliveries d
       WHERE d.id IN (${queuedOf('$3')}) AND d.status = 'pending' AND d.created_at >= $1
       GROUP BY b`,
      [since, bucketMs, webhookId],
    ),
    // The latest slot with an attempt holds the latest attempt: a few rows from the end.
    q(
      `SELECT last_attempt_at FROM delivery_rollups
       WHERE webhook_id = $1 AND last_attempt_at IS NOT NULL ORDER BY slot DESC LIMIT 1`,
      [webhookId],
    ),
  ]);
  return foldStats(
    rows.map((r): RollupRow => ({
      slot: num(r.slot),
      succeeded: num(r.succeeded),
      failed: num(r.failed),
      histogram: r.histogram,
    })),
    new Map(pending.map((r) => [num(r.b), num(r.n)])),
    numOrNull(last[0]?.last_attempt_at),
    since,
    bucketMs,
  );
}

/** Rollup rows whose whole slot is older than `before`, at most `batch`. */
export async function purgeExpiredRollups(
  q: Query,
  before: number,
  batch: number,
): Promise<number> {
  const rows = await q(
    `DELETE FROM delivery_rollups WHERE (webhook_id, slot) IN (
       SELECT webhook_id, slot FROM delivery_rollups WHERE slot <= $1 LIMIT $2)
     RETURNING 1`,
    [before - SLOT_MS, batch],
  );
  return rows.length;
}
