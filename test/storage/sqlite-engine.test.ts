// SQLite-only behaviour (the shared suite in contract.test.ts runs on both engines): the
// background checkpointer of long-running processes, the connection's transactions, how a
// publish lays out its rows, how much a claim reads, and how a completion finds its row.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import Database from 'better-sqlite3';
import { SqliteStorage } from '../../src/storage/sqlite/index.js';
import { SqliteConnection } from '../../src/storage/sqlite/connection.js';
import { Statement } from '../../src/storage/sqlite/statement.js';
import { checkpointRound, type CheckpointResult } from '../../src/storage/sqlite/checkpoint.js';
import {
  T,
  claim,
  claimRequest,
  complete,
  makeAccount,
  makeWebhook,
  publishMany,
  publishOne,
} from './fixtures.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rizler-sqlite-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('SQLite with background checkpoints', () => {
  it('copies the WAL into the database file from its own thread, and leaves no WAL at close', async () => {
    const path = join(dir, 'db.sqlite');
    const storage = new SqliteStorage(path, { backgroundCheckpoints: true });
    await storage.migrate();
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    const before = statSync(path).size;
    // Enough pages for any checkpoint to show in the file's size; then no more writes, so no
    // commit could be the one that checkpoints.
    for (let i = 0; i < 300; i++) await publishOne(storage, account.id, 'call.ended');
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(100_000);
    const deadline = Date.now() + 10_000;
    while (statSync(path).size <= before + 100_000) {
      if (Date.now() > deadline) throw new Error('the WAL was never checkpointed');
      await new Promise((r) => setTimeout(r, 20));
    }
    await storage.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    // Everything written is there for the next process.
    const again = new SqliteStorage(path);
    const events = await again.listEvents(account.id, {}, { limit: 500, after: null });
    expect(events).toHaveLength(300);
    await again.close();
  });
});

describe("the checkpointer's round", () => {
  /** A WAL database with a writer and the checkpointer's own connection. */
  function walPair() {
    const path = join(dir, 'wal.sqlite');
    const writer = new Database(path);
    writer.pragma('journal_mode = WAL');
    writer.pragma('wal_autocheckpoint = 0');
    writer.exec('CREATE TABLE t (body TEXT)');
    const insert = writer.prepare('INSERT INTO t (body) VALUES (?)');
    const write = (rows: number) => {
      writer.transaction(() => {
        for (let i = 0; i < rows; i++) insert.run('x'.repeat(3000));
      })();
    };
    const checkpointer = new Database(path);
    const modes: string[] = [];
    /** Each checkpoint is followed by a commit at once: a writer that never pauses. */
    const checkpoint = (mode: 'PASSIVE' | 'RESTART') => {
      modes.push(mode);
      const result = (checkpointer.pragma(`wal_checkpoint(${mode})`) as CheckpointResult[])[0]!;
      write(1);
      return result;
    };
    /** The WAL header's checkpoint sequence: it changes each time the WAL starts over. */
    const walSequence = () => readFileSync(`${path}-wal`).readUInt32BE(12);
    const close = () => {
      checkpointer.close();
      writer.close();
    };
    return { write, checkpoint, modes, walSequence, close };
  }

  it('starts a WAL longer than its limit over, though the writer never pauses', () => {
    const wal = walPair();
    try {
      wal.write(200);
      const before = wal.walSequence();
      checkpointRound(wal.checkpoint, 100);
      expect(wal.modes.at(-1)).toBe('RESTART');
      // The commit after the restart wrote from the start of the file, under a new header.
      expect(wal.walSequence()).not.toBe(before);
    } finally {
      wal.close();
    }
  });

  it('only copies a shorter WAL back, and never holds the writer up', () => {
    const wal = walPair();
    try {
      wal.write(50);
      checkpointRound(wal.checkpoint, 1000);
      expect(wal.modes).toEqual(['PASSIVE']);
    } finally {
      wal.close();
    }
  });
});

describe('SQLite transactions', () => {
  it('take the write lock at BEGIN, undo all on a throw, and nest as savepoints', async () => {
    const path = join(dir, 'tx.sqlite');
    const connection = new SqliteConnection(path);
    const other = new Database(path);
    try {
      connection.stmt('CREATE TABLE t (x INTEGER)').run();
      other.pragma('busy_timeout = 0');
      /** Whether another connection can write now, or the error code that stops it. */
      const otherWrites = () => {
        try {
          other.prepare('INSERT INTO t VALUES (0)').run();
          return true;
        } catch (err) {
          return (err as { code?: string }).code;
        }
      };
      expect(otherWrites()).toBe(true);
      // Before the transaction's first write, another writer is already held off: a
      // transaction that read first and wrote later cannot find the database taken meanwhile.
      let during: unknown;
      await connection.tx(() => {
        connection.stmt('SELECT count(*) FROM t').get();
        during = otherWrites();
      });
      expect(during).toBe('SQLITE_BUSY');
      const values = () =>
        (connection.stmt('SELECT x FROM t ORDER BY x').all() as { x: number }[]).map((r) => r.x);
      await expect(
        connection.tx(() => {
          connection.stmt('INSERT INTO t VALUES (1)').run();
          throw new Error('undone');
        }),
      ).rejects.toThrow('undone');
      expect(values()).toEqual([0]);
      // One inside another: the inner one's throw undoes only its own writes.
      let inner: Promise<unknown> | undefined;
      await connection.tx(() => {
        connection.stmt('INSERT INTO t VALUES (2)').run();
        inner = connection.tx(() => {
          connection.stmt('INSERT INTO t VALUES (3)').run();
          throw new Error('inner');
        });
      });
      await expect(inner).rejects.toThrow('inner');
      expect(values()).toEqual([0, 2]);
    } finally {
      other.close();
      await connection.close();
    }
  });
});

describe('SQLite publish', () => {
  it("stores a batch's deliveries endpoint by endpoint, with ids still drawn in event order", async () => {
    const path = join(dir, 'db.sqlite');
    const storage = new SqliteStorage(path);
    await storage.migrate();
    const account = await makeAccount(storage);
    const a = await makeWebhook(storage, account.id);
    const b = await makeWebhook(storage, account.id);
    const ordered = await makeWebhook(storage, account.id, { ordering: 'per_key' });
    const published = await publishMany(storage, account.id, 3);
    await storage.close();

    const db = new Database(path, { readonly: true });
    const rows = db
      .prepare('SELECT id, webhook_id, event_id FROM deliveries ORDER BY rowid')
      .all() as { id: string; webhook_id: string; event_id: string }[];
    db.close();
    const events = published.map((p) => p.event.id);
    // The table's order: each endpoint's deliveries of the batch side by side, so that the
    // completions and leases of one endpoint rewrite few pages (publishMany's events carry no
    // ordering key, so the per_key endpoint's deliveries are outside any order too).
    expect(rows.map((r) => [r.webhook_id, r.event_id])).toEqual(
      [a.id, b.id, ordered.id].flatMap((w) => events.map((e) => [w, e])),
    );
    // The ids: in event order, then endpoint order, as each event was fanned out.
    expect(rows.map((r) => r.id).sort()).toEqual(
      events.flatMap((e) =>
        [a.id, b.id, ordered.id].map(
          (w) => rows.find((r) => r.event_id === e && r.webhook_id === w)!.id,
        ),
      ),
    );
  });
});

describe('SQLite claim', () => {
  /**
   * Counts the due deliveries the claims read with their events (the reads whose rows may be
   * leased), from the engine's own statements, while `work` runs.
   */
  async function dueRowsRead<T>(work: () => Promise<T>): Promise<{ result: T; read: number }> {
    const all = Statement.prototype.all;
    let read = 0;
    const spy = vi.spyOn(Statement.prototype, 'all').mockImplementation(function (
      this: Statement,
      ...params: unknown[]
    ) {
      const rows = all.apply(this, params);
      const source = (this as unknown as { prepared: { source: string } }).prepared.source;
      if (source.includes('payload_bytes')) read += rows.length;
      return rows;
    });
    try {
      return { result: await work(), read };
    } finally {
      spy.mockRestore();
    }
  }

  it('reads only the deliveries its plan can lease: the limit, the room of the origin', async () => {
    const storage = new SqliteStorage(join(dir, 'db.sqlite'));
    await storage.migrate();
    const account = await makeAccount(storage);
    // Ten endpoints of one origin, ten deliveries due on each.
    for (let i = 0; i < 10; i++) await makeWebhook(storage, account.id);
    await publishMany(storage, account.id, 10);

    // The turn takes up to twice the limit, ROTATION.minPerAccount of each endpoint in turn
    // (three endpoints' worth); only the limit is read, shared among them as the plan leases.
    const byLimit = await dueRowsRead(() => claim(storage, T, { limit: 12 }));
    expect(byLimit.result).toHaveLength(12);
    expect(byLimit.read).toBe(12);
    const perEndpoint = new Map<string, number>();
    for (const c of byLimit.result)
      perEndpoint.set(c.webhookId, (perEndpoint.get(c.webhookId) ?? 0) + 1);
    expect([...perEndpoint.values()]).toEqual([4, 4, 4]);

    // The worker's room for the origin binds before the limit.
    const byOrigin = await dueRowsRead(() => claim(storage, T, { limit: 50, originRoom: () => 5 }));
    expect(byOrigin.result).toHaveLength(5);
    expect(byOrigin.read).toBe(5);

    // A completion's refill: its freed endpoint first, then the turn, cut to the limit.
    const refill = await dueRowsRead(() =>
      complete(
        storage,
        byLimit.result[0]!,
        { kind: 'succeeded' },
        { next: claimRequest(T, { limit: 3 }) },
      ),
    );
    expect(refill.result).toHaveLength(3);
    expect(refill.read).toBe(3);
    expect(refill.result.map((c) => c.webhookId)).toContain(byLimit.result[0]!.webhookId);

    // What was read and left due is still there: every delivery is leased in the end.
    const rest = await claim(storage, T, { limit: 200 });
    expect(
      byLimit.result.length + byOrigin.result.length + refill.result.length + rest.length,
    ).toBe(100);
    await storage.close();
  });
});

describe('SQLite completion', () => {
  it('finds the leased row by the rowid its claim read, and still checks the id', async () => {
    const storage = new SqliteStorage(join(dir, 'db.sqlite'));
    await storage.migrate();
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    await publishMany(storage, account.id, 2);
    const [first, second] = await claim(storage, T);
    expect(first!.rowKey).toEqual(expect.any(Number));
    expect(second!.rowKey).not.toBe(first!.rowKey);
    // A key that names another row (as a rowid used again would): neither row is finished.
    await complete(storage, { ...first!, rowKey: second!.rowKey! }, { kind: 'succeeded' });
    const statusOf = async (id: string) => (await storage.getDelivery(account.id, id))?.status;
    expect(await statusOf(first!.deliveryId)).toBe('pending');
    expect(await statusOf(second!.deliveryId)).toBe('pending');
    // Its own key, and no key at all (by id): both finish their row.
    await complete(storage, first!, { kind: 'succeeded' });
    const { rowKey: _, ...byId } = second!;
    await complete(storage, byId, { kind: 'succeeded' });
    expect(await statusOf(first!.deliveryId)).toBe('succeeded');
    expect(await statusOf(second!.deliveryId)).toBe('succeeded');
    await storage.close();
  });
});

describe("SQLite completion's claim", () => {
  it('leases the next delivery of the endpoint it freed first, ahead of the turn across accounts', async () => {
    const storage = new SqliteStorage(join(dir, 'db.sqlite'));
    await storage.migrate();
    try {
      const a = await makeAccount(storage, 'a');
      const b = await makeAccount(storage, 'b');
      await makeWebhook(storage, a.id);
      await makeWebhook(storage, b.id);
      await publishMany(storage, a.id, 2);
      const one = { limit: 1, maxInFlightPerEndpoint: 1 };
      const [first] = await claim(storage, T, one);
      expect(first!.accountId).toBe(a.id);
      // Then b has deliveries due too, and the turn across accounts is b's: it goes on after a.
      await publishMany(storage, b.id, 2);
      const next = await complete(
        storage,
        first!,
        { kind: 'succeeded' },
        { now: T + 1, next: claimRequest(T + 1, one) },
      );
      // The slot it freed is refilled from its own endpoint, whose deliveries are due.
      expect(next.map((c) => c.webhookId)).toEqual([first!.webhookId]);
      // And one that freed an endpoint with nothing left leaves the claim to the turn.
      const [last] = next;
      const after = await complete(
        storage,
        last!,
        { kind: 'succeeded' },
        { now: T + 2, next: claimRequest(T + 2, one) },
      );
      expect(after).toHaveLength(1);
      expect(after[0]!.webhookId).not.toBe(first!.webhookId);
    } finally {
      await storage.close();
    }
  });
});
