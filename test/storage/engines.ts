// The two engines the shared storage suites run every case against: SQLite on a temporary
// file (a fresh file per test) and PostgreSQL on a fresh database per test file (emptied
// before each test). contract.test.ts and ordering.test.ts use them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { expect, vi } from 'vitest';
import type { Storage } from '../../src/storage/index.js';
import { PostgresStorage } from '../../src/storage/postgres/index.js';
import { SqliteStorage } from '../../src/storage/sqlite/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { nextId } from './fixtures.js';

export interface Engine {
  name: 'sqlite' | 'postgres';
  setup(): Promise<void>;
  /** A migrated, empty store. */
  open(): Promise<Storage>;
  /** Checks after each test that the store let go of everything it held. */
  released(): Promise<void>;
  /** Runs SQL on the last store opened, from outside it (another process's write, a race). */
  exec(sql: string): Promise<void>;
  teardown(): Promise<void>;
}

export function sqliteEngine(): Engine {
  let dir = '';
  let file = '';
  return {
    name: 'sqlite',
    async setup() {
      dir = mkdtempSync(join(tmpdir(), 'rizler-contract-'));
    },
    async open() {
      file = join(dir, `${nextId('db')}.db`);
      const storage = new SqliteStorage(file);
      await storage.migrate();
      return storage;
    },
    async released() {},
    async exec(sql) {
      const other = new Database(file);
      try {
        other.exec(sql);
      } finally {
        other.close();
      }
    },
    async teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function postgresEngine(): Engine & { url(): string } {
  let db: TestDatabase;
  let admin: pg.Client;
  return {
    name: 'postgres',
    /** The test database, for more processes (PostgresStorage instances) against it. */
    url: () => db.url,
    async setup() {
      db = await createTestDatabase();
      admin = new pg.Client({ connectionString: db.url, application_name: 'contract-admin' });
      await admin.connect();
      const storage = new PostgresStorage(db.url, { poolSize: 4 });
      await storage.migrate();
      await storage.close();
    },
    async open() {
      await admin.query(
        'TRUNCATE accounts, webhooks, events, deliveries, delivery_queue, attempts, delivery_rollups, deleted_owners, api_keys, portal_sessions, audit_log',
      );
      const storage = new PostgresStorage(db.url, { poolSize: 4 });
      await storage.migrate();
      return storage;
    },
    async released() {
      // Every pooled and LISTEN connection is gone once close() resolves (give the server a
      // moment to reap the backends).
      await vi.waitFor(
        async () => {
          const { rows } = await admin.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'rizler-webhooks'`,
          );
          expect(rows[0].n).toBe(0);
        },
        { timeout: 3000, interval: 50 },
      );
    },
    async exec(sql) {
      await admin.query(sql);
    },
    async teardown() {
      await admin?.end();
      await db?.drop();
    },
  };
}

/** Every engine, one describe.each row each. */
export function engines(): Engine[] {
  return [sqliteEngine(), postgresEngine()];
}
