// The PostgreSQL side of the deleted owners' purge (../deleted-owners.ts): the mark a delete
// writes, and one batch of the oldest mark's rows per call, in the engine's transaction.
import { ACCOUNT_TABLES, batchOutcome, emptyBatch } from '../deleted-owners.js';
import type { DeletedKind, OwnerBatch } from '../deleted-owners.js';
import type { Query } from './connection.js';
import { DEQUEUE_GONE, queuedOf } from './queue.js';

/**
 * Marks an owner whose rows are to be purged in the background: deleteWebhook and
 * deleteAccount call it in their transaction, and purgeDeleted removes the rest in batches.
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
 * One batch of the oldest mark's rows (of `only` that kind, when given); the mark goes once
 * nothing of it is left. A mark another process is purging right now is skipped, so two
 * workers never delete the same rows. `remaining`: whether a mark is left and this batch got
 * anywhere.
 */
export async function purgeDeletedBatch(
  q: Query,
  batch: number,
  now: number,
  only?: DeletedKind,
): Promise<OwnerBatch & { remaining: boolean }> {
  const b = emptyBatch();
  const [mark] = only
    ? await q(
        `SELECT id, kind FROM deleted_owners WHERE kind = $1 ORDER BY deleted_at, id LIMIT 1
         FOR UPDATE SKIP LOCKED`,
        [only],
      )
    : await q(
        'SELECT id, kind FROM deleted_owners ORDER BY deleted_at, id LIMIT 1 FOR UPDATE SKIP LOCKED',
      );
  // None, or every one is being purged by another process right now.
  if (!mark) return { ...b, remaining: false };
  const id = String(mark.id);
  const kind: DeletedKind = mark.kind === 'webhook' ? 'webhook' : 'account';
  const count = async (text: string, values: unknown[]) => (await q(text, values)).length;
  if (kind === 'webhook') {
    b.attempts = await count(
      `DELETE FROM attempts WHERE seq IN (
         SELECT seq FROM attempts WHERE webhook_id = $1 LIMIT $2)
       RETURNING 1`,
      [id, batch],
    );
    // Queued ones first: until they are gone, claims meet them in the due index (and park them).
    b.deliveries = await count(
      `WITH gone AS (
         DELETE FROM deliveries d WHERE d.id IN (${queuedOf('$1')} LIMIT $2)
         AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
         RETURNING d.id)
       ${DEQUEUE_GONE}`,
      [id, batch],
    );
    b.deliveries += await count(
      `WITH gone AS (
         DELETE FROM deliveries WHERE id IN (
           SELECT d.id FROM deliveries d WHERE d.webhook_id = $1
             AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
           LIMIT $2)
         RETURNING id)
       ${DEQUEUE_GONE}`,
      [id, Math.max(0, batch - b.deliveries)],
    );
    b.rollups = await count(
      `DELETE FROM delivery_rollups WHERE (webhook_id, slot) IN (
         SELECT webhook_id, slot FROM delivery_rollups WHERE webhook_id = $1 LIMIT $2)
       RETURNING 1`,
      [id, batch],
    );
  } else {
    b.attempts = await count(
      `DELETE FROM attempts WHERE seq IN (
         SELECT a.seq FROM deliveries d JOIN attempts a ON a.delivery_id = d.id
         WHERE d.account_id = $1 LIMIT $2)
       RETURNING 1`,
      [id, batch],
    );
    // A delivery whose lease still runs stays until its attempt ends (or the lease runs out);
    // one a claim holds right now is left to the next batch.
    b.deliveries = await count(
      `WITH gone AS (
         DELETE FROM deliveries WHERE id IN (
           SELECT d.id FROM deliveries d WHERE d.account_id = $1
             AND NOT EXISTS (SELECT 1 FROM delivery_queue x WHERE x.delivery_id = d.id
               AND x.lease_token IS NOT NULL AND x.due_at > $2)
             AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
           LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING id)
       ${DEQUEUE_GONE}`,
      [id, now, batch],
    );
    b.events = await count(
      `DELETE FROM events WHERE id IN (
         SELECT e.id FROM events e WHERE e.account_id = $1
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
         LIMIT $2)
       RETURNING 1`,
      [id, batch],
    );
    b.rollups = await count(
      `DELETE FROM delivery_rollups WHERE (webhook_id, slot) IN (
         SELECT webhook_id, slot FROM delivery_rollups WHERE account_id = $1 LIMIT $2)
       RETURNING 1`,
      [id, batch],
    );
    for (const table of ACCOUNT_TABLES) {
      b.other += await count(
        `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE account_id = $1 LIMIT $2)
         RETURNING 1`,
        [id, batch],
      );
    }
  }
  const outcome = batchOutcome(b, batch);
  let progressed = outcome.progressed;
  if (!outcome.full && !(await ownerHasRows(q, kind, id))) {
    if (kind === 'account') {
      // Nothing left but its endpoints and itself.
      b.other += await count('DELETE FROM webhooks WHERE account_id = $1 RETURNING 1', [id]);
      b.other += await count('DELETE FROM accounts WHERE id = $1 RETURNING 1', [id]);
    }
    await q('DELETE FROM deleted_owners WHERE id = $1', [id]);
    progressed = true;
  }
  return {
    ...b,
    remaining: progressed && (await q('SELECT 1 FROM deleted_owners LIMIT 1')).length > 0,
  };
}

async function ownerHasRows(q: Query, kind: DeletedKind, id: string): Promise<boolean> {
  const column = kind === 'webhook' ? 'webhook_id' : 'account_id';
  const owned = kind === 'webhook' ? ['attempts'] : ['events', ...ACCOUNT_TABLES];
  const [row] = await q(
    `SELECT EXISTS (SELECT 1 FROM deliveries WHERE ${column} = $1)
         OR EXISTS (SELECT 1 FROM delivery_rollups WHERE ${column} = $1)
         OR ${owned.map((table) => `EXISTS (SELECT 1 FROM ${table} WHERE ${column} = $1)`).join(' OR ')}
       AS any`,
    [id],
  );
  return row?.any === true;
}
