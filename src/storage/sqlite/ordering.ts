// The SQLite side of ordered delivery per key (../ordering.ts): placing a new delivery in its
// key's order, releasing the next when a head finishes, and switching a webhook's `ordering`.
// SQLite has one writer: the transaction of each call is the lock on every key.
import type { Stmt } from './statement.js';
import {
  placeNew,
  releasesOf,
  pairKey,
  type FinishedDelivery,
  type OrderPlacement,
  type Ordering,
} from '../ordering.js';
import type { Row } from '../rows.js';

/** Where a new delivery of an ordered webhook goes in its key's order. */
export function placeOne(stmt: Stmt, webhookId: string, orderingKey: string): OrderPlacement {
  const tail = (
    stmt(
      `SELECT max(order_seq) AS seq FROM deliveries
       WHERE webhook_id = ? AND ordering_key = ? AND order_state IN ('head', 'waiting')`,
    ).get(webhookId, orderingKey) as Row
  ).seq as number | null;
  const pair = { webhookId, orderingKey };
  return placeNew([pair], new Map([[pairKey(webhookId, orderingKey), tail]]))[0]!;
}

/**
 * After a completion: the finished deliveries leave their key's order, and each key whose head
 * finished gets its next waiting delivery as head, due now (parked while the endpoint is
 * disabled). Returns how many became due.
 */
export function releaseNext(stmt: Stmt, finished: readonly FinishedDelivery[], now: number) {
  const { leave, release } = releasesOf(finished);
  const clear = stmt('UPDATE deliveries SET order_state = NULL WHERE id = ?');
  for (const id of leave) clear.run(id);
  const promote = stmt(
    `UPDATE deliveries SET order_state = 'head', held = 0, next_attempt_at = :now,
       due_at = CASE WHEN (SELECT status FROM webhooks WHERE id = :webhook) = 'enabled'
                     THEN :now END
     WHERE id = (
       SELECT id FROM deliveries
       WHERE webhook_id = :webhook AND ordering_key = :key AND order_state = 'waiting'
       ORDER BY order_seq LIMIT 1)
     AND NOT EXISTS (
       SELECT 1 FROM deliveries
       WHERE webhook_id = :webhook AND ordering_key = :key AND order_state = 'head')
     RETURNING due_at`,
  );
  let due = 0;
  for (const r of release) {
    const row = promote.get({ now, webhook: r.webhookId, key: r.orderingKey }) as Row | undefined;
    if (row && row.due_at !== null) due++;
  }
  return due;
}

/**
 * Applies a change of the webhook's `ordering` to what is not yet sent. To per_key: each key's
 * pending deliveries are numbered by acceptance (created_at, then id); those in flight stay
 * heads, and so does the first when none is; the rest wait (a manual retry already asked for
 * still goes). To none: every waiting delivery is due again (parked if the endpoint is
 * disabled). Nothing is deleted or copied: no delivery is lost or sent twice.
 */
export function switchOrdering(stmt: Stmt, webhookId: string, to: Ordering, now: number): void {
  if (to === 'none') {
    stmt(
      `UPDATE deliveries SET
         due_at = CASE WHEN order_state = 'waiting' AND due_at IS NULL
                        AND (SELECT status FROM webhooks WHERE id = ?) = 'enabled'
                       THEN ? ELSE due_at END,
         next_attempt_at = coalesce(next_attempt_at, ?),
         order_state = NULL
       WHERE webhook_id = ? AND order_state IS NOT NULL`,
    ).run(webhookId, now, now, webhookId);
    return;
  }
  stmt(
    `UPDATE deliveries SET order_state = 'head', order_seq = ranked.seq
     FROM (SELECT id, row_number() OVER (PARTITION BY ordering_key ORDER BY created_at, id) AS seq
           FROM deliveries
           WHERE webhook_id = ? AND status = 'pending' AND ordering_key IS NOT NULL AND test = 0
             AND order_state IS NULL) AS ranked
     WHERE deliveries.id = ranked.id`,
  ).run(webhookId);
  // A row that stays head (in flight, or first of its key) is never changed here, so what the
  // subquery sees of rows changed earlier in this statement does not matter.
  stmt(
    `UPDATE deliveries SET order_state = 'waiting', held = 0,
       due_at = CASE WHEN manual_requested = 1 THEN due_at END,
       next_attempt_at = NULL
     WHERE webhook_id = ? AND order_state = 'head' AND lease_token IS NULL
       AND EXISTS (
         SELECT 1 FROM deliveries o
         WHERE o.webhook_id = deliveries.webhook_id AND o.ordering_key = deliveries.ordering_key
           AND o.order_state = 'head' AND o.id <> deliveries.id
           AND (o.lease_token IS NOT NULL OR o.order_seq < deliveries.order_seq))`,
  ).run(webhookId);
}

/**
 * The delivery a waiting one waits for: its key's head (retry it to unblock the key). A column
 * of the delivery reads; `d` is the deliveries row.
 */
export const WAITING_FOR = `CASE WHEN d.order_state = 'waiting' THEN (
    SELECT h.id FROM deliveries h
    WHERE h.webhook_id = d.webhook_id AND h.ordering_key = d.ordering_key
      AND h.order_state = 'head'
    ORDER BY h.order_seq LIMIT 1) END AS waiting_for`;
