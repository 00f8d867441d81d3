// The worker's bound on attempts in flight per origin (RIZLER_MAX_IN_FLIGHT_PER_ORIGIN), on
// both engines with the real sending thread: endpoints that share a host share its room, taken
// in turn, while another host's deliveries keep flowing; what is over the room stays due.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createSecretBox } from '../../src/core/secret-box.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { Storage } from '../../src/storage/index.js';
import { PostgresStorage } from '../../src/storage/postgres/index.js';
import { SqliteStorage } from '../../src/storage/sqlite/index.js';
import { buildDelivery } from '../../src/worker/delivery.js';
import type { DeliveryWorker } from '../../src/worker/pipeline.js';
import { ThreadedSender } from '../../src/worker/threaded-sender.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { makeAccount, makeWebhook, publishOne } from '../storage/fixtures.js';

const SECRET = 'whsec_' + Buffer.from('a secret of thirty-two bytes....').toString('base64');

interface EngineCase {
  name: string;
  open(): Promise<{ url: string; storage: Storage; cleanup(): Promise<void> }>;
}

const engines: EngineCase[] = [
  {
    name: 'sqlite',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'rizler-origin-'));
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
      const db: TestDatabase = await createTestDatabase();
      const storage = new PostgresStorage(db.url, { poolSize: 4 });
      await storage.migrate();
      return { url: db.url, storage, cleanup: () => db.drop() };
    },
  },
];

describe.each(engines)('in flight per origin: $name', (engine) => {
  let storage: Storage;
  let cleanup: () => Promise<void>;
  let url: string;
  /** Two endpoints on this one, which holds every request. */
  let shared: Receiver;
  /** One endpoint on this one, which answers at once. */
  let other: Receiver;
  let worker: DeliveryWorker | null = null;
  let sending: ThreadedSender | null = null;

  beforeAll(async () => {
    ({ storage, cleanup, url } = await engine.open());
  });
  afterAll(async () => {
    await storage.close();
    await cleanup();
  });
  beforeEach(async () => {
    shared = await startReceiver();
    shared.respondWith(() => ({ hang: true }));
    other = await startReceiver();
  });
  afterEach(async () => {
    // Closing the hanging receiver ends its requests, so the worker can stop.
    await shared.close();
    await worker?.stop();
    await sending?.close();
    worker = null;
    sending = null;
    await other.close();
  });

  async function startWorker(perOrigin: number): Promise<DeliveryWorker> {
    const config = loadConfig({
      RIZLER_DATABASE_URL: url,
      RIZLER_ALLOW_PRIVATE_NETWORKS: 'true',
      RIZLER_MAX_IN_FLIGHT_PER_ORIGIN: String(perOrigin),
      RIZLER_POLL_INTERVAL: '50ms',
      RIZLER_LOG_LEVEL: 'silent',
    });
    const logger = pino({ level: 'silent' });
    sending = new ThreadedSender(config, logger);
    await sending.start();
    const built = buildDelivery(
      config,
      storage,
      logger,
      new Metrics(),
      sending,
      createSecretBox(null),
    );
    worker = built.worker;
    worker.start();
    return worker;
  }

  it('shares an origin’s room among its endpoints while another origin’s deliveries flow', async () => {
    const account = await makeAccount(storage);
    const sealedSecret = createSecretBox(null).seal(SECRET);
    const a = await makeWebhook(storage, account.id, { url: `${shared.url}/a`, sealedSecret });
    const b = await makeWebhook(storage, account.id, { url: `${shared.url}/b?x=1`, sealedSecret });
    await makeWebhook(storage, account.id, { url: other.url, sealedSecret });
    for (let i = 0; i < 10; i++) await publishOne(storage, account.id, 'call.ended');

    const running = await startWorker(4);
    // The other host gets all ten, four at a time, while the shared one holds its four.
    await other.waitFor(10);
    await vi.waitFor(() => expect(running.activeAttempts).toBe(4), { timeout: 10_000 });
    await shared.waitFor(4);
    expect(shared.requests).toHaveLength(4);
    const paths = shared.requests.map((r) => r.url).sort();
    const path = (u: string) => new URL(u).pathname + new URL(u).search;
    const [pa, pb] = [path(`${shared.url}/a`), path(`${shared.url}/b?x=1`)];
    expect(paths).toEqual([pa, pa, pb, pb]);
    // Every attempt to the other host is recorded; theirs are all still pending.
    const recorded = await storage.listDeliveries(
      account.id,
      { status: 'succeeded' },
      { limit: 100, after: null },
    );
    expect(recorded).toHaveLength(10);
    const pending = await storage.listDeliveries(
      account.id,
      { status: 'pending' },
      { limit: 100, after: null },
    );
    expect(new Set(pending.map((d) => d.webhookId))).toEqual(new Set([a.id, b.id]));
    expect(pending).toHaveLength(20);
  });
});
