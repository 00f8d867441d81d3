// The PostgreSQL side of ordered delivery per key (../ordering.ts). Publishes and completions
// of one (webhook, key) pair serialise on a transaction advisory lock of the pair, taken in
// sorted order by both (no cycle), and held until commit: a publish reads the key's highest
// seq and whether it has a head after every earlier publish of the key has committed, and a
// completion that releases the next sees every delivery committed before it. Claims need no
// lock of their own: only a key's head is ever due, and SKIP LOCKED leases it to one worker.
import {
  pairsOf,
  placeNew,
  releasesOf,
  pairKey,
  type FinishedDelivery,
  type OrderPlacement,
  type OrderedInsert,
  type Ordering,
} from '../ordering.js';
import type { Row } from '../rows.js';
import { hasLease, queuedOf, schedule } from './queue.js';

type Query = (text: string, values?: unknown[]) => Promise<Row[]>;

async function lockPairs(q: Query, pairs: readonly OrderedInsert[]): Promise<void> {
  if (pairs.length === 0) return;
  await q(
    `SELECT count(pg_advisory_xact_lock(hashtextextended('order:' || w || ':' || k, 0)))
     FROM (SELECT w, k FROM unnest($1::text[], $2::text[]) AS u(w, k) ORDER BY w, k) AS sorted`,
    [pairs.map((p) => p.webhookId), pairs.map((p) => p.orderingKey)],
  );
}

/**
 * Places a publish's new ordered deliveries (in acceptance order) in their keys' orders, under
 * the pairs' locks: the first of a key with nothing pending is its head, the rest wait.
 */
export async function placeBatch(
  q: Query,
  inserts: readonly OrderedInsert[],
): Promise<OrderPlacement[]> {
  if (inserts.length === 0) return [];
  const pairs = pairsOf(inserts);
  await lockPairs(q, pairs);
  const rows = await q(
    `SELECT u.w, u.k, (SELECT max(order_seq) FROM deliveries d
         WHERE d.webhook_id = u.w AND d.ordering_key = u.k
           AND d.order_state IN ('head', 'waiting')) AS seq
     FROM unnest($1::text[], $2::text[]) AS u(w, k)`,
    [pairs.map((p) => p.webhookId), pairs.map((p) => p.orderingKey)],
  );
  const tails = new Map(
    rows.map((r) => [pairKey(String(r.w), String(r.k)), r.seq === null ? null : Number(r.seq)]),
  );
  return placeNew(inserts, tails);
}

/**
 * After a completion, whose statement (complete.ts, RECORD) took the finished deliveries out
 * of their keys' orders (an update of each row fewer, where a separate one wrote every one of
 * them again): each key whose head finished gets its next waiting delivery as head, due now
 * (parked while the endpoint is disabled). Returns how many became due.
 *
 * The lock and the promotion go out together, one round trip for both (the connection
 * pipelines, see connection.ts): the promotion needs no answer of the lock, and the server
 * runs them in the order sent, so it still reads the key under its lock.
 */
export async function releaseNext(
  q: Query,
  finished: readonly FinishedDelivery[],
  now: number,
): Promise<number> {
  const { release } = releasesOf(finished);
  if (release.length === 0) return 0;
  const [, promoted] = await Promise.all([lockPairs(q, release), promote(q, release, now)]);
  return promoted.filter((r) => r.due !== null).length;
}

/** Each key's next waiting delivery as its head, where the key has none (releaseNext). */
function promote(q: Query, release: readonly OrderedInsert[], now: number): Promise<Row[]> {
  return q(
    `WITH p AS (
     UPDATE deliveries d SET order_state = 'head', held = false, next_attempt_at = $1::bigint
     FROM unnest($2::text[], $3::text[]) AS u(webhook_id, ordering_key)
     JOIN webhooks w ON w.id = u.webhook_id
     CROSS JOIN LATERAL (
       SELECT n.id FROM deliveries n
       WHERE n.webhook_id = u.webhook_id AND n.ordering_key = u.ordering_key
         AND n.order_state = 'waiting'
       ORDER BY n.order_seq LIMIT 1) AS nx
     WHERE d.id = nx.id
       AND NOT EXISTS (
         SELECT 1 FROM deliveries h
         WHERE h.webhook_id = u.webhook_id AND h.ordering_key = u.ordering_key
           AND h.order_state = 'head')
     RETURNING d.id, d.account_id, d.webhook_id,
       CASE WHEN w.status = 'enabled' THEN $1::bigint END AS due),
     s AS (${schedule('p', 'false')})
     SELECT due FROM p`,
    [now, release.map((r) => r.webhookId), release.map((r) => r.orderingKey)],
  );
}

/**
 * Applies a change of the webhook's `ordering` to what is not yet sent (see the SQLite twin).
 * The caller holds the webhook FOR UPDATE, which waits out and then blocks publishes to it
 * (they hold KEY SHARE): no publish places a delivery by the old setting after this.
 */
export async function switchOrdering(
  q: Query,
  webhookId: string,
  to: Ordering,
  now: number,
): Promise<void> {
  if (to === 'none') {
    // The waiting become due (when the endpoint is on and they are not due already).
    await q(
      `WITH r AS (
         UPDATE deliveries d SET
           next_attempt_at = coalesce(d.next_attempt_at, $2::bigint),
           order_state = NULL
         FROM webhooks w, (SELECT id, order_state AS was FROM deliveries
                           WHERE webhook_id = $1 AND order_state IS NOT NULL) o
         WHERE w.id = $1 AND d.id = o.id
         RETURNING d.id, d.account_id, d.webhook_id,
           CASE WHEN o.was = 'waiting' AND w.status = 'enabled' THEN $2::bigint END AS due)
       ${schedule('r', 'x.due_at IS NOT NULL')}`,
      [webhookId, now],
    );
    return;
  }
  await q(
    `UPDATE deliveries d SET order_state = 'head', order_seq = ranked.seq
     FROM (SELECT id, row_number() OVER (PARTITION BY ordering_key ORDER BY created_at, id) AS seq
           FROM deliveries
           WHERE id IN (${queuedOf('$1')}) AND status = 'pending' AND ordering_key IS NOT NULL
             AND NOT test AND order_state IS NULL) AS ranked
     WHERE d.id = ranked.id`,
    [webhookId],
  );
  // Off the due index while they wait, unless a manual retry was asked for.
  await q(
    `WITH r AS (
       UPDATE deliveries d SET order_state = 'waiting', held = false, next_attempt_at = NULL
       WHERE d.webhook_id = $1 AND d.order_state = 'head' AND NOT ${hasLease('d')}
         AND EXISTS (
           SELECT 1 FROM deliveries o
           WHERE o.webhook_id = d.webhook_id AND o.ordering_key = d.ordering_key
             AND o.order_state = 'head' AND o.id <> d.id
             AND (${hasLease('o')} OR o.order_seq < d.order_seq))
       RETURNING d.id, d.manual_requested)
     UPDATE delivery_queue x SET due_at = NULL FROM r
     WHERE x.delivery_id = r.id AND NOT r.manual_requested`,
    [webhookId],
  );
}
