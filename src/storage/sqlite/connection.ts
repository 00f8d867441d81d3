// The SQLite engine's plumbing: one file in WAL mode through better-sqlite3, its prepared
// statements, transactions, the in-process wake-up, migrations and the checkpointer thread.
// Calls are synchronous underneath; the contract is async so that PostgreSQL fits behind it too.
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { threadEntry } from '../../core/thread-entry.js';
import { assertSchemaNotNewer } from '../schema-version.js';
import { num, type Row } from '../rows.js';
import { StorageUnavailableError } from '../types.js';
import type { AuditRecord } from '../audit-records.js';
import { writeAudit } from './audit.js';
import { Statement } from './statement.js';
import { migrations } from './migrations.js';
import { registerRollupFunctions } from './rollups.js';

/** How often the checkpointer copies the WAL back; a burst of writes grows it meanwhile. */
const CHECKPOINT_INTERVAL_MS = 200;

/**
 * Past this many frames (64 MiB at 4 KiB pages) the checkpointer starts the WAL over
 * (checkpoint.ts); a WAL grown past twice that in a stall is cut back to twice that then.
 */
const WAL_RESTART_FRAMES = 16_384;

/** SQLite error codes that mean the database, not the request, is at fault. */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|READONLY|FULL|IOERR|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)/;

export type { Stmt } from './statement.js';

/** What the engine lends each of its parts: its statement cache, error mapping and wake-up. */
export interface SqliteHandle {
  stmt(sql: string): Statement;
  run<T>(work: () => T): Promise<T>;
  tx<T>(work: () => T): Promise<T>;
  /** `due: false`: a change for the streams only (Storage.onWake). */
  notify(due?: boolean): void;
}

export interface SqliteOptions {
  /** Checkpoint the WAL on a thread of its own (long-running processes). */
  backgroundCheckpoints?: boolean;
}

export class SqliteConnection implements SqliteHandle {
  private readonly db: Database.Database;
  private readonly wake = new EventEmitter();
  private readonly statements = new Map<string, Statement>();
  /**
   * Runs its argument in a transaction that takes the write lock at BEGIN (IMMEDIATE), or in a
   * savepoint within one. Made once: better-sqlite3 builds four wrappers and their properties at
   * each `transaction()` (a transaction of one read: 13.4 µs made each time, 8.6 µs made once).
   */
  private readonly inTransaction: <T>(work: () => T) => T;

  private checkpointer: Worker | null = null;

  /**
   * `backgroundCheckpoints`: for the long-running processes. Checkpoints move to a thread of
   * their own (checkpointer.ts) instead of running inside whichever commit crosses the WAL
   * threshold, where their fsyncs held up that commit. Bench, SQLite end to end with one
   * endpoint, three runs each: ratio to bare undici 0.41-0.45 with checkpoints in the
   * commits, 0.46-0.48 with them on their own thread.
   */
  constructor(path: string, options: SqliteOptions = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives a process crash (kill -9); only an OS crash or
    // power loss can drop the last transactions. FULL halves publish throughput here.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = OFF');
    // Memory-mapped reads keep the hot indexes (due, leased, held) resident under a large
    // backlog. 256 MiB of mmap put the worker at 341 MiB resident while draining a backlog of
    // 1M (bench); 64 MiB keeps it under the 300 MB goal.
    this.db.pragma('mmap_size = 67108864');
    // The page cache holds what a commit wrote and the WAL's pages; 16 MiB, not more, because
    // nearly every commit walks all of it. When a B-tree split puts its new pages in order
    // (balance_nonroot), SQLite parks one under the pending-byte page's number (262,145 with
    // 4 KiB pages), which stays the cache's highest key; the commit's truncation to the
    // database's size then visits every cached page. With 64 MiB (15,856 pages cached in the
    // bench) that walk was 13 % of the main thread's time on a core (perf), 3.4 % with 16 MiB;
    // the main thread's CPU against the sending thread's fell by about 7 % (1.51-1.63 over
    // whole runs, against 1.61-1.77), with no more page reads to speak of, and the 1M
    // backlog's drain within the machine's noise. 8 MiB saved a little more of the walk and
    // lost it again to page reads.
    this.db.pragma('cache_size = -16384');
    // When the WAL starts over, a file grown past this in a stall is cut back (bytes: the
    // restart's length and as much again; a frame is a page and its 24-byte header).
    const frameBytes = Number(this.db.pragma('page_size', { simple: true })) + 24;
    this.db.pragma(`journal_size_limit = ${2 * WAL_RESTART_FRAMES * frameBytes}`);
    this.wake.setMaxListeners(0);
    registerRollupFunctions(this.db);
    const transaction = this.db.transaction((work: () => unknown) => work());
    this.inTransaction = transaction.immediate as <T>(work: () => T) => T;
    if (options.backgroundCheckpoints && path !== ':memory:') this.startCheckpointer(path);
  }

  private startCheckpointer(path: string): void {
    this.db.pragma('wal_autocheckpoint = 0');
    const thread = new Worker(threadEntry(import.meta.url, './checkpointer.js'), {
      workerData: { path, intervalMs: CHECKPOINT_INTERVAL_MS, restartFrames: WAL_RESTART_FRAMES },
    });
    // Should it ever stop, commits checkpoint again, as SQLite does by default.
    const fallBack = () => {
      if (this.checkpointer !== thread) return;
      this.checkpointer = null;
      if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
    };
    thread.on('error', fallBack);
    thread.on('exit', fallBack);
    thread.unref();
    this.checkpointer = thread;
  }

  /**
   * One prepared statement per SQL text, reused: preparing costs more than running. An arrow,
   * so that it can be handed on as it is (`writeAudit(this.h.stmt, …)`).
   */
  readonly stmt = (sql: string): Statement => {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = new Statement(this.db.prepare(sql));
      this.statements.set(sql, statement);
    }
    return statement;
  };

  run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (UNAVAILABLE.test(code)) {
        return Promise.reject(
          new StorageUnavailableError(`the database cannot be written (${code})`, { cause: err }),
        );
      }
      return Promise.reject(err);
    }
  }

  tx<T>(work: () => T): Promise<T> {
    return this.run(() => this.inTransaction(work));
  }

  notify(due = true): void {
    this.wake.emit('wake', due);
  }

  async migrate(): Promise<void> {
    await this.run(() => {
      this.db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
      const applyAll = this.db.transaction(() => {
        const done = new Set(
          this.db
            .prepare('SELECT version FROM schema_migrations')
            .all()
            .map((r) => num((r as Row).version)),
        );
        assertSchemaNotNewer(done, migrations);
        for (const migration of migrations) {
          if (done.has(migration.version)) continue;
          this.db.exec(migration.sql);
          this.db
            .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
            .run(migration.version, migration.name, Date.now());
        }
      });
      applyAll.immediate();
    });
  }

  async close(): Promise<void> {
    this.wake.removeAllListeners();
    const checkpointer = this.checkpointer;
    if (checkpointer) {
      this.checkpointer = null;
      // Its connection closes first, so that closing the last one checkpoints the WAL away.
      await new Promise<void>((resolve) => {
        checkpointer.once('message', () => resolve());
        checkpointer.once('exit', () => resolve());
        checkpointer.postMessage('stop');
      });
      await checkpointer.terminate();
    }
    this.db.close();
  }

  async ping(): Promise<void> {
    await this.run(() => this.stmt('SELECT 1').get());
  }

  onWake(listener: (due: boolean) => void): () => void {
    this.wake.on('wake', listener);
    return () => this.wake.off('wake', listener);
  }

  /**
   * The replaced values of a reseal (clear-text secrets, when a key was set for the first time)
   * linger in free space, free pages and the WAL's old frames: VACUUM rewrites the file without
   * them, and a TRUNCATE checkpoint empties the WAL. Once per reseal, which is rare.
   */
  scrubFreedPages(): void {
    this.db.exec('VACUUM');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }
}

/**
 * The base of the engine's parts (webhooks.ts, events.ts, …): the connection's statements,
 * transactions and wake-up under the names the parts' methods use, and the audit writer.
 */
export abstract class SqlitePart {
  constructor(protected readonly h: SqliteHandle) {}

  /** An arrow, so that it can be handed to the helpers that take a `Stmt`. */
  protected readonly stmt = (sql: string): Statement => this.h.stmt(sql);

  protected run<T>(work: () => T): Promise<T> {
    return this.h.run(work);
  }

  protected tx<T>(work: () => T): Promise<T> {
    return this.h.tx(work);
  }

  protected notify(due = true): void {
    this.h.notify(due);
  }

  /** The audit record of a change, in the change's transaction (audit.ts). */
  protected audit(record: AuditRecord): void {
    writeAudit((sql) => this.stmt(sql), record);
  }
}
