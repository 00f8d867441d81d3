// PostgreSQL-only: a failover. The server's connections are cut and the database it reconnects
// to is a read-only standby (default_transaction_read_only, as a hot standby behaves); then the
// standby is promoted and the connections cut again. SQLite has no standby; its read-only file
// is test/chaos/disk-faults.test.ts.
//
// SPEC §4: while writes cannot be made the API answers 503 service_unavailable with
// Retry-After (never a 500), reads still answer, and the process recovers by itself.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, ADMIN_URL, type TestDatabase } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const EVENT = { event: 'call.ended', data: { call_id: 'c1', duration: 5, status: 'completed' } };

async function onAdmin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

describe('a PostgreSQL failover to a read-only standby', () => {
  let db: TestDatabase;
  let server: TestServer;
  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startTestServer({ RIZLER_DATABASE_URL: db.url, RIZLER_RUN_WORKER: 'false' });
  });
  afterAll(async () => {
    await server?.close();
    await db?.drop();
  });

  /** Every session of the test database is cut, as when the primary goes away. */
  const cutConnections = () =>
    onAdmin(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db.name}' AND pid <> pg_backend_pid()`,
    );

  it('answers 503 with Retry-After to writes while read-only, serves reads, and recovers', async () => {
    const created = await server.api('/v1/webhooks', {
      body: { url: 'http://127.0.0.1:9/hook', events: ['call.*'] },
    });
    expect(created.status).toBe(201);

    await onAdmin(`ALTER DATABASE ${db.name} SET default_transaction_read_only = on`);
    await cutConnections();

    // Every write is refused the same way, whichever pooled connection it gets.
    for (let i = 0; i < 3; i++) {
      const refused = await server.api('/v1/events', { body: EVENT });
      expect(refused.status, `write ${i + 1}`).toBe(503);
      expect(refused.body.error.code).toBe('service_unavailable');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    const read = await server.api('/v1/webhooks');
    expect(read.status).toBe(200);
    expect(read.body.data.map((w: { id: string }) => w.id)).toEqual([created.body.id]);

    // Promotion: the database takes writes again and the old sessions are gone.
    await onAdmin(`ALTER DATABASE ${db.name} RESET default_transaction_read_only`);
    await cutConnections();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await server.api('/v1/events', { body: EVENT });
      statuses.push(res.status);
      if (res.status === 202) break;
    }
    // A connection the cut left in the pool may answer 503 once; never a 500.
    expect(statuses.at(-1)).toBe(202);
    expect(statuses.every((s) => s === 202 || s === 503)).toBe(true);
    expect((await server.api('/v1/events')).body.data).toHaveLength(1);
  });
});
