// Engine-level, on both engines, with raw SQL on purpose: (1) the migration that adds the stats
// rollups backfills them from a database written before it existed, which the contract cannot
// make; (2) an account's deletion mark is purged in batches like a webhook's. Account deletion
// is not in the contract yet: its implementation inserts the mark ('account', id) in its own
// transaction (markDeleted in storage/*/rollups.ts), as this test does by hand.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { DurationHistogram } from '../../src/core/histogram.js';
import type { Storage } from '../../src/storage/index.js';
import { migrations as pgMigrations } from '../../src/storage/postgres/migrations.js';
import { PostgresStorage } from '../../src/storage/postgres/index.js';
import { migrations as sqliteMigrations } from '../../src/storage/sqlite/migrations.js';
import { SqliteStorage } from '../../src/storage/sqlite/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { HOUR, MINUTE, T, nextId } from './fixtures.js';

/** Runs SQL with `?` placeholders on the raw database. */
type Exec = (sql: string, args?: unknown[]) => Promise<void>;

interface RawEngine {
  name: string;
  /** A database at the first migration only, written through `exec`; then the engine. */
  open(fill: (exec: Exec) => Promise<void>): Promise<{ storage: Storage; exec: Exec }>;
  cleanup(): Promise<void>;
}

function sqlite(): RawEngine {
  const dir = mkdtempSync(join(tmpdir(), 'rizler-history-'));
  let raw: Database.Database | null = null;
  return {
    name: 'sqlite',
    async open(fill) {
      const path = join(dir, `${nextId('db')}.db`);
      raw = new Database(path);
      raw.exec(`CREATE TABLE schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
      raw.exec(sqliteMigrations[0]!.sql);
      raw.prepare('INSERT INTO schema_migrations VALUES (1, ?, 0)').run(sqliteMigrations[0]!.name);
      const db = raw;
      const exec: Exec = async (sql, args = []) => {
        db.prepare(sql).run(...(args as unknown[]));
      };
      await fill(exec);
      const storage = new SqliteStorage(path);
      await storage.migrate();
      return { storage, exec };
    },
    async cleanup() {
      raw?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgres(): RawEngine {
  const databases: TestDatabase[] = [];
  const clients: pg.Client[] = [];
  return {
    name: 'postgres',
    async open(fill) {
      const db = await createTestDatabase();
      databases.push(db);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      clients.push(client);
      await client.query(`CREATE TABLE schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
      await client.query(pgMigrations[0]!.sql);
      await client.query('INSERT INTO schema_migrations VALUES (1, $1, 0)', [
        pgMigrations[0]!.name,
      ]);
      const exec: Exec = async (sql, args = []) => {
        let n = 0;
        await client.query(
          sql.replace(/\?/g, () => `$${++n}`),
          args,
        );
      };
      await fill(exec);
      const storage = new PostgresStorage(db.url, { poolSize: 2 });
      await storage.migrate();
      return { storage, exec };
    },
    async cleanup() {
      for (const c of clients) await c.end();
      for (const d of databases) await d.drop();
    },
  };
}

const S = Math.ceil(T / HOUR) * HOUR;

async function account(exec: Exec, id: string, webhookId: string): Promise<void> {
  await exec('INSERT INTO accounts (id, name, api_key_hash, created_at) VALUES (?, ?, ?, ?)', [
    id,
    'acme',
    nextId('hash'),
    S,
  ]);
  await exec(
    `INSERT INTO webhooks (id, account_id, url, events, status, secret, created_at, updated_at)
     VALUES (?, ?, 'https://example.com/h', '["*"]', 'enabled', 's', ?, ?)`,
    [webhookId, id, S, S],
  );
}

/** A delivery of `webhookId` created at `at`, with one attempt per duration, oldest first. */
async function delivery(
  exec: Exec,
  ids: { account: string; webhook: string },
  at: number,
  status: 'succeeded' | 'failed' | 'pending',
  durations: number[],
): Promise<void> {
  const eventId = nextId('evt');
  const deliveryId = nextId('dlv');
  await exec(
    `INSERT INTO events (id, account_id, type, timestamp, payload, created_at)
     VALUES (?, ?, 'call.ended', 'x', '{}', ?)`,
    [eventId, ids.account, at],
  );
  await exec(
    `INSERT INTO deliveries (id, account_id, webhook_id, event_id, event_type, url, status,
       created_at, updated_at)
     VALUES (?, ?, ?, ?, 'call.ended', 'https://example.com/h', ?, ?, ?)`,
    [deliveryId, ids.account, ids.webhook, eventId, status, at, at],
  );
  for (const [i, ms] of durations.entries()) {
    await exec(
      `INSERT INTO attempts (delivery_id, webhook_id, attempt, trigger, url, started_at,
         duration_ms, request_headers)
       VALUES (?, ?, ?, 'auto', 'https://example.com/h', ?, ?, '{}')`,
      [deliveryId, ids.webhook, i + 1, at + i * 20 * MINUTE, ms],
    );
  }
}

describe.each([sqlite(), postgres()])('history on $name', (engine) => {
  const opened: Storage[] = [];
  afterAll(async () => {
    for (const s of opened) await s.close();
    await engine.cleanup();
  });

  it('backfills the rollups from the deliveries and attempts stored before them', async () => {
    const ids = { account: nextId('acc'), webhook: nextId('wh') };
    const { storage } = await engine.open(async (exec) => {
      await account(exec, ids.account, ids.webhook);
      await delivery(exec, ids, S + MINUTE, 'succeeded', [12]);
      await delivery(exec, ids, S + 2 * MINUTE, 'failed', [100, 200, 3000]);
      await delivery(exec, ids, S + 3 * MINUTE, 'pending', [40]);
      await delivery(exec, ids, S + 2 * HOUR, 'succeeded', [7]);
    });
    opened.push(storage);
    const stats = await storage.webhookStats({
      accountId: ids.account,
      webhookId: ids.webhook,
      since: S,
      bucketMs: HOUR,
    });
    const all = new DurationHistogram();
    for (const b of stats.buckets) all.merge(b.durations);
    const expected = new DurationHistogram();
    for (const ms of [12, 100, 200, 3000, 40, 7]) expected.add(ms);
    expect(all).toEqual(expected);
    expect({
      ...stats,
      buckets: stats.buckets.map((b) => [b.start, b.succeeded, b.failed]),
    }).toEqual({
      succeeded: 2,
      failed: 1,
      pending: 1,
      lastDeliveryAt: S + 2 * HOUR,
      buckets: [
        [S, 1, 1],
        [S + 2 * HOUR, 1, 0],
      ],
    });
  });

  it("purges a deleted account's events, deliveries, attempts and rollups in batches", async () => {
    const gone = { account: nextId('acc'), webhook: nextId('wh') };
    const kept = { account: nextId('acc'), webhook: nextId('wh') };
    const { storage, exec } = await engine.open(async (exec) => {
      for (const ids of [gone, kept]) {
        await account(exec, ids.account, ids.webhook);
        for (let i = 0; i < 5; i++) await delivery(exec, ids, S + i * MINUTE, 'failed', [5, 6]);
      }
    });
    opened.push(storage);
    // What an account deletion does in its transaction: its own rows, then the mark.
    await exec('DELETE FROM webhooks WHERE account_id = ?', [gone.account]);
    await exec('DELETE FROM accounts WHERE id = ?', [gone.account]);
    await exec("INSERT INTO deleted_owners (id, kind, deleted_at) VALUES (?, 'account', ?)", [
      gone.account,
      S,
    ]);
    const total = { events: 0, deliveries: 0, attempts: 0, rollups: 0 };
    let calls = 0;
    for (;;) {
      const r = await storage.purgeDeleted(3);
      calls++;
      for (const k of ['events', 'deliveries', 'attempts', 'rollups'] as const) {
        expect(r[k]).toBeLessThanOrEqual(3);
        total[k] += r[k];
      }
      if (!r.remaining) break;
      expect(calls).toBeLessThan(50);
    }
    // Two rollup rows: the slot of the deliveries and first attempts, and that of the retries.
    expect(total).toEqual({ events: 5, deliveries: 5, attempts: 10, rollups: 2 });
    expect(calls).toBeGreaterThan(3);
    expect(await storage.listEvents(gone.account, {}, { limit: 10, after: null })).toEqual([]);
    expect(await storage.listEvents(kept.account, {}, { limit: 10, after: null })).toHaveLength(5);
    const keptStats = await storage.webhookStats({
      accountId: kept.account,
      webhookId: kept.webhook,
      since: S,
      bucketMs: HOUR,
    });
    expect(keptStats.failed).toBe(5);
  });
});
