// Fair delivery (SPEC §4, issue 18): one account's dead or slow endpoints and backlog never
// hold back another account. Account A floods; account B publishes one event every 200 ms to
// a healthy endpoint, and each must arrive within 1 s of its publish. Each engine in one
// process here; PostgreSQL with two worker processes in test/scale/fair-share.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { neighbourLatencies } from './noisy-neighbour.js';

const DATA = findEventType('call.ended')!.example;

const ENGINES = [
  { engine: 'SQLite', open: async () => ({ env: {}, drop: async () => {} }) },
  {
    engine: 'PostgreSQL',
    open: async () => {
      const db = await createTestDatabase();
      return { env: { RIZLER_DATABASE_URL: db.url }, drop: () => db.drop() };
    },
  },
];

describe.each(ENGINES)('fair delivery across accounts and endpoints, $engine', ({ open }) => {
  let server: TestServer | undefined;
  let drop: (() => Promise<void>) | undefined;
  const start = async (env: Record<string, string> = {}) => {
    const db = await open();
    drop = db.drop;
    return startTestServer({ ...db.env, ...env });
  };
  const receivers: Receiver[] = [];
  const receiver = async () => {
    const r = await startReceiver();
    receivers.push(r);
    return r;
  };
  afterEach(async () => {
    // Receivers first: their sockets close, so hanging attempts end at once.
    await Promise.all(receivers.splice(0).map((r) => r.close()));
    await server?.close();
    server = undefined;
    await drop?.();
    drop = undefined;
  });

  async function flood(apiKey: string, urls: string[], events: number) {
    for (const url of urls) {
      const hook = await server!.api('/v1/webhooks', { apiKey, body: { url, events: ['*'] } });
      expect(hook.status).toBe(201);
    }
    for (let sent = 0; sent < events; sent += 1000) {
      const batch = Array.from({ length: Math.min(1000, events - sent) }, () => ({
        event: 'call.ended',
        data: DATA,
      }));
      const published = await server!.api('/v1/events/batch', { apiKey, body: { events: batch } });
      expect(published.status).toBe(202);
    }
  }

  it("delivers B's events within 1 s each while A has five hanging endpoints and a backlog", async () => {
    // A 3 s timeout (the default is 10 s) so that the hanging endpoints time out, are cut down
    // to their probes and come back for retries while B publishes.
    server = await start({ RIZLER_DELIVERY_TIMEOUT_MS: '3000' });
    const hanging = await Promise.all(Array.from({ length: 5 }, receiver));
    for (const h of hanging) h.respondWith(() => ({ hang: true }));
    const healthyA = await receiver();
    healthyA.respondWith(() => ({ status: 200, delayMs: 20 }));
    const b = await server.newAccount('b');
    const bReceiver = await receiver();
    const bHook = await server.api('/v1/webhooks', {
      apiKey: b.apiKey,
      body: { url: bReceiver.url, events: ['call.ended'] },
    });
    expect(bHook.status).toBe(201);

    // 5,000 events to all six of A's endpoints: 30,000 deliveries.
    await flood(server.apiKey, [...hanging.map((h) => h.url), healthyA.url], 5000);
    const latencies = await neighbourLatencies(server, b.apiKey, bReceiver, 20);
    expect(Math.max(...latencies), `B's latencies: ${latencies.join(', ')} ms`).toBeLessThan(1000);
    // A's own healthy endpoint is not starved either.
    expect(healthyA.requests.length).toBeGreaterThan(100);

    // The hanging endpoints are throttled for timeouts, and say so.
    const hooks = await server.api('/v1/webhooks?limit=100');
    const throttled = hooks.body.data.filter((w: { url: string }) => w.url !== healthyA.url) as {
      throttle: { state: string; reason: string; max_in_flight: number };
    }[];
    expect(throttled).toHaveLength(5);
    for (const w of throttled) {
      expect(w.throttle).toMatchObject({ state: 'throttled', reason: 'timeouts' });
      expect(w.throttle.max_in_flight).toBeLessThanOrEqual(4);
    }
    const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/rizler_endpoints_throttled\{reason="timeouts"\} 5/);
  }, 90_000);

  it("delivers B's events within 1 s each while A's ten endpoints answer in 2 s", async () => {
    server = await start();
    const slow = await Promise.all(Array.from({ length: 10 }, receiver));
    for (const s of slow) s.respondWith(() => ({ status: 200, delayMs: 2000 }));
    const b = await server.newAccount('b');
    const bReceiver = await receiver();
    await server.api('/v1/webhooks', {
      apiKey: b.apiKey,
      body: { url: bReceiver.url, events: ['call.ended'] },
    });
    await flood(
      server.apiKey,
      slow.map((s) => s.url),
      1000,
    );
    const latencies = await neighbourLatencies(server, b.apiKey, bReceiver, 10);
    // SPEC §4: each within 1 s. Here the API, the worker and all eleven receivers share one
    // thread, and each wave of 1,280 answers every 2 s is recorded on it. Measured on the
    // 2-core machine at load average 4-5 (other suites running), SQLite: max 518-564 ms, the
    // first event the slowest (it waits behind the first wave), the rest 5-110 ms; quieter
    // (load 3), SQLite max 279-344 ms, PostgreSQL max 244 ms, the rest under 110 ms.
    const why = `B's latencies: ${latencies.join(', ')} ms`;
    expect(Math.max(...latencies), why).toBeLessThan(1000);
  }, 90_000);
});
