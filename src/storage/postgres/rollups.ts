// The PostgreSQL side of stats rollups (../rollups.ts) and of the batched purge of deleted
// webhooks and accounts. Each function runs on the query function it is handed: inside one of
// the engine's transactions, or on the pool for reads.
import { foldStats, SLOT_MS, type RollupBatch, type RollupRow } from '../rollups.js';
import { num, numOrNull, type Row } from '../rows.js';
import type { PurgeResult, StatsRequest, WebhookStats } from '../types.js';

type Query = (text: string, values?: unknown[]) => Promise<Row[]>;

/** What an owner mark stands for: its history is purged by purgeDeleted. */
export type DeletedKind = 'webhook' | 'account';

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
 * Adds a transaction's rollup changes in one statement, rows in key order. The engine runs it
 * last before COMMIT: a row is locked from here to the commit, and completions of one busy
 * endpoint by several workers wait on each other for no longer than that.
 */
export async function writeRollups(q: Query, batch: RollupBatch): Promise<void> {
  const deltas = batch.deltas();
  if (deltas.length === 0) return;
  await q(
    `INSERT INTO delivery_rollups AS r (webhook_id, slot, account_id, succeeded, failed,
       last_attempt_at, histogram)
     SELECT u.webhook_id, u.slot, u.account_id, u.succeeded, u.failed, u.last_attempt_at,
       u.histogram::jsonb
     FROM unnest($1::text[], $2::bigint[], $3::text[], $4::int[], $5::int[], $6::bigint[],
         $7::text[]) WITH ORDINALITY
       AS u(webhook_id, slot, account_id, succeeded, failed, last_attempt_at, histogram, ord)
     ORDER BY u.ord
     ON CONFLICT (webhook_id, slot) DO UPDATE SET
       succeeded = r.succeeded + EXCLUDED.succeeded,
       failed = r.failed + EXCLUDED.failed,
       last_attempt_at = greatest(r.last_attempt_at, EXCLUDED.last_attempt_at),
       histogram = ${MERGE_HISTOGRAMS}`,
    [
      deltas.map((d) => d.webhookId),
      deltas.map((d) => d.slot),
      deltas.map((d) => d.accountId),
      deltas.map((d) => d.succeeded),
      deltas.map((d) => d.failed),
      deltas.map((d) => d.lastAttemptAt),
      deltas.map((d) => JSON.stringify(d.histogram)),
    ],
  );
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
    // Pending deliveries from their partial index: as many rows as are pending right now.
    q(
      `SELECT (created_at - $1) / $2 AS b, count(*) AS n FROM deliveries
       WHERE webhook_id = $3 AND status = 'pending' AND created_at >= $1 GROUP BY b`,
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

/**
 * Marks an owner whose rows are to be purged in the background. deleteWebhook calls it; an
 * account deletion calls it with 'account' in its own transaction, after deleting the account's
 * own rows (keys, webhooks), and purgeDeleted removes its events, deliveries, attempts and
 * rollups in batches.
 */
export async function markDeleted(
  q: Query,
  kind: DeletedKind,
  id: string,
  now: number,
): Promise<void> {
  await q(
    `INSERT INTO deleted_owners (id, kind, deleted_at) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO NOTHING`,
    [id, kind, now],
  );
}

/**
 * One batch of the oldest mark's rows; the mark goes once nothing of it is left. A mark another
 * process is purging right now is skipped, so two workers never delete the same rows.
 */
export async function purgeDeletedBatch(
  q: Query,
  batch: number,
): Promise<PurgeResult & { remaining: boolean }> {
  const result = { events: 0, deliveries: 0, attempts: 0, rollups: 0, remaining: false };
  const [mark] = await q(
    'SELECT id, kind FROM deleted_owners ORDER BY deleted_at, id LIMIT 1 FOR UPDATE SKIP LOCKED',
  );
  // None, or every one is being purged by another process right now.
  if (!mark) return result;
  const id = String(mark.id);
  const count = async (text: string, values: unknown[]) => (await q(text, values)).length;
  if (mark.kind === 'webhook') {
    result.attempts = await count(
      `DELETE FROM attempts WHERE seq IN (
         SELECT seq FROM attempts WHERE webhook_id = $1 LIMIT $2)
       RETURNING 1`,
      [id, batch],
    );
    // Pending ones first: until they are gone, claims meet them in the due index (and park them).
    result.deliveries = await count(
      `DELETE FROM deliveries d WHERE d.id IN (
         SELECT id FROM deliveries WHERE webhook_id = $1 AND status = 'pending' LIMIT $2)
       AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
       RETURNING 1`,
      [id, batch],
    );
    result.deliveries += await count(
      `DELETE FROM deliveries WHERE id IN (
         SELECT d.id FROM deliveries d WHERE d.webhook_id = $1
           AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
         LIMIT $2)
       RETURNING 1`,
      [id, Math.max(0, batch - result.deliveries)],
    );
    result.rollups = await count(
      `DELETE FROM delivery_rollups WHERE (webhook_id, slot) IN (
         SELECT webhook_id, slot FROM delivery_rollups WHERE webhook_id = $1 LIMIT $2)
       RETURNING 1`,
      [id, batch],
    );
  } else {
    result.attempts = await count(
      `DELETE FROM attempts WHERE seq IN (
         SELECT a.seq FROM deliveries d JOIN attempts a ON a.delivery_id = d.id
         WHERE d.account_id = $1 LIMIT $2)
       RETURNING 1`,
      [id, batch],
    );
    result.deliveries = await count(
      `DELETE FROM deliveries WHERE id IN (
         SELECT d.id FROM deliveries d WHERE d.account_id = $1
           AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
         LIMIT $2)
       RETURNING 1`,
      [id, batch],
    );
    result.events = await count(
      `DELETE FROM events WHERE id IN (
         SELECT e.id FROM events e WHERE e.account_id = $1
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
         LIMIT $2)
       RETURNING 1`,
      [id, batch],
    );
    result.rollups = await count(
      `DELETE FROM delivery_rollups WHERE (webhook_id, slot) IN (
         SELECT webhook_id, slot FROM delivery_rollups WHERE account_id = $1 LIMIT $2)
       RETURNING 1`,
      [id, batch],
    );
  }
  const full =
    result.attempts >= batch ||
    result.deliveries >= batch ||
    result.events >= batch ||
    result.rollups >= batch;
  let progressed = result.attempts + result.deliveries + result.events + result.rollups > 0;
  if (!full && !(await ownerHasRows(q, mark.kind === 'webhook' ? 'webhook' : 'account', id))) {
    await q('DELETE FROM deleted_owners WHERE id = $1', [id]);
    progressed = true;
  }
  // A batch that could do nothing leaves the rest to the next run rather than spin.
  result.remaining = progressed && (await q('SELECT 1 FROM deleted_owners LIMIT 1')).length > 0;
  return result;
}

async function ownerHasRows(q: Query, kind: DeletedKind, id: string): Promise<boolean> {
  const column = kind === 'webhook' ? 'webhook_id' : 'account_id';
  const [row] = await q(
    `SELECT EXISTS (SELECT 1 FROM deliveries WHERE ${column} = $1)
         OR EXISTS (SELECT 1 FROM delivery_rollups WHERE ${column} = $1)
         OR ${
           kind === 'webhook'
             ? 'EXISTS (SELECT 1 FROM attempts WHERE webhook_id = $1)'
             : 'EXISTS (SELECT 1 FROM events WHERE account_id = $1)'
         } AS any`,
    [id],
  );
  return row?.any === true;
}
