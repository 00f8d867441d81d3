// Upgrading a database written by the release before SPEC §9 (schema version 1): each engine
// applies migration 6 (SPEC §9's; 2 to 5 belong to other changes) to it without losing data, and each account's one API key keeps
// working, now with every scope. Engine by engine, because it writes the old schema by hand.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/core/ids.js';
import type { Storage } from '../../src/storage/index.js';
import { migrations as pgMigrations } from '../../src/storage/postgres/migrations.js';
import { PostgresStorage } from '../../src/storage/postgres/index.js';
import { migrations as sqliteMigrations } from '../../src/storage/sqlite/migrations.js';
import { SqliteStorage } from '../../src/storage/sqlite/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

const OLD_KEY = 'rzk_written-by-the-previous-release';
const T = 1_700_000_000_000;
/** SPEC §9's migration: 2 to 5 are other changes', so the ledger has a gap until they land. */
const PLATFORM_VERSION = 6;

/** The ledger rows a fully migrated database holds: every known migration, by version. */
function ledgerOf(known: readonly { version: number }[]): { version: number }[] {
  return known.map((m) => ({ version: m.version })).sort((a, b) => a.version - b.version);
}

async function expectUpgraded(storage: Storage): Promise<void> {
  await storage.migrate();
  const found = await storage.findApiKey(hashApiKey(OLD_KEY), T);
  expect(found?.account).toMatchObject({ id: 'acc_OLD', name: 'old', status: 'active' });
  expect(found?.key.scopes).toEqual(['publish', 'read', 'manage', 'keys']);
  const webhooks = await storage.listWebhooks('acc_OLD', { limit: 10, after: null });
  expect(webhooks.map((w) => [w.id, w.url, w.accountRateLimitPerMinute])).toEqual([
    ['wh_OLD', 'https://example.com/old', null],
  ]);
  expect(await storage.getEvent('acc_OLD', 'evt_OLD')).not.toBeNull();
  // New accounts work beside the migrated one.
  await storage.createAccount({ id: 'acc_NEW', name: 'new', createdAt: T }, 'new-hash');
  expect(await storage.countAccounts()).toBe(2);
}

const OLD_ROWS = [
  `INSERT INTO accounts (id, name, api_key_hash, created_at) VALUES ('acc_OLD', 'old', '${hashApiKey(OLD_KEY)}', ${T})`,
  `INSERT INTO webhooks (id, account_id, url, events, status, secret, created_at, updated_at)
   VALUES ('wh_OLD', 'acc_OLD', 'https://example.com/old', '["*"]', 'enabled', 's', ${T}, ${T})`,
  `INSERT INTO events (id, account_id, type, timestamp, payload, created_at)
   VALUES ('evt_OLD', 'acc_OLD', 'call.ended', '2023-11-14T22:13:20Z', '{}', ${T})`,
];

describe('upgrading a database of the previous release', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rizler-upgrade-'));
  let db: TestDatabase | null = null;
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await db?.drop();
  });

  it('SQLite', async () => {
    const path = join(dir, 'old.db');
    const old = new Database(path);
    old.exec(`CREATE TABLE schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
    old.exec(sqliteMigrations[0]!.sql);
    old.prepare('INSERT INTO schema_migrations VALUES (1, ?, ?)').run('initial', T);
    for (const sql of OLD_ROWS) old.exec(sql);
    old.close();
    const storage = new SqliteStorage(path);
    try {
      await expectUpgraded(storage);
    } finally {
      await storage.close();
    }
    const ledger = new Database(path, { readonly: true });
    const versions = ledger.prepare('SELECT version FROM schema_migrations ORDER BY version').all();
    ledger.close();
    expect(versions).toEqual(ledgerOf(sqliteMigrations));
    expect(versions).toContainEqual({ version: PLATFORM_VERSION });
  });

  it('PostgreSQL', async () => {
    db = await createTestDatabase();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(`CREATE TABLE schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
    await client.query(pgMigrations[0]!.sql);
    await client.query('INSERT INTO schema_migrations VALUES (1, $1, $2)', ['initial', T]);
    for (const sql of OLD_ROWS) await client.query(sql);
    await client.end();
    const storage = new PostgresStorage(db.url, { poolSize: 2 });
    try {
      await expectUpgraded(storage);
    } finally {
      await storage.close();
    }
    const ledger = new pg.Client({ connectionString: db.url });
    await ledger.connect();
    const { rows } = await ledger.query('SELECT version FROM schema_migrations ORDER BY version');
    await ledger.end();
    expect(rows).toEqual(ledgerOf(pgMigrations));
    expect(rows).toContainEqual({ version: PLATFORM_VERSION });
  });
});
