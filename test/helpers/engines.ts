// Both storage engines, each opened on a store of its own (a temporary SQLite file, or a
// PostgreSQL database created for it), for tests that run a worker against each: its URL as
// RIZLER_DATABASE_URL, the opened storage, and what removes the store afterwards; and a
// worker with its sending thread over one.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createSecretBox } from '../../src/core/secret-box.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { Storage } from '../../src/storage/index.js';
import { PostgresStorage } from '../../src/storage/postgres/index.js';
import { SqliteStorage } from '../../src/storage/sqlite/index.js';
import { buildDelivery } from '../../src/worker/delivery.js';
import type { DeliveryWorker } from '../../src/worker/pipeline.js';
import { ThreadedSender } from '../../src/worker/threaded-sender.js';
import { createTestDatabase } from './postgres.js';

export interface EngineCase {
  name: 'sqlite' | 'postgres';
  open(): Promise<{ url: string; storage: Storage; cleanup(): Promise<void> }>;
}

export const engines: EngineCase[] = [
  {
    name: 'sqlite',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'rizler-engine-'));
      const storage = new SqliteStorage(join(dir, 'test.db'));
      await storage.migrate();
      return {
        url: `sqlite:${join(dir, 'test.db')}`,
        storage,
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'postgres',
    async open() {
      const db = await createTestDatabase();
      const storage = new PostgresStorage(db.url, { poolSize: 4 });
      await storage.migrate();
      return { url: db.url, storage, cleanup: () => db.drop() };
    },
  },
];

/** A delivery worker as `worker` runs it, with its sending thread, over a test's storage. */
export interface TestWorker {
  worker: DeliveryWorker;
  /** Stops claiming, waits for the attempts in flight, and ends the sending thread. */
  stop(): Promise<void>;
}

/**
 * Starts a worker with the real sending thread on `storage` (opened at `url`), private
 * addresses allowed, a 50 ms poll and silent logs; `env` adds or overrides settings.
 */
export async function startTestWorker(
  url: string,
  storage: Storage,
  env: Record<string, string>,
  metrics: Metrics = new Metrics(),
): Promise<TestWorker> {
  const config = loadConfig({
    RIZLER_DATABASE_URL: url,
    RIZLER_ALLOW_PRIVATE_NETWORKS: 'true',
    RIZLER_POLL_INTERVAL: '50ms',
    RIZLER_LOG_LEVEL: 'silent',
    ...env,
  });
  const logger = pino({ level: 'silent' });
  const sending = new ThreadedSender(config, logger);
  await sending.start();
  const { worker } = buildDelivery(
    config,
    storage,
    logger,
    metrics,
    sending,
    createSecretBox(null),
  );
  worker.start();
  return {
    worker,
    async stop() {
      await worker.stop();
      await sending.close();
    },
  };
}

/** The engine's store, opened before the tests of the calling suite and removed after them. */
export function useEngine(engine: EngineCase): { readonly url: string; readonly storage: Storage } {
  let opened: Awaited<ReturnType<EngineCase['open']>> | null = null;
  beforeAll(async () => {
    opened = await engine.open();
  });
  afterAll(async () => {
    await opened?.storage.close();
    await opened?.cleanup();
  });
  const store = () => {
    if (!opened) throw new Error(`the ${engine.name} store is not open yet`);
    return opened;
  };
  return {
    get url() {
      return store().url;
    },
    get storage() {
      return store().storage;
    },
  };
}
