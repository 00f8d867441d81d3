// The PostgreSQL side of the claim rules that live beside claim-plan.ts: holding a saturated
// endpoint's whole due backlog, and keeping each endpoint's adaptive concurrency
// (throttle.ts) on its row, where every worker process reads it. Called inside the engine's
// claim and completion transactions.
import type { Row } from '../rows.js';
import {
  applySignals,
  throttleOf,
  type ThrottleSettings,
  type ThrottleSignal,
} from '../throttle.js';

type Query = (text: string, values?: unknown[]) => Promise<Row[]>;

/**
 * Takes every due, unleased delivery of these endpoints off the due index at once (held rows
 * come back as the endpoint's attempts finish), through deliveries_due_by_webhook. Rows
 * another claim has locked are skipped, never waited for: that claim decides about them.
 * Runs under the endpoints' locks, before the plan's own writes.
 */
export async function holdBacklog(q: Query, webhookIds: readonly string[], now: number) {
  if (webhookIds.length === 0) return;
  await q(
    `UPDATE deliveries SET due_at = NULL, held = true WHERE id IN (
       SELECT id FROM deliveries
       WHERE webhook_id = ANY($1::text[]) AND due_at <= $2 AND lease_token IS NULL
       FOR UPDATE SKIP LOCKED)`,
    [webhookIds, now],
  );
}

/**
 * Applies a completion's outcomes to each endpoint's adaptive limit and writes the changed
 * ones. `rows` are the endpoints' rows, read under FOR NO KEY UPDATE by the caller.
 */
export async function recordThrottle(
  q: Query,
  rows: readonly Row[],
  signals: ReadonlyMap<string, ThrottleSignal[]>,
  settings: ThrottleSettings,
  now: number,
): Promise<void> {
  const changed: {
    id: string;
    limit: number | null;
    streak: number;
    reason: string | null;
    since: number | null;
  }[] = [];
  for (const row of rows) {
    const list = signals.get(String(row.id));
    if (!list) continue;
    const before = throttleOf(row);
    const after = applySignals(before, list, settings, now);
    if (after !== before) changed.push({ id: String(row.id), ...after });
  }
  if (changed.length === 0) return;
  await q(
    `UPDATE webhooks w SET concurrency_limit = u.concurrency_limit,
       failure_streak = u.failure_streak, throttle_reason = u.throttle_reason,
       throttled_since = u.throttled_since
     FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::bigint[])
       AS u(id, concurrency_limit, failure_streak, throttle_reason, throttled_since)
     WHERE w.id = u.id`,
    [
      changed.map((c) => c.id),
      changed.map((c) => c.limit),
      changed.map((c) => c.streak),
      changed.map((c) => c.reason),
      changed.map((c) => c.since),
    ],
  );
}
