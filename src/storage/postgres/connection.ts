// The PostgreSQL engine's plumbing: the pool and its settings, queries and retried
// transactions, the wake-up (NOTIFY in the transaction, LISTEN in wake.ts), migrations under
// an advisory lock.
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { assertSchemaNotNewer } from '../schema-version.js';
import type { Row } from '../rows.js';
import { withArrayLiterals } from './array-literal.js';
import { isUnavailable, retryable, stalePlan, toStorageError } from './errors.js';
import { migrations, MIGRATION_LOCK } from './migrations.js';
import { WAKE_CHANNEL, WakeChannel } from './wake.js';

export type Query = (text: string, values?: unknown[]) => Promise<Row[]>;

/** Times are bigint (INT8, oid 20) milliseconds: read as numbers (exact to 2^53), on our pool only. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * How a transaction's statements are planned. `'by-key'`: one generic plan per statement and
 * connection, made once, with sequential scans off. For the transactions whose statements read
 * and write rows by key, from arrays of ids: a claim, a completion with its refill, a publish
 * with its hand-off. At low rates those arrays hold a few ids, a plan made for the values costs
 * less than the generic one, and PostgreSQL planned twelve of their statements again at every
 * call: 1,525 ms of planning against 1,810 of execution over 2,000 events at 200 a second
 * (bench, `pg_stat_statements`). Sequential scans off, because a generic plan is kept: made on
 * new tables, forced generic plans read whole tables, and went on reading them as they grew
 * (the completion's update 1,272 µs a call against 82).
 *
 * A plan made while the tables are new is kept while nothing analyzes them again (autovacuum
 * off), and with sequential scans off the planner still reads a whole index where it thinks
 * the table small: the attempts' insert, checking each delivery with `EXISTS`, read every
 * delivery at each completion (500 pages a call at 200 events/s, a third of PostgreSQL's CPU).
 * So these statements look rows up in ways no plan can widen: a scalar subquery (with
 * `LIMIT 1` where the key is not unique) rather than `EXISTS`, which PostgreSQL may run as a
 * hashed subplan over every row its subquery matches, and a `LATERAL` lookup with `LIMIT`
 * rather than a join (postgres-engine.test.ts reads their plans).
 *
 * The by-key work has connections of its own (`KEYED`), set so for their whole session: a
 * statement that is a whole transaction (PostgresHandle.byKey) then needs no `BEGIN` and
 * `COMMIT` around it to carry the settings, one round trip where it took three. Without
 * prepared statements (a pooler that cannot keep a session's state) nothing is kept to plan
 * once, and each by-key transaction sets them for itself (`SET LOCAL`).
 */
export type Planning = 'auto' | 'by-key';

/** The by-key planner settings (Planning). */
const KEYED = ['plan_cache_mode = force_generic_plan', 'enable_seqscan = off'];

/** A by-key session's settings, and a by-key transaction's own on a session without them. */
const SET_KEYED = KEYED.map((s) => `SET ${s}`).join('; ');
const BEGIN_KEYED = ['BEGIN', ...KEYED.map((s) => `SET LOCAL ${s}`)].join('; ');

/** What the engine lends each of its parts: its pool, transactions and wake-up. */
export interface PostgresHandle {
  query: Query;
  /**
   * `work` runs its statements with `q`; its last may go with `end`, which sends the COMMIT
   * right behind it (one round trip for both) and ends the transaction: nothing may follow.
   */
  tx<T>(work: (q: Query, end: Query) => Promise<T>, planning?: Planning): Promise<T>;
  /**
   * One statement as a transaction of its own, planned by key: one round trip. Not retried: a
   * deadlock or a serialization failure is the caller's to handle.
   */
  byKey(text: string, values?: unknown[]): Promise<Row[]>;
  /** NOTIFY inside the transaction, for the other processes. */
  notify(q: Query): Promise<void>;
  /** The NOTIFY a statement can send itself (`pg_notify` of these two): notify's. */
  readonly wakeNotice: readonly [channel: string, payload: string];
  /** This process's own listeners; `due: false`, a change for the streams only (onWake). */
  emitWake(due?: boolean): void;
  /**
   * Bumped as each query or transaction of this engine begins and as it ends: a part that
   * keeps what a statement told it can tell whether anything else of this process has run
   * since, or was running then and has ended (what other processes do, it cannot see).
   */
  readonly activity: number;
}

export interface PostgresOptions {
  /**
   * Connections (default 10), in two pools: half, rounded up, for the by-key work (Planning),
   * the rest, at least one, for everything else.
   */
  poolSize?: number;
  /** Longest a statement may run before it fails as unavailable (default 5000). */
  statementTimeoutMs?: number;
  /**
   * Statements with parameters are prepared once per connection and run by name (default
   * true): the server parses and plans each once, not at every run. False for a pooler that
   * cannot keep them (PgBouncer in transaction mode before 1.21).
   */
  preparedStatements?: boolean;
}

/**
 * A statement as node-postgres runs it: with parameters and `prepare`, by a name made from its
 * text, so each connection prepares it once. Without parameters as it is (such text may hold
 * several statements, which cannot be prepared). Array parameters go as the literals
 * array-literal.ts writes.
 */
function statement(text: string, given: unknown[] | undefined, prepare: boolean) {
  const values = given && withArrayLiterals(given);
  if (!prepare || values === undefined) return { text, values };
  let name = NAMES.get(text);
  if (name === undefined) {
    name = `rz_${createHash('sha1').update(text).digest('base64url').slice(0, 24)}`;
    // The texts are the engine's own, a few hundred at most; the bound is a safeguard.
    if (NAMES.size < 10_000) NAMES.set(text, name);
  }
  return { name, text, values };
}

const NAMES = new Map<string, string>();

/**
 * The socket under a pool's client (node-postgres keeps it as `connection.stream`), to cork:
 * node-postgres writes each query as it is sent, one system call each, and the server's
 * process wakes for each. Undefined where a client has none (then nothing is corked).
 */
function socketOf(client: pg.PoolClient): { cork(): void; uncork(): void } | undefined {
  const stream = (client as { connection?: { stream?: { cork?: unknown; uncork?: unknown } } })
    .connection?.stream;
  return typeof stream?.cork === 'function' && typeof stream.uncork === 'function'
    ? (stream as { cork(): void; uncork(): void })
    : undefined;
}

export class PostgresConnection implements PostgresHandle {
  /** For everything but the by-key work. */
  private readonly pool: pg.Pool;
  /** For the by-key work (Planning): its sessions plan by key when statements are prepared. */
  private readonly keyed: pg.Pool;
  private readonly listeners = new Set<(due: boolean) => void>();
  private readonly channel: WakeChannel;
  /** Tags our NOTIFYs so our own LISTEN connection can ignore them. */
  private readonly instanceId = randomBytes(8).toString('hex');
  private closed: Promise<void> | null = null;
  private readonly prepare: boolean;

  constructor(url: string, options: PostgresOptions = {}) {
    const statementTimeoutMs = options.statementTimeoutMs ?? 5000;
    this.prepare = options.preparedStatements ?? true;
    const config: pg.ClientConfig = {
      connectionString: url,
      // Fail fast instead of hanging when the database is down: the API answers 503 at once.
      connectionTimeoutMillis: 3000,
      statement_timeout: statementTimeoutMs,
      // A transaction left open by a frozen process must not hold row locks forever.
      idle_in_transaction_session_timeout: Math.max(60_000, statementTimeoutMs * 4),
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      application_name: 'rizler-webhooks',
      types,
      // A query is written without waiting for the answer to the one before: a transaction's
      // BEGIN goes out with its first statement, its COMMIT with its last (tx).
      pipeline: true,
    };
    const size = options.poolSize ?? 10;
    const keyedSize = Math.ceil(size / 2);
    this.pool = this.makePool(config, Math.max(1, size - keyedSize));
    this.keyed = this.makePool(config, keyedSize);
    // Queued on the new client before the pool hands it out, so it runs before any work.
    if (this.prepare) {
      this.keyed.on('connect', (client) => void client.query(SET_KEYED).catch(() => undefined));
    }
    this.channel = new WakeChannel(
      {
        ...config,
        statement_timeout: undefined,
        idle_in_transaction_session_timeout: undefined,
        pipeline: false,
      },
      this.instanceId,
      () => this.emitWake(),
    );
  }

  private makePool(config: pg.ClientConfig, max: number): pg.Pool {
    const pool = new pg.Pool({ ...config, max, idleTimeoutMillis: 30_000 });
    // An idle client whose connection dies emits 'error' on the pool; unhandled, that would
    // crash the process. The pool drops the client and the next query connects afresh.
    pool.on('error', () => undefined);
    // Same for a checked-out client between two queries of a transaction: the next query
    // rejects, and the client is then released as broken.
    pool.on('connect', (client) => client.on('error', () => undefined));
    return pool;
  }

  /** PostgresHandle.activity. */
  activity = 0;

  /** An arrow, so that it can be handed on as it is (`this.liveAccount(this.h.query, id)`). */
  readonly query = (text: string, values?: unknown[]): Promise<Row[]> =>
    this.counted(() => this.queryOnPool(this.pool, text, values));

  /** PostgresHandle.byKey: without prepared statements, planned for its values as any other. */
  byKey(text: string, values?: unknown[]): Promise<Row[]> {
    return this.counted(() => this.queryOnPool(this.keyed, text, values));
  }

  /** Runs `work` with `activity` bumped as it begins and as it ends. */
  private async counted<T>(work: () => Promise<T>): Promise<T> {
    this.activity++;
    try {
      return await work();
    } finally {
      this.activity++;
    }
  }

  private async queryOnPool(pool: pg.Pool, text: string, values?: unknown[]): Promise<Row[]> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw toStorageError(err);
      }
      let broken = false;
      try {
        return (await client.query<Row>(statement(text, values, this.prepare))).rows;
      } catch (err) {
        broken = isUnavailable(err) || stalePlan(err);
        // A stale statement dies with its connection; once per connection of the pool at most.
        if (stalePlan(err) && attempt <= (pool.options.max ?? 10)) continue;
        throw toStorageError(err);
      } finally {
        client.release(broken);
      }
    }
  }

  /** Runs `work` in one transaction; a deadlock or serialization failure runs it again. */
  tx<T>(work: (q: Query, end: Query) => Promise<T>, planning: Planning = 'auto'): Promise<T> {
    return this.counted(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.once(work, planning);
        } catch (err) {
          if (attempt >= 5 || !retryable(err)) throw toStorageError(err);
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
        }
      }
    });
  }

  /**
   * One run of a transaction. Its BEGIN is not waited for: the connection pipelines (the
   * pools' config), so it goes out with the first statement and both are answered in one
   * round trip; `end` sends the COMMIT behind the last statement likewise. Should BEGIN fail,
   * the statement sent with it fails too (only a broken connection fails BEGIN); should the
   * last statement fail, the COMMIT behind it ends the aborted transaction as a ROLLBACK.
   */
  private async once<T>(
    work: (q: Query, end: Query) => Promise<T>,
    planning: Planning,
  ): Promise<T> {
    const client = await (planning === 'by-key' ? this.keyed : this.pool).connect();
    const socket = socketOf(client);
    let broken = false;
    // BEGIN and the statements the work sends before it first waits go out in one write
    // (corked until the work has run to its first wait), as a statement and its COMMIT do.
    socket?.cork();
    /** BEGIN, until a statement has waited for it. */
    let begun: Promise<unknown> | null = client.query(
      planning === 'by-key' && !this.prepare ? BEGIN_KEYED : 'BEGIN',
    );
    // Handled, should it fail before a statement waits for it; whoever waits still sees it.
    begun.catch(() => undefined);
    let ended = false;
    /** Sends `text`, and the COMMIT behind it when `commit`; waits for BEGIN too, if unanswered. */
    const send = async (text: string, values: unknown[] | undefined, commit: boolean) => {
      if (ended) throw new Error('a statement after the end of its transaction');
      socket?.cork();
      let sent: Promise<pg.QueryResult<Row>>;
      let committed: Promise<unknown> | null;
      try {
        sent = client.query<Row>(statement(text, values, this.prepare));
        committed = commit ? client.query('COMMIT') : null;
      } finally {
        socket?.uncork();
      }
      ended = commit;
      const before = begun;
      begun = null;
      const [, answer] = await Promise.all([before, sent, committed]);
      return answer.rows;
    };
    try {
      try {
        let working: Promise<T>;
        try {
          working = work(
            (text, values) => send(text, values, false),
            (text, values) => send(text, values, true),
          );
        } finally {
          socket?.uncork();
        }
        const result = await working;
        if (!ended) await Promise.all([begun, client.query('COMMIT')]);
        return result;
      } catch (err) {
        try {
          await Promise.all([begun?.catch(() => undefined), client.query('ROLLBACK')]);
        } catch {
          broken = true;
        }
        throw err;
      }
    } catch (err) {
      if (isUnavailable(err) || stalePlan(err)) broken = true;
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** NOTIFY inside the transaction: it reaches other processes only if the work commits. */
  async notify(q: Query): Promise<void> {
    await q('SELECT pg_notify($1, $2)', [WAKE_CHANNEL, this.instanceId]);
  }

  get wakeNotice(): readonly [string, string] {
    return [WAKE_CHANNEL, this.instanceId];
  }

  emitWake(due = true): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(due);
      } catch {
        // a listener's failure is its own; the others still get woken
      }
    }
  }

  async migrate(): Promise<void> {
    const client = await this.pool.connect().catch((err: unknown) => {
      throw toStorageError(err);
    });
    let broken = false;
    try {
      const inLock = async <T>(work: () => Promise<T>): Promise<T> => {
        await client.query('BEGIN');
        try {
          // Waiting for another process's migration is not a slow statement; nor is a long
          // migration.
          await client.query('SET LOCAL statement_timeout = 0');
          await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
          const result = await work();
          await client.query('COMMIT');
          return result;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => (broken = true));
          throw err;
        }
      };
      await inLock(() =>
        client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
          version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`),
      );
      const applied = await client.query<{ version: number }>(
        'SELECT version FROM schema_migrations',
      );
      assertSchemaNotNewer(
        applied.rows.map((r) => r.version),
        migrations,
      );
      for (const migration of migrations) {
        await inLock(async () => {
          const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [
            migration.version,
          ]);
          if (done.rowCount) return;
          await client.query(migration.sql);
          await client.query(
            'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
            [migration.version, migration.name, Date.now()],
          );
        });
      }
    } catch (err) {
      if (isUnavailable(err)) broken = true;
      throw toStorageError(err);
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    this.closed ??= (async () => {
      this.listeners.clear();
      await this.channel.stop();
      await Promise.all([this.pool.end(), this.keyed.end()]);
    })();
    return this.closed;
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  onWake(listener: (due: boolean) => void): () => void {
    this.listeners.add(listener);
    if (this.closed === null) this.channel.start();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) void this.channel.stop();
    };
  }
}

/**
 * The base of the engine's parts (webhooks.ts, events.ts, …): the connection's queries,
 * transactions and wake-up under the names the parts' methods use.
 */
export abstract class PostgresPart {
  constructor(protected readonly h: PostgresHandle) {}

  protected query(text: string, values?: unknown[]): Promise<Row[]> {
    return this.h.query(text, values);
  }

  protected tx<T>(work: (q: Query, end: Query) => Promise<T>, planning?: Planning): Promise<T> {
    return this.h.tx(work, planning);
  }

  protected notify(q: Query): Promise<void> {
    return this.h.notify(q);
  }

  protected emitWake(due?: boolean): void {
    this.h.emitWake(due);
  }
}
