// The storage contract and the engine chosen by RIZLER_DATABASE_URL.
export * from './types.js';
import type { Storage } from './types.js';

export interface StorageOptions {
  poolSize?: number;
  statementTimeoutMs?: number;
  /** SQLite: checkpoint the WAL on a thread of its own (long-running processes). */
  backgroundCheckpoints?: boolean;
}

/** `sqlite:PATH` opens the embedded engine; `postgres://…` the PostgreSQL engine. */
export async function openStorage(
  databaseUrl: string,
  options: StorageOptions = {},
): Promise<Storage> {
  if (databaseUrl.startsWith('sqlite:')) {
    const { SqliteStorage } = await import('./sqlite/index.js');
    return new SqliteStorage(databaseUrl.slice('sqlite:'.length) || './data/rizler-webhooks.db', {
      backgroundCheckpoints: options.backgroundCheckpoints,
    });
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const { PostgresStorage } = await import('./postgres/index.js');
    return new PostgresStorage(databaseUrl, options);
  }
  throw new Error('RIZLER_DATABASE_URL must be sqlite:PATH or postgres://user@host:port/db');
}
