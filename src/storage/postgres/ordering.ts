// The PostgreSQL side of ordered delivery per key (../ordering.ts). Publishes and completions
// of one (webhook, key) pair serialise on a transaction advisory lock of the pair, taken in
// sorted order by both (no cycle), and held until commit: a publish reads the key's highest
// seq and whether it has a head after every earlier publish of the key has committed, and a
// completion that releases the next sees every delivery committed before it. Claims need no
// lock of their own: only a key's head is ever due, and SKIP LOCKED leases it to one worker.
// A delivery's place in its key's order (its key, state and seq) is kept on its row in the
// delivery queue (migration 13), which is there exactly while the delivery is pending: the
// promotion writes that narrow row, and a finished delivery leaves its order with it.
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
import { queuedOf } from './queue.js';

type Query = (text: string, values?: unknown[]) => Promise<Row[]>;

/**
 * The delivery a waiting one waits for: its key's head (retry it to unblock the key), from
 * the queue rows that keep the order. A column of the delivery reads; `d` is the deliveries row.
 */
export const WAITING_FOR = `CASE WHEN (SELECT w.order_state FROM delivery_queue w
      WHERE w.delivery_id = d.id) = 'waiting' THEN (
    SELECT h.delivery_id FROM delivery_queue h
    WHERE h.webhook_id = d.webhook_id AND h.ordering_key = d.ordering_key
      AND h.order_state = 'head'
    ORDER BY h.order_seq LIMIT 1) END AS waiting_for`;

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
 * the pairs' locks: the first of a key with nothing pending is its head, the rest wait. The
 * lock and the read of the keys' tails go out together, one round trip for both, as
 * releaseNext's do: the server runs the read after the lock, so it reads the keys under it.
 */
export async function placeBatch(
  q: Query,
  inserts: readonly OrderedInsert[],
): Promise<OrderPlacement[]> {
  if (inserts.length === 0) return [];
  const pairs = pairsOf(inserts);
  const [, rows] = await Promise.all([
    lockPairs(q, pairs),
    q(
      `SELECT u.w, u.k, (SELECT max(order_seq) FROM delivery_queue x
           WHERE x.webhook_id = u.w AND x.ordering_key = u.k AND x.order_state IS NOT NULL) AS seq
       FROM unnest($1::text[], $2::text[]) AS u(w, k)`,
      [pairs.map((p) => p.webhookId), pairs.map((p) => p.orderingKey)],
    ),
  ]);
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

/**
 * Each key's next waiting delivery as its head, where the key has none (releaseNext): its queue
 * row, due now (left parked while the endpoint is disabled), and the delivery's next attempt,
 * now (a heap-only update: no column of it that an index reads).
 */
function promote(q: Query, release: readonly OrderedInsert[], now: number): Promise<Row[]> {
  return q(
    `WITH nx AS (
       SELECT n.delivery_id AS id, w.status
       FROM unnest($2::text[], $3::text[]) AS u(webhook_id, ordering_key)
       JOIN webhooks w ON w.id = u.webhook_id
       CROSS JOIN LATERAL (
         SELECT x.delivery_id FROM delivery_queue x
         WHERE x.webhook_id = u.webhook_id AND x.ordering_key = u.ordering_key
           AND x.order_state = 'waiting'
         ORDER BY x.order_seq LIMIT 1) AS n
       WHERE NOT EXISTS (
         SELECT 1 FROM delivery_queue h
         WHERE h.webhook_id = u.webhook_id AND h.ordering_key = u.ordering_key
           AND h.order_state = 'head')),
     p AS (
       UPDATE delivery_queue x SET order_state = 'head',
         due_at = CASE WHEN nx.status = 'enabled' THEN $1::bigint ELSE x.due_at END
       FROM nx WHERE x.delivery_id = nx.id
       RETURNING CASE WHEN nx.status = 'enabled' THEN $1::bigint END AS due),
     d AS (
       UPDATE deliveries d SET held = false, next_attempt_at = $1::bigint
       FROM nx WHERE d.id = nx.id)
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
      `WITH o AS (
         SELECT delivery_id, order_state AS was FROM delivery_queue
         WHERE webhook_id = $1 AND order_state IS NOT NULL),
       x AS (
         UPDATE delivery_queue x SET ordering_key = NULL, order_state = NULL, order_seq = NULL,
           due_at = CASE WHEN o.was = 'waiting' AND x.due_at IS NULL AND w.status = 'enabled'
             THEN $2::bigint ELSE x.due_at END
         FROM o, webhooks w WHERE w.id = $1 AND x.delivery_id = o.delivery_id)
       UPDATE deliveries d SET next_attempt_at = coalesce(d.next_attempt_at, $2::bigint)
       FROM o WHERE d.id = o.delivery_id`,
      [webhookId, now],
    );
    return;
  }
  await q(
    `UPDATE delivery_queue x SET ordering_key = ranked.ordering_key, order_state = 'head',
       order_seq = ranked.seq
     FROM (SELECT d.id, d.ordering_key,
             row_number() OVER (PARTITION BY d.ordering_key ORDER BY d.created_at, d.id) AS seq
           FROM deliveries d JOIN delivery_queue q ON q.delivery_id = d.id
           WHERE d.id IN (${queuedOf('$1')}) AND d.status = 'pending'
             AND d.ordering_key IS NOT NULL AND NOT d.test AND q.order_state IS NULL) AS ranked
     WHERE x.delivery_id = ranked.id`,
    [webhookId],
  );
  // Off the due index while they wait, unless a manual retry was asked for.
  await q(
    `WITH r AS (
       SELECT x.delivery_id AS id FROM delivery_queue x
       WHERE x.webhook_id = $1 AND x.order_state = 'head' AND x.lease_token IS NULL
         AND EXISTS (
           SELECT 1 FROM delivery_queue o
           WHERE o.webhook_id = x.webhook_id AND o.ordering_key = x.ordering_key
             AND o.order_state = 'head' AND o.delivery_id <> x.delivery_id
             AND (o.lease_token IS NOT NULL OR o.order_seq < x.order_seq))),
     d AS (
       UPDATE deliveries d SET held = false, next_attempt_at = NULL
       FROM r WHERE d.id = r.id
       RETURNING d.id, d.manual_requested)
     UPDATE delivery_queue x SET order_state = 'waiting',
       due_at = CASE WHEN d.manual_requested THEN x.due_at END
     FROM d WHERE x.delivery_id = d.id`,
    [webhookId],
  );
}
