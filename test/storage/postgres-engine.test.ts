// Engine-only: what a networked database adds and an embedded file cannot have. An unreachable,
// hanging, slow or restarting PostgreSQL server must give StorageUnavailableError at once
// (the API answers 503, workers back off) and the pool must recover by itself; wake-ups travel
// between processes through LISTEN/NOTIFY on a connection that reconnects by itself. SQLite
// has no server to lose and no other process to wake.
import { createServer, Socket, type Server } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  StorageUnavailableError,
  type ClaimedDelivery,
  type Handoff,
  type Storage,
  type Webhook,
} from '../../src/storage/index.js';
import { AHEAD_MAX_ENDPOINTS } from '../../src/storage/postgres/claim.js';
import { isUnavailable } from '../../src/storage/postgres/errors.js';
import {
  PostgresConnection,
  type PostgresOptions,
  type Query,
} from '../../src/storage/postgres/connection.js';
import { PostgresStorage } from '../../src/storage/postgres/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import {
  LEASE_MS,
  MINUTE,
  T,
  claim,
  claimRequest,
  complete,
  makeAccount,
  makeWebhook,
  newEvent,
  nextId,
  publishKeyed,
  publishMany,
  publishOne,
} from './fixtures.js';

let db: TestDatabase;
let admin: pg.Client;
const open: Storage[] = [];

function instance(url = db.url, options: PostgresOptions = {}): PostgresStorage {
  const storage = new PostgresStorage(url, { poolSize: 3, ...options });
  open.push(storage);
  return storage;
}

async function listenBackends(): Promise<number[]> {
  const { rows } = await admin.query(
    `SELECT pid FROM pg_stat_activity
     WHERE datname = current_database() AND query = 'LISTEN rizler_wake'`,
  );
  return rows.map((r) => r.pid as number);
}

/** A node of a plan as EXPLAIN (FORMAT JSON) gives it. */
interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Output?: string[];
  Filter?: string;
  'Parent Relationship'?: string;
  'Subplan Name'?: string;
  'CTE Name'?: string;
  Plans?: PlanNode[];
}

/** Whether a plan reads a table anywhere (not only what the statement itself made: CTEs). */
function readsTable(node: PlanNode): boolean {
  return node['Relation Name'] !== undefined || (node.Plans ?? []).some(readsTable);
}

/**
 * The CTEs a plan makes once (a statement's own, not one of a subquery run for each row, such as
 * a walk's recursive one for each account): scanned again for each row of a loop, they are read
 * n × n.
 */
function ctesMadeOnce(node: PlanNode, repeated = false, out = new Set<string>()): Set<string> {
  for (const child of node.Plans ?? []) {
    const name = child['Subplan Name'] ?? '';
    if (!repeated && child['Parent Relationship'] === 'InitPlan' && name.startsWith('CTE ')) {
      out.add(name.slice(4));
    }
    const again =
      child['Parent Relationship'] === 'SubPlan' ||
      (node['Node Type'] === 'Nested Loop' && child['Parent Relationship'] === 'Inner');
    ctesMadeOnce(child, repeated || again, out);
  }
  return out;
}

/**
 * The reads of a plan beyond the rows it asks for by key: a sequential scan, an index scan with
 * no condition outside a Limit (which stops at its first rows), a hashed subplan over a table
 * (which reads every row its subquery matches, whatever the outer row; over rows the statement
 * made itself, a CTE's, it reads no more than those), and a scan of an array's keys or of a
 * CTE's rows run again for each row of a loop (a batch of n reading n × n).
 */
function wideReads(
  node: PlanNode,
  underLimit = false,
  repeated = false,
  once = ctesMadeOnce(node),
): string[] {
  const type = node['Node Type'];
  const found: string[] = [];
  const name = node['Index Name'] ?? node['Relation Name'] ?? '';
  if (type === 'Seq Scan') found.push(`${type} on ${name}`);
  if (/Index/.test(type) && node['Index Cond'] === undefined && !underLimit) {
    found.push(`${type} on ${name}`);
  }
  if (repeated && /ANY \(/.test(node['Index Cond'] ?? '')) {
    found.push(`${type} on ${name} of an array, at each row`);
  }
  if (repeated && type === 'CTE Scan' && once.has(node['CTE Name'] ?? '')) {
    found.push(`${type} of ${node['CTE Name']}, at each row`);
  }
  const uses = [...(node.Output ?? []), node.Filter ?? ''].join('\n');
  /** Subplans run once, their rows hashed, not again for each row. */
  const hashed = new Set<string>();
  for (const [, name] of uses.matchAll(/hashed (SubPlan \d+)/g)) {
    hashed.add(name!);
    const sub = (node.Plans ?? []).find((p) => p['Subplan Name'] === name);
    if (sub === undefined || readsTable(sub)) found.push(`hashed subplan in ${type}`);
  }
  for (const child of node.Plans ?? []) {
    const again =
      (child['Parent Relationship'] === 'SubPlan' && !hashed.has(child['Subplan Name'] ?? '')) ||
      (type === 'Nested Loop' && child['Parent Relationship'] === 'Inner');
    found.push(...wideReads(child, underLimit || type === 'Limit', repeated || again, once));
  }
  return found;
}

/**
 * The engine's connections (poolSize 1: one for the by-key work, one for the rest), to read what
 * the by-key session has prepared (pg_prepared_statements is the session's own).
 */
const connectionOf = (storage: PostgresStorage) =>
  (storage as unknown as { parts: { connection: PostgresConnection } }).parts.connection;

beforeAll(async () => {
  db = await createTestDatabase();
  admin = new pg.Client({ connectionString: db.url, application_name: 'engine-admin' });
  await admin.connect();
  const storage = instance();
  await storage.migrate();
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await admin.query('SELECT pg_advisory_unlock_all()');
  await admin.query(
    'TRUNCATE accounts, webhooks, events, deliveries, delivery_queue, attempts, delivery_rollups, deleted_owners',
  );
});

afterAll(async () => {
  await admin?.end();
  await db?.drop();
});

describe('PostgreSQL engine: an unavailable database', () => {
  it('rejects every call at once with StorageUnavailableError when nothing listens', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    const storage = instance(`postgres://postgres@127.0.0.1:${port}/nothing`);
    const started = Date.now();
    const calls: Promise<unknown>[] = [
      storage.ping(),
      storage.migrate(),
      storage.getAccount('acc_1'),
      storage.listDeliveries('acc_1', {}, { limit: 10, after: null }),
      storage.claimDue({
        leaseToken: 'x',
        limit: 10,
        leaseMs: 1000,
        now: T,
        maxInFlightPerEndpoint: 10,
        defaultRateLimitPerMinute: 10,
      }),
      storage.requestRetry('acc_1', 'dlv_1', T),
    ];
    // Each handled at once: the calls on the by-key pool fail beside the others, not after.
    await Promise.all(
      calls.map((call) => expect(call).rejects.toBeInstanceOf(StorageUnavailableError)),
    );
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('gives up connecting to a server that never answers after ~3 s instead of hanging', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const storage = instance(`postgres://postgres@127.0.0.1:${port}/silent`);
      const started = Date.now();
      await expect(storage.ping()).rejects.toBeInstanceOf(StorageUnavailableError);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2500);
      expect(Date.now() - started).toBeLessThan(6000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('turns a statement that outlives the statement timeout into StorageUnavailableError', async () => {
    const storage = instance(db.url, { statementTimeoutMs: 200 });
    const account = await makeAccount(storage);
    // Another session holds the idempotency key's lock: the publish waits on it.
    await admin.query(
      "SELECT pg_advisory_lock(hashtextextended('events:' || $1 || ':' || $2, 0))",
      [account.id, 'key-1'],
    );
    const started = Date.now();
    await expect(
      publishOne(storage, account.id, 'call.ended', { idempotencyKey: 'key-1' }),
    ).rejects.toBeInstanceOf(StorageUnavailableError);
    expect(Date.now() - started).toBeLessThan(2000);
    await admin.query('SELECT pg_advisory_unlock_all()');
    expect(
      (await publishOne(storage, account.id, 'call.ended', { idempotencyKey: 'key-1' })).duplicate,
    ).toBe(false);
  });

  it('reports a connection killed mid-transaction as unavailable, then carries on', async () => {
    const storage = instance();
    const account = await makeAccount(storage);
    await admin.query(
      "SELECT pg_advisory_lock(hashtextextended('events:' || $1 || ':' || $2, 0))",
      [account.id, 'key-2'],
    );
    const publishing = publishOne(storage, account.id, 'call.ended', { idempotencyKey: 'key-2' });
    const settled = publishing.then(
      () => null,
      (err: unknown) => err,
    );
    // The database restarts under it: admin_shutdown (57P01) for the waiting backend.
    await vi.waitFor(async () => {
      const { rows } = await admin.query(
        `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'rizler-webhooks'
           AND wait_event_type = 'Lock'`,
      );
      expect(rows).toHaveLength(1);
    });
    expect(await settled).toBeInstanceOf(StorageUnavailableError);
    await admin.query('SELECT pg_advisory_unlock_all()');
    await storage.ping();
    const published = await publishOne(storage, account.id, 'call.ended', {
      idempotencyKey: 'key-2',
    });
    expect(published.duplicate).toBe(false);
    expect(await storage.listEvents(account.id, {}, { limit: 10, after: null })).toHaveLength(1);
  });

  it('survives its idle connections being cut and reconnects by itself', async () => {
    const storage = instance();
    const account = await makeAccount(storage);
    await Promise.all([storage.ping(), storage.ping(), storage.ping()]);
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'rizler-webhooks'`,
    );
    // The pool drops the dead clients (no crash from their 'error'); a call may still meet
    // one of them and say so, the next ones get fresh connections.
    for (let i = 0; i < 3; i++) {
      await storage.getAccount(account.id).catch((err: unknown) => {
        expect(err).toBeInstanceOf(StorageUnavailableError);
      });
    }
    expect(await storage.getAccount(account.id)).toEqual(account);
  });

  it('classifies connection failures, not bad statements, as unavailable', () => {
    for (const code of [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      '57P01',
      '57P03',
      '08006',
      '08001',
      '53300',
    ]) {
      expect(isUnavailable(Object.assign(new Error('x'), { code }))).toBe(true);
    }
    expect(isUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(
      isUnavailable(new AggregateError([Object.assign(new Error('a'), { code: 'ECONNREFUSED' })])),
    ).toBe(true);
    for (const code of ['23505', '42P01', '22P02', '40P01']) {
      expect(isUnavailable(Object.assign(new Error('x'), { code }))).toBe(false);
    }
    expect(isUnavailable(new Error('syntax error'))).toBe(false);
  });
});

describe('PostgreSQL engine: wake-ups between processes', () => {
  it('wakes a worker in another process when deliveries are published', async () => {
    const worker = instance();
    const api = instance();
    const account = await makeAccount(api);
    await makeWebhook(api, account.id);
    const woke = vi.fn();
    const off = worker.onWake(woke);
    await vi.waitFor(async () => expect(await listenBackends()).toHaveLength(1));
    await publishOne(api, account.id, 'call.ended');
    await vi.waitFor(() => expect(woke).toHaveBeenCalledTimes(1));
    off();
  });

  it('tells the other processes of a publish unless its hand-off leased every delivery', async () => {
    const storage = instance();
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    const heard: string[] = [];
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    listener.on('notification', (m) => heard.push(m.payload ?? ''));
    await listener.query('LISTEN rizler_wake');
    /** What was heard, up to a notification sent now: they arrive in commit order. */
    const heardUpTo = async (mark: string) => {
      await admin.query("SELECT pg_notify('rizler_wake', $1)", [mark]);
      await vi.waitFor(() => expect(heard).toContain(mark));
      return heard.splice(0).map((p) => (p === mark ? p : 'publish'));
    };
    try {
      const taken: ClaimedDelivery[][] = [];
      const handoff: Handoff = {
        request: claimRequest(T, { leaseToken: 'h-1', limit: 10, maxInFlightPerEndpoint: 1 }),
        take: (leased) => taken.push(leased),
        release: () => {},
      };
      // Its one delivery leased to this process's worker: nothing for the others to do.
      await publishOne(storage, account.id, 'call.ended', { handoff });
      expect(taken.flat()).toHaveLength(1);
      expect(await heardUpTo('m1')).toEqual(['m1']);
      // The endpoint at its cap: the delivery stays due, and the others are told.
      await publishOne(storage, account.id, 'call.ended', { handoff });
      expect(taken.flat()).toHaveLength(1);
      expect(await heardUpTo('m2')).toEqual(['publish', 'm2']);
      // Without a hand-off (a process without a worker), always.
      await publishOne(storage, account.id, 'call.ended');
      expect(await heardUpTo('m3')).toEqual(['publish', 'm3']);
    } finally {
      await listener.end();
    }
  });

  it('holds a LISTEN connection only while someone listens', async () => {
    const storage = instance();
    await storage.ping();
    expect(await listenBackends()).toEqual([]);
    const offA = storage.onWake(() => undefined);
    const wokeB = vi.fn();
    const offB = storage.onWake(wokeB);
    await vi.waitFor(async () => expect(await listenBackends()).toHaveLength(1));
    offA();
    // B still hears a notification from another process through the connection A shared.
    const other = instance();
    const account = await makeAccount(other);
    await makeWebhook(other, account.id);
    await publishOne(other, account.id, 'call.ended');
    await vi.waitFor(() => expect(wokeB).toHaveBeenCalled());
    expect(await listenBackends()).toHaveLength(1);
    offB();
    await vi.waitFor(async () => expect(await listenBackends()).toEqual([]));
    // Listening again after that works.
    const offC = storage.onWake(() => undefined);
    await vi.waitFor(async () => expect(await listenBackends()).toHaveLength(1));
    offC();
  });

  it('does not wake its own listeners twice for its own notification', async () => {
    const storage = instance();
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    const woke = vi.fn();
    const off = storage.onWake(woke);
    await vi.waitFor(async () => expect(await listenBackends()).toHaveLength(1));
    await publishOne(storage, account.id, 'call.ended');
    expect(woke).toHaveBeenCalledTimes(1);
    // Notifications arrive in commit order: once another process's later one is heard, our
    // own would have come back before it.
    const other = instance();
    await publishOne(other, account.id, 'call.ended');
    await vi.waitFor(() => expect(woke).toHaveBeenCalledTimes(2));
    expect(woke).toHaveBeenCalledTimes(2);
    off();
  });

  it('listens again after its connection is cut, and wakes once for what it may have missed', async () => {
    const worker = instance();
    const api = instance();
    const account = await makeAccount(api);
    await makeWebhook(api, account.id);
    const woke = vi.fn();
    const off = worker.onWake(woke);
    const [pid] = await vi.waitFor(async () => {
      const pids = await listenBackends();
      expect(pids).toHaveLength(1);
      return pids;
    });
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    // Deliveries published while it was away are announced by a wake on reconnect.
    await publishOne(api, account.id, 'call.ended');
    await vi.waitFor(
      async () => {
        const pids = await listenBackends();
        expect(pids).toHaveLength(1);
        expect(pids[0]).not.toBe(pid);
      },
      { timeout: 5000 },
    );
    await vi.waitFor(() => expect(woke).toHaveBeenCalled());
    const before = woke.mock.calls.length;
    await publishOne(api, account.id, 'call.ended');
    await vi.waitFor(() => expect(woke.mock.calls.length).toBeGreaterThan(before));
    off();
    expect(await claim(worker, T)).toHaveLength(2);
  });
});

describe('PostgreSQL engine: prepared statements', () => {
  it('prepares a statement with parameters once per connection, unless told not to', async () => {
    for (const preparedStatements of [true, false]) {
      const connection = new PostgresConnection(db.url, { poolSize: 1, preparedStatements });
      try {
        for (let i = 0; i < 3; i++) await connection.query('SELECT $1::int AS x', [i]);
        // Without parameters: run as it is, on the same one connection.
        const [row] = await connection.query(
          "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int%'",
        );
        expect(Number(row!.n)).toBe(preparedStatements ? 1 : 0);
      } finally {
        await connection.close();
      }
    }
  });

  it('plans the by-key work once per statement, generically, and only that work', async () => {
    const read =
      "SELECT current_setting('plan_cache_mode') AS mode, current_setting('enable_seqscan') AS seqscan";
    const byKey = [{ mode: 'force_generic_plan', seqscan: 'off' }];
    const usual = [{ mode: 'auto', seqscan: 'on' }];
    for (const preparedStatements of [true, false]) {
      const connection = new PostgresConnection(db.url, { poolSize: 1, preparedStatements });
      try {
        const setting = (q: Query) => q(read);
        expect(await connection.tx((q) => setting(q), 'by-key')).toEqual(byKey);
        // Everything else plans as usual, before and after.
        expect(await connection.tx((q) => setting(q))).toEqual(usual);
        expect(await connection.query(read)).toEqual(usual);
        expect(await connection.tx((q) => setting(q), 'by-key')).toEqual(byKey);
        // A statement alone: on a session set so; without prepared statements nothing is
        // kept to plan once, and it is planned as any other.
        expect(await connection.byKey(read)).toEqual(preparedStatements ? byKey : usual);
      } finally {
        await connection.close();
      }
    }
  });

  it("plans the publish's, the claim's and the completion's statements once, however few ids they carry", async () => {
    const storage = instance(db.url, { poolSize: 1 });
    const connection = connectionOf(storage);
    const planned = async () =>
      new Map(
        (
          await connection.byKey(
            'SELECT name, statement, generic_plans, custom_plans FROM pg_prepared_statements',
          )
        ).map((r) => [String(r.name), r]),
      );
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    const before = await planned();
    // One delivery a call, as at a low rate: a plan made for each call's values would look
    // cheaper than the generic one, and PostgreSQL would plan them all again at every call.
    for (let i = 0; i < 8; i++) {
      await publishOne(storage, account.id, 'call.ended', { now: T + i });
      const [claimed] = await claim(storage, T + i);
      await complete(storage, claimed!, { kind: 'succeeded' }, { now: T + i });
    }
    const made = [...(await planned()).values()].filter((r) => !before.has(String(r.name)));
    expect(made.length).toBeGreaterThan(5);
    expect(made.filter((r) => Number(r.custom_plans) > 0).map((r) => r.statement)).toEqual([]);
  });

  it('reads a CTE scanned again at each row of a loop as a wide read, not one hashed once', async () => {
    const plan = async (text: string) => {
      const [row] = await admin
        .query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (VERBOSE, FORMAT JSON) ${text}`)
        .then((r) => r.rows);
      return wideReads(row!['QUERY PLAN'][0].Plan);
    };
    await admin.query('SET enable_hashjoin = off');
    await admin.query('SET enable_mergejoin = off');
    try {
      // A batch joined to another of the statement's CTEs by a nested loop: n × n.
      expect(
        await plan(`WITH a AS MATERIALIZED (SELECT x FROM generate_series(1, 100) AS x),
          b AS MATERIALIZED (SELECT x FROM generate_series(1, 100) AS x)
          SELECT * FROM a JOIN b ON a.x = b.x`),
      ).toEqual(['CTE Scan of b, at each row']);
      // A hashed subplan over a CTE reads it once.
      expect(
        await plan(`WITH a AS MATERIALIZED (SELECT x FROM generate_series(1, 100) AS x)
          SELECT x FROM generate_series(1, 100) AS g(x) WHERE x IN (SELECT x FROM a) OR x < 0`),
      ).toEqual([]);
    } finally {
      await admin.query('RESET enable_hashjoin');
      await admin.query('RESET enable_mergejoin');
    }
  });

  it('keeps generic plans made on new tables to reading by key, as the tables grow', async () => {
    // Plans made while the tables are empty are kept for the connection's life wherever nothing
    // analyzes the tables again (autovacuum off): one that reads a whole table or index, cheap
    // then, costs more with every row. The attempts' insert read every delivery at each
    // completion so (PostgreSQL at 200 events/s: 500 pages a call, a third of its CPU).
    const storage = instance(db.url, { poolSize: 1 });
    const connection = connectionOf(storage);
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    await makeWebhook(storage, account.id, { ordering: 'per_key' });
    // Each path at least ten times (PostgreSQL makes a generic plan to compare after the fifth
    // call of a statement planned as usual): publishes with a hand-off and without, keyed and
    // not, claims, completions that succeed and that retry, with their refill, and nextDueAt.
    for (let i = 0; i < 10; i++) {
      const now = T + i * LEASE_MS * 2;
      const taken: ClaimedDelivery[][] = [];
      const handoff = {
        request: claimRequest(now, { leaseToken: `handoff-${i}`, limit: 10 }),
        take: (leased: ClaimedDelivery[]) => taken.push(leased),
        release: () => undefined,
      };
      await publishOne(storage, account.id, 'call.ended', { now, handoff });
      await publishKeyed(storage, account.id, [`key-${i % 2}`], { now });
      for (const claimed of [...(taken[0] ?? []), ...(await claim(storage, now))]) {
        await complete(
          storage,
          claimed,
          i % 2 === 0 ? { kind: 'succeeded' } : { kind: 'retry', nextAttemptAt: now + MINUTE },
          { now, next: claimRequest(now) },
        );
      }
      await storage.nextDueAt();
    }
    const statements = await connection.byKey(
      `SELECT name, statement, cardinality(parameter_types) AS n FROM pg_prepared_statements
       WHERE generic_plans > 0`,
    );
    expect(statements.length).toBeGreaterThan(10);
    const wide: string[] = [];
    await connection.tx(async (q) => {
      for (const s of statements) {
        const args = Array.from({ length: Number(s.n) }, () => 'NULL').join(', ');
        const [row] = await q(
          `EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE "${String(s.name)}"${args ? `(${args})` : ''}`,
        );
        const reads = wideReads((row!['QUERY PLAN'] as [{ Plan: PlanNode }])[0].Plan);
        if (reads.length > 0) wide.push(`${reads.join(', ')}: ${String(s.statement).trim()}`);
      }
    }, 'by-key');
    expect(wide).toEqual([]);
  });

  it('runs on when a migration elsewhere changes the columns of a prepared statement', async () => {
    const storage = instance(db.url, { poolSize: 2 });
    const account = await makeAccount(storage);
    const webhook = await makeWebhook(storage, account.id);
    // Prepared on both connections (SELECT * FROM webhooks ...).
    await Promise.all([
      storage.getWebhook(account.id, webhook.id),
      storage.getWebhook(account.id, webhook.id),
    ]);
    await admin.query('ALTER TABLE webhooks ADD COLUMN later_column integer');
    try {
      expect((await storage.getWebhook(account.id, webhook.id))?.id).toBe(webhook.id);
      expect(await claim(storage, T)).toEqual([]);
      await publishOne(storage, account.id, 'call.ended', { now: T });
      expect(await claim(storage, T + 1)).toHaveLength(1);
    } finally {
      await admin.query('ALTER TABLE webhooks DROP COLUMN later_column');
    }
  });
});

describe("PostgreSQL engine: a transaction's BEGIN and COMMIT ride with its statements", () => {
  /**
   * The wire, in order: each query as the client writes it (`> BEGIN`, `> COMMIT`, `> statement`
   * for one with parameters) and each answer as it comes back (`<`, the server ready again).
   */
  function wire() {
    const order: string[] = [];
    const proto = pg.Connection.prototype as unknown as {
      query(text: string): void;
      sync(): void;
      emit(event: string, ...args: unknown[]): boolean;
    };
    const { query, sync, emit } = proto;
    const spies = [
      vi.spyOn(proto, 'query').mockImplementation(function (this: unknown, text: string) {
        order.push(`> ${text}`);
        query.call(this, text);
      }),
      vi.spyOn(proto, 'sync').mockImplementation(function (this: unknown) {
        order.push('> statement');
        sync.call(this);
      }),
      vi.spyOn(proto, 'emit').mockImplementation(function (this: unknown, event, ...args) {
        if (event === 'readyForQuery') order.push('<');
        return emit.call(this, event, ...args);
      }),
    ];
    return { order, restore: () => spies.forEach((s) => s.mockRestore()) };
  }

  /** What `work` sent and was answered on the wire (wire()), from its start to its end. */
  async function watch(work: () => Promise<unknown>): Promise<string[]> {
    const { order, restore } = wire();
    try {
      await work();
    } finally {
      restore();
    }
    return order;
  }

  /**
   * The wire of `wire()` for queries sent in round trips: each trip's queries written (a
   * statement with parameters as `statement`), then their answers.
   */
  const trips = (...each: string[][]) =>
    each.flatMap((trip) => [...trip.map((q) => `> ${q}`), ...trip.map(() => '<')]);

  /** A hand-off at `now` that keeps what each publish leased in `taken`. */
  const handoffInto = (taken: ClaimedDelivery[][], now: number, limit: number): Handoff => ({
    request: claimRequest(now, { leaseToken: 'h-1', limit }),
    take: (leased) => taken.push(leased),
    release: () => {},
  });

  it('writes BEGIN with the first statement and COMMIT with the last, waiting for neither alone', async () => {
    const connection = new PostgresConnection(db.url, { poolSize: 2 });
    try {
      // Both pools' connections open, the by-key one's session set, before watching.
      await connection.query('SELECT 1');
      await connection.byKey('SELECT 1');
      for (const planning of ['auto', 'by-key'] as const) {
        const { order, restore } = wire();
        try {
          const result = await connection.tx(async (q, end) => {
            await q('SELECT $1::int AS a', [1]);
            await q('SELECT $1::int AS b', [2]);
            return end('SELECT $1::int AS c', [3]);
          }, planning);
          expect(result).toEqual([{ c: 3 }]);
        } finally {
          restore();
        }
        expect(order).toEqual(
          trips(['BEGIN', 'statement'], ['statement'], ['statement', 'COMMIT']),
        );
      }
      // Without `end`, the COMMIT follows the work; a work without statements is BEGIN and
      // COMMIT in one round trip.
      const { order, restore } = wire();
      try {
        await connection.tx(async (q) => q('SELECT 1 AS a'));
        await connection.tx(async () => 'nothing');
      } finally {
        restore();
      }
      expect(order).toEqual(trips(['BEGIN', 'SELECT 1 AS a'], ['COMMIT'], ['BEGIN', 'COMMIT']));
    } finally {
      await connection.close();
    }
  });

  it('writes BEGIN and what the work sends before its first wait in one system call, and a statement with its COMMIT in one', async () => {
    const connection = new PostgresConnection(db.url, { poolSize: 2 });
    // The socket writes (system calls) made while the transactions run.
    let writes = 0;
    const proto = Socket.prototype as unknown as {
      _write(chunk: unknown, encoding: unknown, cb: unknown): void;
      _writev(chunks: unknown[], cb: unknown): void;
    };
    const { _write, _writev } = proto;
    try {
      await connection.query('SELECT 1');
      await connection.byKey('SELECT 1');
      const spies = [
        vi.spyOn(proto, '_write').mockImplementation(function (this: unknown, c, e, cb) {
          writes++;
          _write.call(this, c, e, cb);
        }),
        vi.spyOn(proto, '_writev').mockImplementation(function (this: unknown, chunks, cb) {
          writes++;
          _writev.call(this, chunks, cb);
        }),
      ];
      try {
        for (const planning of ['auto', 'by-key'] as const) {
          const result = await connection.tx(async (q, end) => {
            await Promise.all([q('SELECT $1::int AS a', [1]), q('SELECT $1::int AS b', [2])]);
            return end('SELECT $1::int AS c', [3]);
          }, planning);
          expect(result).toEqual([{ c: 3 }]);
        }
      } finally {
        spies.forEach((s) => s.mockRestore());
      }
      // Per transaction: BEGIN and the two statements, then the last statement and its COMMIT,
      // one write each: two, where node-postgres alone makes five (a write per query).
      expect(writes).toBe(4);
    } finally {
      await connection.close();
    }
  });

  it('publishes with a hand-off in two round trips, and claims in four (its walk, then three)', async () => {
    const storage = instance(db.url, { poolSize: 2 });
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    // The connections open, the by-key session set, every statement prepared, before watching.
    const taken: ClaimedDelivery[][] = [];
    const handoff = handoffInto(taken, T, 10);
    await publishOne(storage, account.id, 'call.ended', { now: T, handoff });
    await publishOne(storage, account.id, 'call.ended', { now: T });
    expect(await claim(storage, T)).toHaveLength(1);

    const { order, restore } = wire();
    try {
      await publishOne(storage, account.id, 'call.ended', { now: T, handoff });
      expect(taken.flat()).toHaveLength(2);
      const published = order.splice(0);
      await publishOne(storage, account.id, 'call.ended', { now: T });
      order.length = 0;
      expect(await claim(storage, T)).toHaveLength(1);
      // The publish: BEGIN with the endpoints' read, the lock and the count of leases behind
      // it (the account has few endpoints); the insert with its COMMIT.
      expect(published).toEqual(
        trips(['BEGIN', 'statement', 'statement', 'statement'], ['statement', 'COMMIT']),
      );
      // The claim: its walk, a statement alone; then BEGIN, its commit without waiting for the
      // WAL's flush (a lease may be lost in a crash), the lock and the count of leases behind
      // it; the read; the write with its COMMIT.
      expect(order).toEqual(
        trips(
          ['statement'],
          ['BEGIN', 'SET LOCAL synchronous_commit TO off', 'statement', 'statement'],
          ['statement'],
          ['statement', 'COMMIT'],
        ),
      );
    } finally {
      restore();
    }
  });

  it("publishes an event in a key's order in three round trips: its key's lock and tail in one", async () => {
    const storage = instance(db.url, { poolSize: 2 });
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id, { ordering: 'per_key' });
    const taken: ClaimedDelivery[][] = [];
    const handoff = handoffInto(taken, T, 10);
    const keyed = (key: string) =>
      storage.publish({
        accountId: account.id,
        events: [{ ...newEvent('call.ended'), orderingKey: key }],
        newDeliveryId: () => nextId('dlv'),
        now: T,
        idempotencyWindowMs: MINUTE,
        handoff,
      });
    // The connections open, every statement prepared, before watching.
    await keyed('call_1');
    const order = await watch(() => keyed('call_2'));
    // BEGIN with the endpoints' read, their lock and count of leases (the account has few
    // endpoints); the key's lock with the read of its tail (the seq it goes after); the insert
    // with its COMMIT.
    expect(order).toEqual(
      trips(
        ['BEGIN', 'statement', 'statement', 'statement'],
        ['statement', 'statement'],
        ['statement', 'COMMIT'],
      ),
    );
    // Each went out as its key's head, to this process's worker.
    expect(taken.flat().map((d) => [d.orderingKey, d.ordered])).toEqual([
      ['call_1', true],
      ['call_2', true],
    ]);
  });

  it('hands off what two publishes of one process send to an endpoint at once: the second waits for the first', async () => {
    const storage = instance(db.url, { poolSize: 3 });
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    const taken: ClaimedDelivery[][] = [];
    const handoff = handoffInto(taken, T, 10);
    // Sent together, each on a connection of its own: the second, skipping the endpoint the
    // first holds, would leave its delivery due for a claim.
    for (let round = 0; round < 5; round++) {
      await Promise.all([
        publishOne(storage, account.id, 'call.ended', { now: T, handoff }),
        publishOne(storage, account.id, 'call.ended', { now: T, handoff }),
      ]);
    }
    expect(taken.flat()).toHaveLength(10);
    expect(await claim(storage, T)).toEqual([]);
  });

  it('publishes for an account with more endpoints than it locks ahead in three round trips', async () => {
    const storage = instance(db.url, { poolSize: 2 });
    const account = await makeAccount(storage);
    const webhooks: Webhook[] = [];
    for (let i = 0; i <= AHEAD_MAX_ENDPOINTS; i++) {
      webhooks.push(await makeWebhook(storage, account.id, { events: ['call.ended'] }));
    }
    const taken: ClaimedDelivery[][] = [];
    const handoff = handoffInto(taken, T, 100);
    await publishOne(storage, account.id, 'call.ended', { now: T, handoff });
    const order = await watch(() =>
      publishOne(storage, account.id, 'call.ended', { now: T, handoff }),
    );
    // Locked ahead, they would be read and counted for nothing: the lock and the count of
    // the endpoints its events go to follow the endpoints' read, as they did before.
    expect(order).toEqual(
      trips(
        ['BEGIN', 'statement', 'statement', 'statement'],
        ['statement', 'statement'],
        ['statement', 'COMMIT'],
      ),
    );
    expect(taken.flat()).toHaveLength(2 * webhooks.length);
  });

  it('takes in hand what is due on an endpoint it locked ahead that its events do not go to', async () => {
    const storage = instance(db.url, { poolSize: 2 });
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id, { events: ['call.ended'] });
    const other = await makeWebhook(storage, account.id, { events: ['agent.status_changed'] });
    // Due on the other endpoint, left to a claim.
    await publishOne(storage, account.id, 'agent.status_changed', { now: T });
    const taken: ClaimedDelivery[][] = [];
    const handoff = handoffInto(taken, T + 1, 10);
    await publishOne(storage, account.id, 'call.ended', { now: T + 1, handoff });
    // The publish held that endpoint: a claim meanwhile would have skipped it, so its hand-off
    // leases what is due there, as the claim would have.
    const leased = taken.flat();
    expect(leased.map((d) => d.eventType).sort()).toEqual(['agent.status_changed', 'call.ended']);
    expect(leased.find((d) => d.eventType === 'agent.status_changed')?.webhookId).toBe(other.id);
    expect(await claim(storage, T + 1)).toEqual([]);
  });

  it("completes a delivery in a key's order in two round trips: the record with the next's release, the wake-up with the COMMIT", async () => {
    const storage = instance(db.url, { poolSize: 2 });
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id, { ordering: 'per_key' });
    await publishKeyed(storage, account.id, ['k', 'k', 'k']);
    // The connections open, the by-key session set, every statement prepared, before watching.
    const [first] = await claim(storage, T);
    await complete(storage, first!, { kind: 'succeeded' });
    const [second] = await claim(storage, T);
    const { order, restore } = wire();
    try {
      await complete(storage, second!, { kind: 'succeeded' });
    } finally {
      restore();
    }
    // BEGIN with the record, and behind it the key's lock and the next's promotion (its claim
    // says it was the key's head); the NOTIFY (the next is due) with the COMMIT.
    expect(order).toEqual(
      trips(['BEGIN', 'statement', 'statement', 'statement'], ['statement', 'COMMIT']),
    );
    const [third] = await claim(storage, T);
    expect(third?.eventId).not.toBe(second!.eventId);
    expect(await claim(storage, T)).toEqual([]);
  });

  it('rolls the whole transaction back when the statement sent with its COMMIT fails', async () => {
    const connection = new PostgresConnection(db.url, { poolSize: 2 });
    try {
      await connection.query('CREATE TABLE IF NOT EXISTS tx_probe (n int PRIMARY KEY)');
      await connection.query('TRUNCATE tx_probe');
      await expect(
        connection.tx(async (q, end) => {
          await q('INSERT INTO tx_probe (n) VALUES ($1)', [1]);
          await end('INSERT INTO tx_probe (n) VALUES ($1), ($1)', [2]);
        }),
      ).rejects.toThrow(/duplicate key/);
      expect(await connection.query('SELECT n FROM tx_probe')).toEqual([]);
      // The connection goes on: the next transaction commits what it wrote, and a statement
      // after its `end` is refused, what `end` committed kept.
      await expect(
        connection.tx(async (q, end) => {
          await end('INSERT INTO tx_probe (n) VALUES ($1)', [3]);
          await q('INSERT INTO tx_probe (n) VALUES ($1)', [4]);
        }),
      ).rejects.toThrow(/after the end of its transaction/);
      expect(await connection.query('SELECT n FROM tx_probe ORDER BY n')).toEqual([{ n: 3 }]);
      await connection.tx((q) => q('INSERT INTO tx_probe (n) VALUES ($1)', [5]));
      expect(await connection.query('SELECT n FROM tx_probe ORDER BY n')).toEqual([
        { n: 3 },
        { n: 5 },
      ]);
    } finally {
      await connection.query('DROP TABLE IF EXISTS tx_probe');
      await connection.close();
    }
  });
});

describe('PostgreSQL engine: a completion in one round trip', () => {
  it('records automatic successes as one statement, and as a transaction where there is more to do', async () => {
    const storage = instance(db.url, { poolSize: 2 });
    const account = await makeAccount(storage);
    const webhook = await makeWebhook(storage, account.id);
    await publishMany(storage, account.id, 3, { now: T });
    const claimed = await claim(storage, T);
    expect(claimed).toHaveLength(3);
    const sent = vi.spyOn(pg.Client.prototype, 'query');
    const texts = () =>
      sent.mock.calls.map((c) => {
        const arg = c[0] as string | { text: string };
        return (typeof arg === 'string' ? arg : arg.text).trim().split(/\s+/)[0]!;
      });
    const alone = () =>
      sent.mock.calls.filter((c) => JSON.stringify(c[0]).includes('rizler_undo')).length;
    try {
      // A success, its endpoint healthy: one statement, no BEGIN or COMMIT.
      await complete(storage, claimed[0]!, { kind: 'succeeded' }, { now: T + 1 });
      expect(texts()).toEqual(['WITH']);
      expect(alone()).toBe(1);

      // Another process throttled the endpoint meanwhile: its limit grows back with each
      // success, under its lock. The statement finds that, undoes itself, and the completion
      // runs as a transaction.
      await admin.query('UPDATE webhooks SET concurrency_limit = 2 WHERE id = $1', [webhook.id]);
      sent.mockClear();
      await complete(storage, claimed[1]!, { kind: 'succeeded' }, { now: T + 2 });
      expect(alone()).toBe(1);
      expect(texts()).toContain('BEGIN');
      expect(texts().at(-1)).toBe('COMMIT');
      const limit = async () =>
        (await admin.query('SELECT concurrency_limit FROM webhooks WHERE id = $1', [webhook.id]))
          .rows[0].concurrency_limit as number | null;
      expect(await limit()).not.toBe(2);

      // Known throttled now: a transaction from the start.
      sent.mockClear();
      await complete(storage, claimed[2]!, { kind: 'succeeded' }, { now: T + 3 });
      expect(alone()).toBe(0);
      expect(texts()[0]).toBe('BEGIN');
    } finally {
      sent.mockRestore();
    }
    // What the undone statement wrote is gone: one attempt each, each success counted once.
    for (const c of claimed) {
      const detail = await storage.getDelivery(account.id, c.deliveryId);
      expect(detail?.status).toBe('succeeded');
      expect(detail?.attempts).toHaveLength(1);
    }
    const slot = Math.floor(T / (5 * MINUTE)) * 5 * MINUTE;
    const stats = await storage.webhookStats({
      accountId: account.id,
      webhookId: webhook.id,
      since: slot,
      bucketMs: 5 * MINUTE,
    });
    expect(stats.succeeded).toBe(3);
    expect(stats.buckets.reduce((n, b) => n + b.succeeded, 0)).toBe(3);
  });
});

describe("PostgreSQL engine: a claim's word on the most it will lease", () => {
  it('tells the worker after its walk, when the walk counted every due delivery, and not otherwise', async () => {
    const storage = instance();
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    await publishMany(storage, account.id, 3);
    const found = vi.fn();
    const first = await storage.claimDue({ ...claimRequest(T, { limit: 10 }), found });
    expect(found.mock.calls).toEqual([[3]]);
    expect(first).toHaveLength(3);
    // Eight due: an endpoint's count stops at the rotation's minimum, past which any number
    // more may be due, so the claim cannot say.
    await publishMany(storage, account.id, 8);
    found.mockClear();
    const second = await storage.claimDue({ ...claimRequest(T, { limit: 10 }), found });
    expect(found).not.toHaveBeenCalled();
    expect(second).toHaveLength(8);
  });
});

describe('PostgreSQL engine: a claim with nothing due', () => {
  it('ends after its walk, one statement, and claims in a transaction when something is due', async () => {
    const storage = instance(db.url, { poolSize: 2 });
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    // The by-key connection open (its session set) before counting.
    await claim(storage, T);
    const sent = vi.spyOn(pg.Client.prototype, 'query');
    const first = () =>
      sent.mock.calls.map((c) => {
        const arg = c[0] as string | { text: string };
        return (typeof arg === 'string' ? arg : arg.text).trim().split(/\s+/)[0]!;
      });
    try {
      expect(await claim(storage, T)).toEqual([]);
      expect(first()).toEqual(['WITH']);
      // Scheduled, but not due yet: still nothing to do.
      await publishOne(storage, account.id, 'call.ended', { now: T + MINUTE });
      sent.mockClear();
      expect(await claim(storage, T)).toEqual([]);
      expect(first()).toEqual(['WITH']);
      sent.mockClear();
      expect(await claim(storage, T + MINUTE)).toHaveLength(1);
      expect(first()[0]).toBe('WITH');
      expect(first().slice(1, 2)).toEqual(['BEGIN']);
      expect(first().at(-1)).toBe('COMMIT');
    } finally {
      sent.mockRestore();
    }
  });
});

describe('PostgreSQL engine: endpoints held by another transaction', () => {
  it('after a claim that skipped one, nextDueAt answers shortly without asking; after one that did not, it asks', async () => {
    const storage = instance();
    const account = await makeAccount(storage);
    const webhook = await makeWebhook(storage, account.id);
    await publishOne(storage, account.id, 'call.ended', { now: T });
    // Another worker's claim or completion holds the endpoint's row.
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT id FROM webhooks WHERE id = $1 FOR NO KEY UPDATE', [webhook.id]);
      expect(await claim(storage, T + 1)).toEqual([]);
      // Not "due now", which made each worker claim and ask again every few ms.
      expect(await storage.nextDueAt()).toBe(T + 1 + 25);
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
    expect(await claim(storage, T + 2)).toHaveLength(1);
    await publishOne(storage, account.id, 'call.ended', { now: T + 500 });
    // Nothing held: the statement's answer, the new delivery's due time.
    expect(await storage.nextDueAt()).toBe(T + 500);
  });
});

describe('PostgreSQL engine: deliveries a claim left due', () => {
  it('after a claim that left some it could lease, nextDueAt answers "now" without asking, until anything else runs', async () => {
    const storage = instance();
    const account = await makeAccount(storage);
    const webhook = await makeWebhook(storage, account.id);
    await publishMany(storage, account.id, 3, { now: T });
    // The worker's room for the endpoint's origin takes one of the three.
    expect(await claim(storage, T + 1, { originRoom: () => 1 })).toHaveLength(1);
    // The claim's time: the statement would have answered their due time, T.
    expect(await storage.nextDueAt()).toBe(T + 1);
    expect(await storage.nextDueAt()).toBe(T + 1);
    // Anything else of this process since (here a read; a completion may park them): it asks.
    await storage.getWebhook(account.id, webhook.id);
    expect(await storage.nextDueAt()).toBe(T);
    expect(await claim(storage, T + 2)).toHaveLength(2);
    // Nothing left due: the statement's answer, the first lease's end.
    expect(await storage.nextDueAt()).toBe(T + 1 + LEASE_MS);
  });
});

describe("PostgreSQL engine: a completion's refill", () => {
  const next = (now: number) => claimRequest(now, { leaseToken: `refill-${now}`, limit: 10 });

  it('claims when its endpoints have more due or the last claim left some, and not otherwise', async () => {
    const storage = instance();
    const account = await makeAccount(storage);
    const busy = await makeWebhook(storage, account.id, { events: ['call.*'] });
    const other = await makeWebhook(storage, account.id, { events: ['agent.*'] });
    await publishMany(storage, account.id, 2, { now: T });
    // The cap leaves the busy endpoint's second due: its completion claims it.
    const [first] = await claim(storage, T + 1, { maxInFlightPerEndpoint: 1 });
    const refilled = await complete(storage, first!, { kind: 'succeeded' }, { next: next(T + 2) });
    expect(refilled.map((c) => c.webhookId)).toEqual([busy.id]);
    // A delivery due elsewhere, of which no wake-up told this worker: the next completion
    // has nothing more due for its endpoint, and the last claim left nothing it knows of, so
    // it does not walk the queue for it; the loop's claim, on the publish's wake-up, takes it.
    const agent = await publishOne(storage, account.id, 'agent.created', { now: T + 3 });
    const none = await complete(
      storage,
      refilled[0]!,
      { kind: 'succeeded' },
      { next: next(T + 4) },
    );
    expect(none).toEqual([]);
    expect((await claim(storage, T + 5)).map((c) => [c.eventId, c.webhookId])).toEqual([
      [agent.event.id, other.id],
    ]);
  });

  it('claims after a claim that left deliveries due for its limit', async () => {
    const storage = instance();
    const account = await makeAccount(storage);
    const calls = await makeWebhook(storage, account.id, { events: ['call.*'] });
    const agents = await makeWebhook(storage, account.id, { events: ['agent.*'] });
    await publishOne(storage, account.id, 'call.ended', { now: T });
    await publishOne(storage, account.id, 'agent.created', { now: T });
    // A claim of one leaves the other endpoint's delivery due, and knows it: the completion of
    // the one it took, with nothing more due for that endpoint, claims the other.
    const [first] = await claim(storage, T + 1, { limit: 1 });
    const refilled = await complete(storage, first!, { kind: 'succeeded' }, { next: next(T + 2) });
    expect([first!.webhookId, ...refilled.map((c) => c.webhookId)].sort()).toEqual(
      [calls.id, agents.id].sort(),
    );
  });
});

describe("PostgreSQL engine: a claim's reads within the worker's room for an origin", () => {
  it('locks no more of the queue than it may lease to the origin, and says the rest is due', async () => {
    const storage = instance();
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    await makeWebhook(storage, account.id);
    await publishMany(storage, account.id, 10, { now: T });
    // Twenty due, on one origin: the worker has room there for three.
    const claimed = await claim(storage, T + 1, { originRoom: () => 3 });
    expect(claimed).toHaveLength(3);
    // A row the claim locked and left keeps the claim's transaction as its xmax (a lock
    // only): none of the seventeen left due was locked.
    const { rows } = await admin.query(
      `SELECT count(*)::int AS n FROM delivery_queue
       WHERE lease_token IS NULL AND xmax::text::bigint <> 0`,
    );
    expect(rows[0]!.n).toBe(0);
    // Due now, as the statement would answer had the claim not said so.
    expect(await storage.nextDueAt()).toBe(T + 1);
  });
});

describe('PostgreSQL engine: deliveries a claim left due, beside a transaction under way', () => {
  it('asks again once a transaction that was under way during the claim has ended', async () => {
    const storage = instance();
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    const elsewhere = await makeAccount(storage);
    const blocked = await makeWebhook(storage, elsewhere.id);
    await publishMany(storage, account.id, 3, { now: T });
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT id FROM webhooks WHERE id = $1 FOR UPDATE', [blocked.id]);
      // Under way through the claim: it waits for the row `other` holds.
      const change = storage.updateWebhook(elsewhere.id, blocked.id, { description: 'x' }, T);
      expect(await claim(storage, T + 1, { originRoom: () => 1 })).toHaveLength(1);
      expect(await storage.nextDueAt()).toBe(T + 1);
      await other.query('COMMIT');
      await change;
      // It may have changed what is due: the statement answers (their due time, T).
      expect(await storage.nextDueAt()).toBe(T);
    } finally {
      await other.end();
    }
  });
});

describe('PostgreSQL engine: the delivery queue', () => {
  const xmin = async (table: string, column: string, id: string) =>
    (await admin.query(`SELECT xmin::text AS v FROM ${table} WHERE ${column} = $1`, [id])).rows[0]
      ?.v as string | undefined;

  it('leases by writing the queue row alone, and the finished delivery leaves the queue', async () => {
    const storage = instance();
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    await makeWebhook(storage, account.id);
    await publishOne(storage, account.id, 'call.ended', { now: T });
    const ids = (await admin.query('SELECT id FROM deliveries ORDER BY id')).rows.map(
      (r) => r.id as string,
    );
    expect(ids).toHaveLength(2);
    const before = await Promise.all(ids.map((id) => xmin('deliveries', 'id', id)));
    const queued = await Promise.all(ids.map((id) => xmin('delivery_queue', 'delivery_id', id)));
    const claimed = await claim(storage, T + 1);
    expect(claimed).toHaveLength(2);
    // The history's rows are as they were (no new version, no index entries); the queue's
    // rows carry the lease.
    expect(await Promise.all(ids.map((id) => xmin('deliveries', 'id', id)))).toEqual(before);
    const leased = await Promise.all(ids.map((id) => xmin('delivery_queue', 'delivery_id', id)));
    expect(leased.every((v, i) => v !== undefined && v !== queued[i])).toBe(true);
    const { rows } = await admin.query(
      'SELECT lease_token, due_at::float8 AS due_at FROM delivery_queue ORDER BY delivery_id',
    );
    expect(rows.map((r) => r.lease_token as string)).toEqual([
      claimed[0]!.leaseToken,
      claimed[0]!.leaseToken,
    ]);
    expect(rows.every((r) => (r.due_at as number) > T + 1)).toBe(true);
    // One succeeds and leaves the queue; the other is retried, due again without a lease.
    const [first, second] = [...claimed].sort((a, b) => a.deliveryId.localeCompare(b.deliveryId));
    await complete(storage, first!, { kind: 'succeeded' }, { now: T + 2 });
    await complete(storage, second!, { kind: 'retry', nextAttemptAt: T + 60_000 }, { now: T + 3 });
    const after = await admin.query(
      'SELECT delivery_id, lease_token, due_at::float8 AS due_at FROM delivery_queue',
    );
    expect(after.rows).toEqual([
      { delivery_id: second!.deliveryId, lease_token: null, due_at: T + 60_000 },
    ]);
  });

  it('records an attempt as a heap-only update: no index reads what a completion changes', async () => {
    // The columns a completion writes (postgres/complete.ts); an index that read any of them,
    // in its key or its predicate, would take a new entry at every completion.
    const changed = [
      'status',
      'attempt_count',
      'auto_attempts',
      'last_status_code',
      'last_duration_ms',
      'last_error',
      'last_attempt_at',
      'next_attempt_at',
      'manual_requested',
      'updated_at',
    ];
    const { rows: indexes } = await admin.query(
      `SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index
       WHERE indrelid = 'deliveries'::regclass`,
    );
    expect(indexes.length).toBeGreaterThan(3);
    for (const { def } of indexes as { def: string }[]) {
      for (const column of changed) expect(def).not.toMatch(new RegExp(`\\b${column}\\b`));
    }
    const { rows: options } = await admin.query(
      "SELECT reloptions FROM pg_class WHERE oid = 'deliveries'::regclass",
    );
    expect(options[0]!.reloptions).toEqual(['fillfactor=50']);

    // And there is room beside each row for its new version: every delivery of a publish
    // is completed, and each new version is on its old page.
    const storage = instance();
    const account = await makeAccount(storage);
    for (let i = 0; i < 10; i++) await makeWebhook(storage, account.id);
    await publishMany(storage, account.id, 8, { now: T });
    const pages = async () =>
      new Map(
        (
          await admin.query(
            'SELECT id, (ctid::text::point)[0]::int AS page, xmin::text AS v FROM deliveries',
          )
        ).rows.map((r) => [r.id as string, [r.page as number, r.v as string]]),
      );
    const before = await pages();
    expect(before.size).toBe(80);
    expect(new Set([...before.values()].map(([page]) => page)).size).toBeGreaterThan(1);
    const claimed = await claim(storage, T + 1, { limit: 100, maxInFlightPerEndpoint: 100 });
    expect(claimed).toHaveLength(80);
    for (const c of claimed) await complete(storage, c, { kind: 'succeeded' }, { now: T + 2 });
    const after = await pages();
    for (const [id, [page, version]] of before) {
      expect(after.get(id)![1]).not.toBe(version);
      expect(after.get(id)![0]).toBe(page);
    }
  });
});
