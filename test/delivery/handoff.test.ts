// The hand-off at publish (PublishRequest.handoff): in `serve`, on either engine, the worker of
// the API's own process takes a publish's fresh deliveries in the publish's transaction, so
// they go out without a claim, a wake-up or a transaction of their own; what it cannot take (an
// endpoint at its cap) is left due and claimed as before.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { findEventType } from '../../src/core/event-catalogue.js';
import { createSecretBox } from '../../src/core/secret-box.js';
import { Metrics } from '../../src/observability/metrics.js';
import { SqliteStorage } from '../../src/storage/sqlite/index.js';
import { buildDelivery } from '../../src/worker/delivery.js';
import { QUIET_IN_FLIGHT, type DeliveryWorker } from '../../src/worker/pipeline.js';
import { ThreadedSender } from '../../src/worker/threaded-sender.js';
import { startReceiver, startThreadReceiver, type Receiver } from '../helpers/receiver.js';
import { engines, startTestWorker, useEngine } from '../helpers/engines.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeAccount, makeWebhook, publishMany, publishOne } from '../storage/fixtures.js';

const DATA = findEventType('call.ended')!.example;
const SECRET = 'whsec_' + Buffer.from('a secret of thirty-two bytes....').toString('base64');

describe.each(engines)('hand-off at publish: $name', (engine) => {
  let server: TestServer;
  let receiver: Receiver;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const store = await engine.open();
    await store.storage.close();
    cleanup = store.cleanup;
    // A poll far beyond the test: whatever is delivered was handed off, claimed on a wake-up
    // or by a completion, never found by the poll.
    server = await startTestServer({
      RIZLER_DATABASE_URL: store.url,
      RIZLER_POLL_INTERVAL: '10m',
      RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT: '2',
    });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await server.close();
    await receiver.close();
    await cleanup();
  });

  it('sends a fresh delivery without a claim of its own', async () => {
    await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['call.ended'] } });
    // The worker claimed on start and found nothing; from here, every claim is counted.
    const claims = vi.spyOn(server.service.storage, 'claimDue');
    const published = await server.api('/v1/events', {
      body: { event: 'call.ended', data: DATA },
    });
    expect(published.status).toBe(202);
    const [req] = await receiver.waitFor(1);
    expect(JSON.parse(req!.body).id).toBe(published.body.id);
    expect(claims).not.toHaveBeenCalled();
    claims.mockRestore();
    await vi.waitFor(async () => {
      const list = await server.api('/v1/deliveries');
      expect(
        list.body.data.map((d: { event_id: string; status: string }) => [d.event_id, d.status]),
      ).toEqual([[published.body.id, 'succeeded']]);
    });
  });

  it('leaves what is over the endpoint cap to the claims, and all of it arrives', async () => {
    const { apiKey } = await server.newAccount('capped');
    const hook = await server.api('/v1/webhooks', {
      apiKey,
      body: { url: receiver.url, events: ['call.ended'] },
    });
    expect(hook.status).toBe(201);
    const before = receiver.requests.length;
    const published = await server.api('/v1/events/batch', {
      apiKey,
      body: {
        events: Array.from({ length: 7 }, () => ({ event: 'call.ended', data: DATA })),
      },
    });
    expect(published.status).toBe(202);
    const received = (await receiver.waitFor(before + 7)).slice(before);
    expect(new Set(received.map((r) => JSON.parse(r.body).id))).toEqual(
      new Set(published.body.data.map((e: { id: string }) => e.id)),
    );
  });
});

// A turn of the event loop that takes many publishes reads the sending thread's answers only
// after all of them. Each publish's offer takes them in and records them (DeliveryWorker.offer),
// so deliveries go on while publishes queue up.
describe('a publish while attempts are answered', () => {
  let dir: string;
  let storage: SqliteStorage;
  let thread: Awaited<ReturnType<typeof startThreadReceiver>>;
  let sending: ThreadedSender;
  let worker: DeliveryWorker;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rizler-offer-'));
    storage = new SqliteStorage(join(dir, 'test.db'));
    await storage.migrate();
    thread = await startThreadReceiver();
    const config = loadConfig({
      RIZLER_DATABASE_URL: `sqlite:${join(dir, 'test.db')}`,
      RIZLER_ALLOW_PRIVATE_NETWORKS: 'true',
      // Nothing is found by the poll within the test.
      RIZLER_POLL_INTERVAL: '10m',
      RIZLER_LOG_LEVEL: 'silent',
      // Two claims' batches (SQLite's 64), so that a third publish finds the endpoint full.
      RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT: '128',
    });
    const logger = pino({ level: 'silent' });
    sending = new ThreadedSender(config, logger);
    await sending.start();
    const secrets = createSecretBox(null);
    worker = buildDelivery(config, storage, logger, new Metrics(), sending, secrets).worker;
    worker.start();
  });
  afterAll(async () => {
    await worker.stop();
    await sending.close();
    await thread.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** An account with one endpoint, on the receiver in its own thread. */
  const accountOnThread = async () => {
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id, {
      url: thread.url,
      sealedSecret: createSecretBox(null).seal(SECRET),
    });
    return account;
  };

  it('records the attempts answered so far before the next publish, with no turn of the loop', async () => {
    const account = await accountOnThread();
    // More in flight than a quiet worker has (QUIET_IN_FLIGHT): its slots may be wanted.
    const events = QUIET_IN_FLIGHT + 8;
    await publishMany(storage, account.id, events, { handoff: worker.offer(), now: Date.now() });
    const recorded = vi.spyOn(storage, 'completeAttempts');
    try {
      // From here only microtasks run, as in a turn of the loop that takes publish after
      // publish: the answers can reach the worker only through the offers.
      const deadline = Date.now() + 10_000;
      while (recorded.mock.calls.length === 0 && Date.now() < deadline) {
        worker.offer()?.release();
        for (let i = 0; i < 10; i++) await Promise.resolve();
      }
      // Once or more (answers may come in between), and with no turn of the loop.
      expect(recorded).toHaveBeenCalled();
      const deliveries = await storage.listDeliveries(
        account.id,
        { status: 'succeeded' },
        { limit: events, after: null },
      );
      expect(deliveries.length).toBeGreaterThan(0);
      await vi.waitFor(async () => {
        const done = await storage.listDeliveries(
          account.id,
          { status: 'succeeded' },
          { limit: events, after: null },
        );
        expect(done).toHaveLength(events);
      });
    } finally {
      recorded.mockRestore();
    }
  });

  it('a quiet worker records its answers a moment later, together, not in the publishes', async () => {
    const account = await accountOnThread();
    const answered = thread.count();
    const first = await publishOne(storage, account.id, 'call.ended', {
      handoff: worker.offer(),
      now: Date.now(),
    });
    const recorded = vi.spyOn(storage, 'completeAttempts');
    try {
      // Only microtasks, as in a turn of publishes, for 200 ms after the receiver answered:
      // the offers take the answer in, and leave its record to the worker's own moment.
      let until = Date.now() + 10_000;
      let heard = false;
      while (Date.now() < until) {
        if (!heard && thread.count() > answered) {
          heard = true;
          until = Date.now() + 200;
        }
        worker.offer()?.release();
        for (let i = 0; i < 10; i++) await Promise.resolve();
      }
      expect(heard).toBe(true);
      expect(recorded).not.toHaveBeenCalled();
      await vi.waitFor(() => expect(recorded).toHaveBeenCalledTimes(1));
      const deliveries = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
      expect(deliveries.map((d) => [d.eventId, d.status])).toEqual([[first.event.id, 'succeeded']]);
    } finally {
      recorded.mockRestore();
    }
  });

  it('refills every slot a completion frees, and a few more, past the claim batch size', async () => {
    const account = await accountOnThread();
    // Two publishes hand the worker a claim's batch each (SQLite's 64): 128, the endpoint's
    // cap, in flight together; the third leaves its deliveries due.
    const answered = thread.count();
    const batch = loadConfig({ RIZLER_DATABASE_URL: 'sqlite:x.db' }).claimBatchSize;
    for (let i = 0; i < 3; i++) {
      await publishMany(storage, account.id, batch, { handoff: worker.offer(), now: Date.now() });
    }
    const recorded = vi.spyOn(storage, 'completeAttempts');
    try {
      // Only microtasks from here: the answers reach the worker through the offers alone, and
      // whatever the first offer takes in is recorded in one completion.
      const deadline = Date.now() + 10_000;
      while (thread.count() < answered + 2 * batch && Date.now() < deadline) {
        await Promise.resolve();
      }
      while (recorded.mock.calls.length === 0 && Date.now() < deadline) {
        worker.offer()?.release();
        for (let i = 0; i < 10; i++) await Promise.resolve();
      }
      expect(recorded).toHaveBeenCalled();
      // Each completion asks for as many as it records and REFILL_MARGIN (8) more, however
      // many that is: cut to the batch size, a completion of 128 refilled 64.
      for (const [completed, , next] of recorded.mock.calls) {
        expect(next?.limit).toBe(completed.length + 8);
      }
    } finally {
      recorded.mockRestore();
    }
    await vi.waitFor(async () => {
      const done = await storage.listDeliveries(
        account.id,
        { status: 'succeeded' },
        { limit: 3 * batch, after: null },
      );
      expect(done).toHaveLength(3 * batch);
    });
  });
});

describe('hand-off beside a claim under way: postgres', () => {
  const store = useEngine(engines.find((e) => e.name === 'postgres')!);

  it("offers while a claim that found a few is under way, the rest of the claim's room given back", async () => {
    const { storage } = store;
    const receiver = await startReceiver();
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id, {
      url: receiver.url,
      sealedSecret: createSecretBox(null).seal(SECRET),
    });
    await publishOne(storage, account.id, 'call.ended', { now: Date.now() });
    // The worker's first claim runs on the engine as it is, and keeps what it leased to itself
    // until the test has asked for an offer: the claim is under way meanwhile. Promised a
    // claim's worst case (the batch at the largest body: the whole byte budget), the worker
    // would have no room for a publish until the claim ends.
    let resume!: () => void;
    const resumed = new Promise<void>((r) => (resume = r));
    let claimed!: () => void;
    const inClaim = new Promise<void>((r) => (claimed = r));
    const claimDue = storage.claimDue.bind(storage);
    const spy = vi.spyOn(storage, 'claimDue').mockImplementationOnce(async (request) => {
      const leased = await claimDue(request);
      claimed();
      await resumed;
      return leased;
    });
    const { worker, stop } = await startTestWorker(store.url, storage, {
      RIZLER_POLL_INTERVAL: '10m',
    });
    try {
      await inClaim;
      const offer = worker.offer(Buffer.byteLength(JSON.stringify(DATA)));
      expect(offer).toBeDefined();
      offer?.release();
      resume();
      await receiver.waitFor(1);
    } finally {
      resume();
      spy.mockRestore();
      await stop();
      await receiver.close();
    }
  });
});
