// PostgreSQL-only: scale-out across processes. One API-only node (`serve` with
// RIZLER_RUN_WORKER=false) and two `worker` nodes, each a real process of the built CLI, share
// one database: claims with FOR UPDATE SKIP LOCKED under a lease, wake-ups by LISTEN/NOTIFY,
// in-flight caps and rate limits kept in shared rows. SQLite runs as one process (its wake-ups
// are an in-process event emitter and its file has one writer at a time), so none of this
// exists there. The nodes run dist/, which the global setup rebuilds when src/ is newer..
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import {
  api,
  arrivals,
  attemptsOf,
  createWebhook,
  inFlightOf,
  noneLeftPending,
  pairOf,
  publishMany,
  startTopology,
  until,
  type Topology,
} from './topology.js';

/** Open (unanswered) requests at the receiver, per endpoint, and the most seen at once. */
function trackConcurrency(receiver: Receiver, delayMs: number) {
  const open = new Map<string, number>();
  const peak = new Map<string, number>();
  receiver.respondWith((req) => {
    const endpoint = new URL(req.url, 'http://x').search;
    const now = (open.get(endpoint) ?? 0) + 1;
    open.set(endpoint, now);
    peak.set(endpoint, Math.max(peak.get(endpoint) ?? 0, now));
    // Created before the receiver's own answer timer of the same delay, so it fires first:
    // the count drops just before the answer leaves, never after.
    setTimeout(() => open.set(endpoint, open.get(endpoint)! - 1), delayMs);
    return { status: 200, delayMs };
  });
  return { peak: (endpoint: string) => peak.get(endpoint) ?? 0 };
}

describe('one API node and two worker nodes on one PostgreSQL database', () => {
  let db: TestDatabase;
  let receiver: Receiver;
  let nodes: Topology;

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await startReceiver();
    // A 30 s poll: anything faster than that was woken by a NOTIFY from another process.
    nodes = await startTopology(db.url, 2, {
      RIZLER_POLL_INTERVAL: '30s',
      RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT: '16',
      RIZLER_MAX_ENDPOINTS: '50',
    });
  }, 60_000);

  afterAll(async () => {
    await nodes?.stop();
    await receiver?.close();
    await db?.drop();
  });

  it('wakes an idle worker at once when another process publishes, despite a 30 s poll', async () => {
    const endpoint = `${receiver.url}?e=wake`;
    await createWebhook(nodes, endpoint, ['call.answered']);
    // Both workers hold their LISTEN connection (the API node has none: it runs no worker).
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await until(
        async () => {
          const { rows } = await admin.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE datname = current_database() AND query = 'LISTEN rizler_wake'`,
          );
          return rows[0].n === 2;
        },
        10_000,
        () => 'two LISTEN connections',
      );
    } finally {
      await admin.end();
    }
    // Let both finish their first (empty) claim and go to sleep for the poll interval.
    await new Promise((r) => setTimeout(r, 1000));

    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = receiver.requests.length;
      const started = Date.now();
      const published = await api(nodes.api.port, nodes.key, '/v1/events', {
        event: 'call.answered',
        data: { call_id: `call_${i}`, agent_id: 'agent_1' },
      });
      expect(published.status).toBe(202);
      const [arrived] = (await receiver.waitFor(before + 1, 5_000)).slice(before);
      expect(arrived!.headers['webhook-id']).toBe(published.body.id);
      latencies.push(arrived!.receivedAt - started);
      // Idle again before the next one.
      await new Promise((r) => setTimeout(r, 300));
    }
    console.log(`publish → received across processes, ms: ${latencies.join(', ')}`);
    expect(Math.max(...latencies)).toBeLessThan(5_000);
  });

  it('delivers thousands of events exactly once, shared by both workers, none by the API node', async () => {
    receiver.requests.length = 0;
    receiver.respondWith(() => ({ status: 200 }));
    // Four endpoints: with the in-flight cap of 16 per endpoint, 64 attempts in flight.
    const endpoints = Array.from({ length: 4 }, (_, i) => `${receiver.url}?e=${i}`);
    for (const url of endpoints) await createWebhook(nodes, url, ['call.ended']);
    const before = await Promise.all(nodes.workers.map(attemptsOf));

    const ids = await publishMany(nodes, 2000);
    expect(new Set(ids).size).toBe(2000);
    const expected = ids.length * endpoints.length;
    await receiver.waitFor(expected, 60_000);
    await noneLeftPending(nodes);
    // A delivery sent twice would be in flight on a worker or already at the receiver: wait
    // until neither worker holds an attempt, then count what arrived.
    await until(
      async () => (await Promise.all(nodes.workers.map(inFlightOf))).every((n) => n === 0),
      10_000,
      () => 'attempts still in flight',
    );

    const seen = arrivals(receiver);
    const twice = [...seen].filter(([, n]) => n > 1);
    expect(twice).toEqual([]);
    expect(receiver.requests).toHaveLength(expected);
    for (const url of endpoints) {
      const search = new URL(url).search;
      expect(ids.filter((id) => !seen.has(`${id}|${search}`))).toEqual([]);
    }
    expect(receiver.requests.every((r) => r.headers['x-rizler-attempt'] === '1')).toBe(true);

    const after = await Promise.all(nodes.workers.map(attemptsOf));
    const byWorker = after.map((n, i) => n - before[i]!);
    console.log(`attempts per worker: ${byWorker.join(', ')} of ${expected}`);
    expect(byWorker[0]! + byWorker[1]!).toBe(expected);
    for (const n of byWorker) expect(n).toBeGreaterThan(expected / 10);
    expect(await attemptsOf(nodes.api)).toBe(0);
  }, 90_000);

  it('keeps the per-endpoint in-flight cap across both workers together', async () => {
    receiver.requests.length = 0;
    const tracker = trackConcurrency(receiver, 100);
    const endpoint = `${receiver.url}?e=capped`;
    await createWebhook(nodes, endpoint, ['call.missed']);
    const before = await Promise.all(nodes.workers.map(attemptsOf));
    const data = { call_id: 'call_2', from: '+14155550142', reason: 'no_answer' };
    const events = Array.from({ length: 300 }, () => ({ event: 'call.missed', data }));
    expect((await api(nodes.api.port, nodes.key, '/v1/events/batch', { events })).status).toBe(202);
    await receiver.waitFor(300, 30_000);
    await noneLeftPending(nodes);

    const byWorker = (await Promise.all(nodes.workers.map(attemptsOf))).map(
      (n, i) => n - before[i]!,
    );
    console.log(
      `capped endpoint: peak ${tracker.peak('?e=capped')} in flight, per worker ${byWorker}`,
    );
    // Both workers sent to it, and together never more than RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT.
    for (const n of byWorker) expect(n).toBeGreaterThan(0);
    expect(tracker.peak('?e=capped')).toBeLessThanOrEqual(16);
    expect(tracker.peak('?e=capped')).toBeGreaterThanOrEqual(8);
  }, 60_000);

  it('keeps the per-endpoint rate limit across both workers together', async () => {
    receiver.requests.length = 0;
    receiver.respondWith(() => ({ status: 200 }));
    const endpoint = `${receiver.url}?e=limited`;
    // 60 a minute: a burst of 60, then one a second, shared by every worker.
    await createWebhook(nodes, endpoint, ['call.failed'], { rate_limit_per_minute: 60 });
    const events = Array.from({ length: 120 }, () => ({
      event: 'call.failed',
      data: { call_id: 'call_3', error_code: 'carrier_unreachable' },
    }));
    expect((await api(nodes.api.port, nodes.key, '/v1/events/batch', { events })).status).toBe(202);
    // Per process the limit would let all 120 through at once; shared, the bucket's 60 go at
    // once and then one a second, so the 64th cannot arrive before about 3 s after the first.
    const arrived = await receiver.waitFor(64, 20_000);
    const elapsed = (arrived[63]!.receivedAt - arrived[0]!.receivedAt) / 1000;
    console.log(`rate-limited endpoint: 64 deliveries in ${elapsed.toFixed(1)} s`);
    expect(elapsed).toBeGreaterThan(2);
    expect(new Set(arrived.slice(0, 64).map(pairOf)).size).toBe(64);
  }, 30_000);
});

describe('a worker killed with kill -9 mid-run', () => {
  let db: TestDatabase;
  let receiver: Receiver;
  let nodes: Topology | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await startReceiver();
  });

  afterAll(async () => {
    await nodes?.stop();
    await receiver?.close();
    await db?.drop();
  });

  it('leaves its leased deliveries to the other worker once the 3 s lease runs out', async () => {
    nodes = await startTopology(db.url, 2, { RIZLER_LEASE: '3s', RIZLER_POLL_INTERVAL: '1s' });
    // Slow answers keep many attempts in flight (up to 64 per endpoint) when the worker dies.
    receiver.respondWith(() => ({ status: 200, delayMs: 200 }));
    const endpoints = [`${receiver.url}?e=0`, `${receiver.url}?e=1`];
    for (const url of endpoints) await createWebhook(nodes, url, ['call.ended']);
    const ids = await publishMany(nodes, 1500);
    const expected = ids.length * endpoints.length;

    await receiver.waitFor(600, 30_000);
    const [victim, survivor] = nodes.workers as [
      (typeof nodes.workers)[0],
      (typeof nodes.workers)[0],
    ];
    const victimAttempts = await attemptsOf(victim);
    victim.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    const killedAt = Date.now();
    const receivedBeforeKill = receiver.requests.length;
    expect(receivedBeforeKill).toBeLessThan(expected);
    expect(victimAttempts).toBeGreaterThan(0);

    await until(
      () => arrivals(receiver).size === expected,
      45_000,
      () => `${arrivals(receiver).size} of ${expected} (event, endpoint) pairs arrived`,
    );
    await noneLeftPending(nodes);
    const recoveredAt = Date.now();

    const seen = arrivals(receiver);
    for (const url of endpoints) {
      const search = new URL(url).search;
      expect(ids.filter((id) => !seen.has(`${id}|${search}`))).toEqual([]);
    }
    // Duplicates only for what the dead worker had in flight: first sent before the kill (give
    // or take 200 ms: what it wrote before dying may still sit in the receiver's socket
    // buffers), and no more than its leases could cover (64 per endpoint).
    const firstArrival = new Map<string, number>();
    for (const r of receiver.requests) {
      if (!firstArrival.has(pairOf(r))) firstArrival.set(pairOf(r), r.receivedAt);
    }
    const twice = [...seen].filter(([, n]) => n > 1).map(([pair]) => pair);
    console.log(
      `kill -9 after ${receivedBeforeKill} of ${expected}; ${twice.length} sent again; ` +
        `all delivered ${recoveredAt - killedAt} ms after the kill`,
    );
    for (const pair of twice) expect(firstArrival.get(pair)!).toBeLessThanOrEqual(killedAt + 200);
    expect(twice.length).toBeLessThanOrEqual(64 * endpoints.length);
    expect([...seen.values()].every((n) => n <= 2)).toBe(true);
    // The survivor did the rest, and the API node still none.
    expect(await attemptsOf(survivor)).toBeGreaterThan(0);
    expect(await attemptsOf(nodes.api)).toBe(0);
    expect(survivor.child.exitCode).toBeNull();
  }, 90_000);
});
