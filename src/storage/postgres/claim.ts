// The PostgreSQL side of the claim rules that live beside claim-plan.ts: taking turns across
// the accounts that have deliveries due, holding a saturated endpoint's due backlog, and keeping each endpoint's adaptive concurrency
// (throttle.ts) on its row, where every worker process reads it. Called inside the engine's
// claim and completion transactions.
import { ROTATION, type Rotation } from '../fair-share.js';
import type { Row } from '../rows.js';
import {
  applySignals,
  throttleOf,
  type ThrottleSettings,
  type ThrottleSignal,
} from '../throttle.js';

type Query = (text: string, values?: unknown[]) => Promise<Row[]>;

/** The next accounts in turn after the cursor, then from the start up to it. */
const ACCOUNTS_AFTER = `
  WITH RECURSIVE a(id) AS (
    SELECT (SELECT min(account_id) FROM deliveries WHERE account_id > $1 AND due_at IS NOT NULL)
    UNION ALL
    SELECT (SELECT min(account_id) FROM deliveries WHERE account_id > a.id AND due_at IS NOT NULL)
    FROM a WHERE a.id IS NOT NULL AND a.id < $3)
  SELECT id FROM (SELECT id FROM a WHERE id IS NOT NULL AND id <= $3 LIMIT $5) AS visited
  WHERE (SELECT min(due_at) FROM deliveries d WHERE d.account_id = visited.id
         AND d.due_at IS NOT NULL) <= $2
  LIMIT $4`;

/**
 * The next accounts in turn, after the rotation's cursor (wrapping around), that have a
 * delivery due now: a skip scan of deliveries_due_by_account, two index probes per account
 * with anything scheduled, at most ROTATION.maxVisits of them per pass.
 */
export async function accountsInTurn(q: Query, rotation: Rotation, now: number) {
  const { accounts, maxVisits } = ROTATION;
  // The top of the text range: ids are ASCII, so every id sorts below it.
  const END = '\u{10FFFF}';
  const found = (await q(ACCOUNTS_AFTER, [rotation.cursor, now, END, accounts, maxVisits])).map(
    (r) => String(r.id),
  );
  if (found.length < accounts && rotation.cursor !== '') {
    for (const r of await q(ACCOUNTS_AFTER, ['', now, rotation.cursor, accounts, maxVisits])) {
      const id = String(r.id);
      if (found.length < accounts && !found.includes(id)) found.push(id);
    }
  }
  if (found.length > 0) rotation.cursor = found[found.length - 1]!;
  return found;
}

/**
 * Each account's first `perAccount` due deliveries in due order, locked: SKIP LOCKED lets
 * concurrent workers take disjoint sets instead of queueing behind the first rows.
 */
export async function dueOf(
  q: Query,
  accounts: readonly string[],
  perAccount: number,
  now: number,
): Promise<Row[]> {
  if (accounts.length === 0) return [];
  return q(
    `SELECT d.* FROM unnest($1::text[]) AS u(account_id)
     CROSS JOIN LATERAL (
       SELECT id, account_id, webhook_id, event_id, ordering_key, attempt_count, auto_attempts,
         manual_requested, order_state
       FROM deliveries
       WHERE account_id = u.account_id AND due_at <= $2
       ORDER BY due_at
       LIMIT $3
       FOR UPDATE SKIP LOCKED) AS d`,
    [accounts, now, perAccount],
  );
}

/**
 * Takes the due, unleased deliveries of saturated endpoints off the due index (held rows come
 * back as the endpoint's attempts finish), up to ROTATION.holdChunk per endpoint per claim.
 * Rows another claim has locked are skipped, never waited for: that claim decides about them.
 * Runs under the endpoints' locks, before the plan's own writes.
 */
export async function holdBacklog(
  q: Query,
  endpoints: readonly { accountId: string; webhookId: string }[],
  now: number,
): Promise<void> {
  if (endpoints.length === 0) return;
  await q(
    `UPDATE deliveries SET due_at = NULL, held = true WHERE id IN (
       SELECT h.id FROM unnest($1::text[], $2::text[]) AS u(account_id, webhook_id)
       CROSS JOIN LATERAL (
         SELECT id FROM deliveries
         WHERE account_id = u.account_id AND due_at <= $3 AND webhook_id = u.webhook_id
           AND lease_token IS NULL
         LIMIT $4
         FOR UPDATE SKIP LOCKED) AS h)`,
    [endpoints.map((e) => e.accountId), endpoints.map((e) => e.webhookId), now, ROTATION.holdChunk],
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
