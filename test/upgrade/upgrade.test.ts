// Upgrades keep data. fixtures/v0.1.0 holds a SQLite file and a PostgreSQL dump written by
// release 0.1.0 through its own API (make-fixture.mjs), and what that API answered about every
// account, webhook, secret, event, delivery and attempt. Today's `migrate` brings each to the
// newest schema, and today's API must answer the same about all of it (new fields may appear;
// none may change or vanish). `migrate` refuses a database that a newer release migrated.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningService } from '../../src/server.js';
import { migrations as postgresMigrations } from '../../src/storage/postgres/migrations.js';
import { migrations as sqliteMigrations } from '../../src/storage/sqlite/migrations.js';
import { startCli } from '../cli/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'v0.1.0');
const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as {
  encryption_key: string;
  admin_token: string;
  sqlite: Record<string, Snapshot>;
  postgres: Record<string, Snapshot>;
};

interface Snapshot {
  api_key: string;
  account: Record<string, unknown>;
  webhooks: { id: string }[];
  secrets: Record<string, { secret: string }>;
  events: { id: string }[];
  deliveries: { id: string }[];
}

type Engine = 'sqlite' | 'postgres';

interface OldDatabase {
  url: string;
  /** Runs SQL on the database directly (to forge a newer release's ledger row). */
  sql(text: string): Promise<void>;
  drop(): Promise<void>;
}

/** A copy of the release's database, as a user of that release has it. */
async function restore(engine: Engine): Promise<OldDatabase> {
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'rizler-upgrade-'));
    const file = join(dir, 'rizler-webhooks.db');
    copyFileSync(join(FIXTURE, 'sqlite.sqlite3'), file);
    const Database = (await import('better-sqlite3')).default;
    return {
      url: `sqlite:${file}`,
      async sql(text) {
        const db = new Database(file);
        db.exec(text);
        db.close();
      },
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const database: TestDatabase = await createTestDatabase();
  const sql = async (text: string) => {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  await sql(readFileSync(join(FIXTURE, 'postgres.sql'), 'utf8'));
  return { url: database.url, sql, drop: database.drop };
}

async function migrate(url: string): Promise<{ code: number | null; out: string }> {
  const cli = startCli(['migrate'], { RIZLER_DATABASE_URL: url, RIZLER_LOG_LEVEL: 'silent' });
  const { code } = await cli.exited;
  return { code, out: cli.stdout() + cli.stderr() };
}

describe.each<Engine>(['sqlite', 'postgres'])('upgrading a 0.1.0 database (%s)', (engine) => {
  let db: OldDatabase | undefined;
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.stop();
    await db?.drop();
    service = db = undefined;
  });

  it('migrates to the newest schema with every object of the old release intact', async () => {
    db = await restore(engine);
    const migrated = await migrate(db.url);
    expect(migrated.out).toMatch(/migrations applied/);
    expect(migrated.code).toBe(0);

    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      RIZLER_DATABASE_URL: db.url,
      RIZLER_ENCRYPTION_KEY: expected.encryption_key,
      RIZLER_ADMIN_TOKEN: expected.admin_token,
      RIZLER_RUN_WORKER: 'false',
      RIZLER_LOG_LEVEL: 'silent',
    });
    service = await startServer(config, pino({ level: 'silent' }), () => {});
    const base = `http://127.0.0.1:${service.port}`;

    const snapshots = Object.entries(expected[engine]);
    expect(snapshots.map(([name]) => name)).toEqual(['alpha', 'beta']);
    let counted = { webhooks: 0, events: 0, deliveries: 0, attempts: 0 };
    for (const [name, old] of snapshots) {
      const get = async (path: string) => {
        const res = await fetch(base + path, {
          headers: { authorization: `Bearer ${old.api_key}` },
        });
        expect(res.status, `${name}: GET ${path}`).toBe(200);
        return (await res.json()) as any;
      };
      // The old key still signs in, to the same account.
      expect(await get('/v1/account'), name).toMatchObject(old.account);
      const webhooks = (await get('/v1/webhooks?limit=100')).data;
      expect(webhooks, `${name}: webhooks`).toMatchObject(old.webhooks);
      for (const w of old.webhooks) {
        expect(await get(`/v1/webhooks/${w.id}`)).toMatchObject(w);
        // Plain (written before a key was set) and sealed secrets both open.
        expect(await get(`/v1/webhooks/${w.id}/secret`)).toEqual(old.secrets[w.id]);
      }
      expect((await get('/v1/events?limit=100')).data.map((e: any) => e.id)).toEqual(
        old.events.map((e) => e.id),
      );
      for (const e of old.events) expect(await get(`/v1/events/${e.id}`)).toMatchObject(e);
      expect((await get('/v1/deliveries?limit=100')).data.map((d: any) => d.id)).toEqual(
        old.deliveries.map((d) => d.id),
      );
      for (const d of old.deliveries) {
        // Every attempt, request header and response body of the old release, in order.
        expect(await get(`/v1/deliveries/${d.id}`)).toMatchObject(d);
        counted.attempts += (d as any).attempts.length;
      }
      counted = {
        ...counted,
        webhooks: counted.webhooks + old.webhooks.length,
        events: counted.events + old.events.length,
        deliveries: counted.deliveries + old.deliveries.length,
      };
    }
    // The fixture is not trivially small: each kind of object is there, in several states.
    expect(counted).toEqual({ webhooks: 5, events: 8, deliveries: 13, attempts: 18 });

    // And the upgraded store takes new work: the old account publishes to its old webhooks.
    const published = await fetch(base + '/v1/events', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${expected[engine].alpha!.api_key}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        event: 'call.ended',
        data: { call_id: 'call_after_upgrade', duration: 1, status: 'completed' },
      }),
    });
    expect(published.status).toBe(202);
    expect(((await published.json()) as any).deliveries).toBe(2);
  });

  it('refuses a database migrated by a newer release', async () => {
    db = await restore(engine);
    expect((await migrate(db.url)).code).toBe(0);
    const known = engine === 'sqlite' ? sqliteMigrations : postgresMigrations;
    const future = Math.max(...known.map((m) => m.version)) + 1;
    await db.sql(
      `INSERT INTO schema_migrations (version, name, applied_at) VALUES (${future}, 'from a newer release', 0)`,
    );
    const refused = await migrate(db.url);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain(
      `the database was migrated by a newer release of rizler-webhooks (schema migration ${future}; this release knows up to ${future - 1})`,
    );
  });
});
