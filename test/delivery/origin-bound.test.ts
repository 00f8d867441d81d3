// The worker's bound on attempts in flight per origin (RIZLER_MAX_IN_FLIGHT_PER_ORIGIN), on
// both engines with the real sending thread: endpoints that share a host share its room, taken
// in turn, while another host's deliveries keep flowing; what is over the room stays due. A
// host that answers slowly gets only the room its connections can use (originRoomFor).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSecretBox } from '../../src/core/secret-box.js';
import { originRoomFor } from '../../src/worker/pipeline.js';
import { engines, startTestWorker, useEngine, type TestWorker } from '../helpers/engines.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { makeAccount, makeWebhook, publishOne } from '../storage/fixtures.js';

const SECRET = 'whsec_' + Buffer.from('a secret of thirty-two bytes....').toString('base64');

describe.each(engines)('in flight per origin: $name', (engine) => {
  const store = useEngine(engine);
  /** Two endpoints on this one, which holds every request. */
  let shared: Receiver;
  /** One endpoint on this one, which answers at once. */
  let other: Receiver;
  let running: TestWorker | null = null;
  /** Waits until `n` of the account's deliveries are recorded as succeeded (in batches). */
  const succeeded = (accountId: string, n: number) =>
    vi.waitFor(
      async () => {
        const done = await store.storage.listDeliveries(
          accountId,
          { status: 'succeeded' },
          { limit: 100, after: null },
        );
        expect(done).toHaveLength(n);
      },
      { timeout: 10_000 },
    );

  beforeEach(async () => {
    shared = await startReceiver();
    shared.respondWith(() => ({ hang: true }));
    other = await startReceiver();
  });
  afterEach(async () => {
    // Closing the hanging receiver ends its requests, so the worker can stop.
    await shared.close();
    await running?.stop();
    running = null;
    await other.close();
  });

  it('shares an origin’s room among its endpoints while another origin’s deliveries flow', async () => {
    const account = await makeAccount(store.storage);
    const sealedSecret = createSecretBox(null).seal(SECRET);
    const a = await makeWebhook(store.storage, account.id, {
      url: `${shared.url}/a`,
      sealedSecret,
    });
    const b = await makeWebhook(store.storage, account.id, {
      url: `${shared.url}/b?x=1`,
      sealedSecret,
    });
    await makeWebhook(store.storage, account.id, { url: other.url, sealedSecret });
    for (let i = 0; i < 10; i++) await publishOne(store.storage, account.id, 'call.ended');

    running = await startTestWorker(store.url, store.storage, {
      RIZLER_MAX_IN_FLIGHT_PER_ORIGIN: '4',
    });
    const { worker } = running;
    // The other host gets all ten, four at a time, while the shared one holds its four.
    await other.waitFor(10);
    await vi.waitFor(() => expect(worker.activeAttempts).toBe(4), { timeout: 10_000 });
    await shared.waitFor(4);
    expect(shared.requests).toHaveLength(4);
    const paths = shared.requests.map((r) => r.url).sort();
    const path = (u: string) => new URL(u).pathname + new URL(u).search;
    const [pa, pb] = [path(`${shared.url}/a`), path(`${shared.url}/b?x=1`)];
    expect(paths).toEqual([pa, pa, pb, pb]);
    // Every attempt to the other host is recorded (completions are written in batches after
    // the answers arrive, so wait for them); theirs are all still pending.
    await succeeded(account.id, 10);
    const pending = await store.storage.listDeliveries(
      account.id,
      { status: 'pending' },
      { limit: 100, after: null },
    );
    expect(new Set(pending.map((d) => d.webhookId))).toEqual(new Set([a.id, b.id]));
    expect(pending).toHaveLength(20);
  });

  it('gives a host that answers slowly only the room its connections use', async () => {
    const slow = await startReceiver();
    try {
      // The first request is answered after 1.2 s, every later one never.
      slow.respondWith((_req, index) => (index === 0 ? { delayMs: 1200 } : { hang: true }));
      const account = await makeAccount(store.storage);
      const sealedSecret = createSecretBox(null).seal(SECRET);
      await makeWebhook(store.storage, account.id, { url: slow.url, sealedSecret });
      await publishOne(store.storage, account.id, 'call.ended');
      running = await startTestWorker(store.url, store.storage, {
        RIZLER_CONNECTIONS_PER_ORIGIN: '4',
        RIZLER_MAX_IN_FLIGHT_PER_ORIGIN: '20',
      });
      const { worker } = running;
      // Its one answer took 1.2 s or more: four connections, and one attempt more to cover
      // 250 ms (five; eight while the answer time was not known, twenty the whole room).
      await succeeded(account.id, 1);
      for (let i = 0; i < 10; i++) await publishOne(store.storage, account.id, 'call.ended');
      await vi.waitFor(() => expect(worker.activeAttempts).toBe(5), { timeout: 10_000 });
      // The loop keeps claiming (every 50 ms while an origin is full) and takes nothing more;
      // with the whole room of 20, its first claim took all ten, and with eight, eight.
      const claims = vi.spyOn(store.storage, 'claimDue');
      try {
        await vi.waitFor(() => expect(claims.mock.calls.length).toBeGreaterThanOrEqual(3), {
          timeout: 10_000,
        });
        expect(worker.activeAttempts).toBe(5);
        // the first, and one on each connection
        expect(slow.requests).toHaveLength(5);
      } finally {
        claims.mockRestore();
      }
    } finally {
      // Closing the receiver ends its held request, so the worker can stop.
      await slow.close();
      await running?.stop();
      running = null;
    }
  });
});

describe('the room of an origin that answers slowly', () => {
  it('is the whole bound where answers come fast, or with no connections to go by', () => {
    expect(originRoomFor(384, 64, 5)).toBe(384);
    expect(originRoomFor(384, undefined, 2000)).toBe(384);
    expect(originRoomFor(384, undefined, undefined)).toBe(384);
  });

  it('is twice the connections until the answer time is known', () => {
    expect(originRoomFor(384, 64, undefined)).toBe(128);
    expect(originRoomFor(20, 1, undefined)).toBe(2);
    expect(originRoomFor(100, 64, undefined)).toBe(100);
  });

  it('is the connections and what they answer in 250 ms, where answers come slowly', () => {
    expect(originRoomFor(384, 64, 2000)).toBe(64 + 8);
    expect(originRoomFor(384, 64, 200)).toBe(64 + 80);
    expect(originRoomFor(384, 64, 10_000)).toBe(64 + 2);
    expect(originRoomFor(20, 1, 400)).toBe(2);
    // never above the bound, whatever the connections
    expect(originRoomFor(16, 64, 2000)).toBe(16);
  });
});
