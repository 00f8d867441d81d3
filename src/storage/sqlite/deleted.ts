// The SQLite side of the deleted owners' purge (../deleted-owners.ts): the mark a delete
// writes, and one batch of the oldest mark's rows per call, in the engine's transaction.
import { ACCOUNT_TABLES, batchOutcome, emptyBatch } from '../deleted-owners.js';
import type { DeletedKind, OwnerBatch } from '../deleted-owners.js';
import type { Row } from '../rows.js';
import type { Stmt } from './connection.js';

/**
 * Marks an owner whose rows are to be purged in the background: deleteWebhook and
 * deleteAccount call it in their transaction, and purgeDeleted removes the rest in batches.
 */
export function markDeleted(stmt: Stmt, kind: DeletedKind, id: string, now: number): void {
  stmt('INSERT OR IGNORE INTO deleted_owners (id, kind, deleted_at) VALUES (?, ?, ?)').run(
    id,
    kind,
    now,
  );
}

/**
 * One batch of the oldest mark's rows (of `only` that kind, when given); the mark goes once
 * nothing of it is left. `remaining`: whether a mark is left and this batch got anywhere.
 */
export function purgeDeletedBatch(
  stmt: Stmt,
  batch: number,
  now: number,
  only?: DeletedKind,
): OwnerBatch & { remaining: boolean } {
  const b = emptyBatch();
  const mark = (
    only
      ? stmt(
          'SELECT id, kind FROM deleted_owners WHERE kind = ? ORDER BY deleted_at, id LIMIT 1',
        ).get(only)
      : stmt('SELECT id, kind FROM deleted_owners ORDER BY deleted_at, id LIMIT 1').get()
  ) as Row | undefined;
  if (!mark) return { ...b, remaining: false };
  const id = String(mark.id);
  const kind: DeletedKind = mark.kind === 'webhook' ? 'webhook' : 'account';
  if (kind === 'webhook') {
    b.attempts = stmt(
      `DELETE FROM attempts WHERE rowid IN (
         SELECT rowid FROM attempts WHERE webhook_id = ? LIMIT ?)`,
    ).run(id, batch).changes;
    // Pending ones first: until they are gone, claims meet them in the due index (and park them).
    b.deliveries = stmt(
      `DELETE FROM deliveries WHERE id IN (
         SELECT id FROM deliveries INDEXED BY deliveries_pending
         WHERE webhook_id = ? AND status = 'pending' LIMIT ?)
       AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = deliveries.id)`,
    ).run(id, batch).changes;
    b.deliveries += stmt(
      `DELETE FROM deliveries WHERE id IN (
         SELECT d.id FROM deliveries d WHERE d.webhook_id = ?
           AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
         LIMIT ?)`,
    ).run(id, Math.max(0, batch - b.deliveries)).changes;
    b.rollups = stmt(
      `DELETE FROM delivery_rollups WHERE (webhook_id, slot) IN (
         SELECT webhook_id, slot FROM delivery_rollups WHERE webhook_id = ? LIMIT ?)`,
    ).run(id, batch).changes;
  } else {
    b.attempts = stmt(
      `DELETE FROM attempts WHERE rowid IN (
         SELECT a.rowid FROM deliveries d JOIN attempts a ON a.delivery_id = d.id
         WHERE d.account_id = ? LIMIT ?)`,
    ).run(id, batch).changes;
    // A delivery whose lease still runs stays until its attempt ends (or the lease runs out).
    b.deliveries = stmt(
      `DELETE FROM deliveries WHERE id IN (
         SELECT d.id FROM deliveries d WHERE d.account_id = ?
           AND (d.lease_token IS NULL OR d.due_at IS NULL OR d.due_at <= ?)
           AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
         LIMIT ?)`,
    ).run(id, now, batch).changes;
    b.events = stmt(
      `DELETE FROM events WHERE id IN (
         SELECT e.id FROM events e WHERE e.account_id = ?
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
         LIMIT ?)`,
    ).run(id, batch).changes;
    b.rollups = stmt(
      `DELETE FROM delivery_rollups WHERE (webhook_id, slot) IN (
         SELECT webhook_id, slot FROM delivery_rollups WHERE account_id = ? LIMIT ?)`,
    ).run(id, batch).changes;
    for (const table of ACCOUNT_TABLES) {
      b.other += stmt(
        `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE account_id = ? LIMIT ?)`,
      ).run(id, batch).changes;
    }
  }
  const outcome = batchOutcome(b, batch);
  let progressed = outcome.progressed;
  if (!outcome.full && !ownerHasRows(stmt, kind, id)) {
    if (kind === 'account') {
      // Nothing left but its endpoints and itself.
      b.other += stmt('DELETE FROM webhooks WHERE account_id = ?').run(id).changes;
      b.other += stmt('DELETE FROM accounts WHERE id = ?').run(id).changes;
    }
    stmt('DELETE FROM deleted_owners WHERE id = ?').run(id);
    progressed = true;
  }
  return {
    ...b,
    remaining: progressed && stmt('SELECT 1 FROM deleted_owners LIMIT 1').get() !== undefined,
  };
}

function ownerHasRows(stmt: Stmt, kind: DeletedKind, id: string): boolean {
  const column = kind === 'webhook' ? 'webhook_id' : 'account_id';
  const exists = (sql: string) => stmt(sql).get(id) !== undefined;
  return (
    exists(`SELECT 1 FROM deliveries WHERE ${column} = ? LIMIT 1`) ||
    exists(`SELECT 1 FROM delivery_rollups WHERE ${column} = ? LIMIT 1`) ||
    (kind === 'webhook'
      ? exists('SELECT 1 FROM attempts WHERE webhook_id = ? LIMIT 1')
      : exists('SELECT 1 FROM events WHERE account_id = ? LIMIT 1') ||
        ACCOUNT_TABLES.some((table) =>
          exists(`SELECT 1 FROM ${table} WHERE account_id = ? LIMIT 1`),
        ))
  );
}
