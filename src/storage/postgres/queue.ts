// The PostgreSQL engine's delivery queue (migration 10): when each delivery is next to be picked
// up (`due_at`) and who holds it (`lease_token`), in a narrow table apart from the delivery's
// history. A lease, the hottest write there is, rewrites this row and its small indexes,
// where on the delivery's row it wrote a new version and an entry in each of nine indexes.
// A row is here while its delivery is pending, or scheduled or leased for a manual retry
// (due_at NULL: parked, or waiting in a key's order), made at publish and removed when the
// delivery finishes or is deleted. So an endpoint's pending deliveries are found here, by
// queuedOf (migration 11), and the delivery's own row keeps no index on its
// status or its updated_at: a completion changes no indexed column of it, and PostgreSQL
// writes it as a heap-only update, with no new index entries.
// The SQLite engine keeps these columns on the delivery (it writes pages, not index entries).

/**
 * SQL: schedules the deliveries of `source` (a CTE with columns id, account_id, webhook_id
 * and due) where `unless` is false of their row in the queue `x`, or where they have none. A
 * NULL due puts a delivery with no row in the queue, not due, and changes no row it has. A
 * row `unless` spares is still locked (ON CONFLICT locks every row it meets), so callers that
 * may meet many already due leave those out of `source` first.
 */
export const schedule = (source: string, unless: string) => `
  INSERT INTO delivery_queue AS x (delivery_id, account_id, webhook_id, due_at)
  SELECT id, account_id, webhook_id, due FROM ${source}
  ON CONFLICT (delivery_id) DO UPDATE SET due_at = EXCLUDED.due_at
  WHERE EXCLUDED.due_at IS NOT NULL AND NOT (${unless})`;

/**
 * SQL: the ids of the endpoint `param`'s deliveries in the queue (every pending one is): those
 * not due from delivery_queue_parked, the rest from delivery_queue_due, whose rows lead with
 * the account (the endpoint's, or, once it is deleted, that of one of its deliveries).
 * No index of the queue leads with the endpoint: a lease would write an entry in it.
 */
export const queuedOf = (param: string) => `
  SELECT delivery_id FROM delivery_queue WHERE webhook_id = ${param} AND due_at IS NULL
  UNION ALL
  SELECT delivery_id FROM delivery_queue WHERE webhook_id = ${param} AND due_at IS NOT NULL
    AND account_id = coalesce((SELECT account_id FROM webhooks WHERE id = ${param}),
      (SELECT account_id FROM deliveries WHERE webhook_id = ${param} ORDER BY created_at LIMIT 1))`;

/**
 * SQL after a CTE `gone` of deleted deliveries (column id): removes their rows here and
 * yields a row for each.
 */
export const DEQUEUE_GONE = `, dequeued AS (
    DELETE FROM delivery_queue WHERE delivery_id IN (SELECT id FROM gone))
  SELECT 1 FROM gone`;

/** SQL: the delivery `alias` (a row of deliveries) is leased, its lease ended or not. */
export const hasLease = (alias: string) =>
  `EXISTS (SELECT 1 FROM delivery_queue l WHERE l.delivery_id = ${alias}.id AND l.lease_token IS NOT NULL)`;
