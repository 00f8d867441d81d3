// The factory: the engine RIZLER_DATABASE_URL names, opened. It sits above the contract
// (index.ts, types.ts) and the engines; neither imports it, so the imports run one way:
// callers -> open.ts -> sqlite/ | postgres/ -> types.ts.
import type { SqliteOptions } from './sqlite/connection.js';
import type { PostgresOptions } from './postgres/connection.js';
import type { Storage } from './types.js';

/** Each engine's settings; the one `openStorage` opens takes its own and ignores the rest. */
export type StorageOptions = SqliteOptions & PostgresOptions;

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
