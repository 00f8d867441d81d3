// PostgreSQL, with raw SQL on purpose: migration 13 moves each pending delivery's place in its
// key's order from the delivery's row to its row in the queue. A database written before it
// (migrations 1-12, a key with a head in flight and two waiting behind it) keeps its order
// through the migration: the waiting ones still wait for the head, then go one at a time, in
// their order.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { migrations } from '../../src/storage/postgres/migrations.js';
import { PostgresStorage } from '../../src/storage/postgres/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { claim, complete, T } from './fixtures.js';

describe('migration 13 on PostgreSQL', () => {
  let db: TestDatabase | null = null;
  let storage: PostgresStorage | null = null;
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  it("keeps a key's order written before it: the waiting wait for the head, then go in turn", async () => {
    db = await createTestDatabase();
    const raw = new pg.Client({ connectionString: db.url });
    await raw.connect();
    try {
      await raw.query(`CREATE TABLE schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
      for (const m of migrations.filter((m) => m.version < 13)) {
        await raw.query(m.sql);
        await raw.query('INSERT INTO schema_migrations VALUES ($1, $2, 0)', [m.version, m.name]);
      }
      await raw.query(`INSERT INTO accounts (id, name, created_at) VALUES ('acc_1', 'acme', $1)`, [
        T,
      ]);
      await raw.query(
        `INSERT INTO webhooks (id, account_id, url, events, status, secret, ordering, created_at,
           updated_at)
         VALUES ('wh_1', 'acc_1', 'https://example.com/h', '["*"]', 'enabled', 's', 'per_key',
           $1, $1)`,
        [T],
      );
      // dlv_1 is the head, leased (in flight); dlv_2 and dlv_3 wait behind it, off the due index.
      for (const [i, state] of (['head', 'waiting', 'waiting'] as const).entries()) {
        const n = i + 1;
        await raw.query(
          `INSERT INTO events (id, account_id, type, timestamp, payload, created_at, ordering_key)
           VALUES ($1, 'acc_1', 'call.ended', 'x', '{}', $2, 'call_1')`,
          [`evt_${n}`, T + n],
        );
        await raw.query(
          `INSERT INTO deliveries (id, account_id, webhook_id, event_id, event_type, url, status,
             next_attempt_at, created_at, updated_at, ordering_key, order_state, order_seq)
           VALUES ($1, 'acc_1', 'wh_1', $2, 'call.ended', 'https://example.com/h', 'pending',
             $3, $4, $4, 'call_1', $5, $6)`,
          [`dlv_${n}`, `evt_${n}`, state === 'head' ? T : null, T + n, state, n],
        );
        await raw.query(
          `INSERT INTO delivery_queue (delivery_id, account_id, webhook_id, due_at, lease_token)
           VALUES ($1, 'acc_1', 'wh_1', $2, $3)`,
          [`dlv_${n}`, state === 'head' ? T + 60_000 : null, state === 'head' ? 'old' : null],
        );
      }
    } finally {
      await raw.end();
    }

    storage = new PostgresStorage(db.url, { poolSize: 2 });
    await storage.migrate();
    const listed = await storage.listDeliveries('acc_1', {}, { limit: 10, after: null });
    expect(Object.fromEntries(listed.map((d) => [d.id, d.waitingFor]))).toEqual({
      dlv_1: null,
      dlv_2: 'dlv_1',
      dlv_3: 'dlv_1',
    });
    // The head's lease runs out (its worker is gone): only the head is due, not the others.
    const head = await claim(storage, T + 61_000);
    expect(head.map((c) => c.deliveryId)).toEqual(['dlv_1']);
    expect(head[0]!.ordered).toBe(true);
    const sent: string[] = ['dlv_1'];
    let now = T + 62_000;
    let inFlight = head;
    while (inFlight.length > 0) {
      await complete(storage, inFlight[0]!, { kind: 'succeeded' }, { now });
      now += 1000;
      inFlight = await claim(storage, now);
      expect(inFlight.length).toBeLessThanOrEqual(1);
      sent.push(...inFlight.map((c) => c.deliveryId));
    }
    expect(sent).toEqual(['dlv_1', 'dlv_2', 'dlv_3']);
    const done = await storage.listDeliveries('acc_1', {}, { limit: 10, after: null });
    expect(done.map((d) => [d.id, d.status, d.waitingFor])).toEqual([
      ['dlv_3', 'succeeded', null],
      ['dlv_2', 'succeeded', null],
      ['dlv_1', 'succeeded', null],
    ]);
  });
});
