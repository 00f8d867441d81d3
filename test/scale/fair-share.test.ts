// PostgreSQL-only: fair delivery (SPEC §4, issue 18) across two worker processes. Account A
// floods five hanging endpoints and a healthy one; account B publishes one event every 200 ms
// and each must arrive within 1 s. The adaptive limits are kept on the endpoint rows, so both
// workers cut a hanging endpoint down together. Each engine in one process is in
// test/delivery/fair-share.test.ts. Run `npm run build:server` first: the nodes run dist/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { neighbourLatencies } from '../delivery/noisy-neighbour.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import {
  ADMIN_TOKEN,
  api,
  createWebhook,
  publishMany,
  startTopology,
  type Topology,
} from './topology.js';

describe('fair delivery with two worker processes on PostgreSQL', () => {
  let db: TestDatabase;
  let nodes: Topology;
  const receivers: Receiver[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    // A 3 s timeout so that the hanging endpoints time out and are cut while B publishes.
    nodes = await startTopology(db.url, 2, { RIZLER_DELIVERY_TIMEOUT_MS: '3000' });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
    await nodes?.stop();
    await db?.drop();
  });

  it("delivers B's events within 1 s each while A has five hanging endpoints and a backlog", async () => {
    for (let i = 0; i < 6; i++) receivers.push(await startReceiver());
    const [healthyA, ...hanging] = receivers as [Receiver, ...Receiver[]];
    for (const h of hanging) h.respondWith(() => ({ hang: true }));
    healthyA.respondWith(() => ({ status: 200, delayMs: 20 }));
    for (const r of receivers) await createWebhook(nodes, r.url, ['call.ended']);
    // 2,000 events to all six of A's endpoints: 12,000 deliveries.
    await publishMany(nodes, 2000);

    const b = await api(nodes.api.port, ADMIN_TOKEN, '/v1/accounts', { name: 'b' });
    const bReceiver = await startReceiver();
    receivers.push(bReceiver);
    const hook = await api(nodes.api.port, b.body.api_key, '/v1/webhooks', {
      url: bReceiver.url,
      events: ['call.ended'],
    });
    expect(hook.status).toBe(201);
    const publisher = {
      api: (path: string, init: { apiKey?: string; body?: unknown }) =>
        api(nodes.api.port, init.apiKey ?? nodes.key, path, init.body),
    };
    const latencies = await neighbourLatencies(publisher, b.body.api_key, bReceiver, 20);
    // Every one arrives (before fair claims, none of 20 arrived within 120 s), each within 1 s
    // (SPEC §4). Measured on the 2-core machine with three node processes, PostgreSQL and the
    // receivers on it: max 0.7-1.7 s while the claim held capped backlogs off the due index;
    // max 427-516 ms (medians 95-166 ms) reading by endpoint, the first the slowest.
    expect(Math.max(...latencies), `B's latencies: ${latencies.join(', ')} ms`).toBeLessThan(1_000);
    expect(healthyA.requests.length).toBeGreaterThan(100);

    // Both workers read one limit per endpoint: the hanging ones are throttled for timeouts,
    // and at most their probes (plus attempts already under way) went out after the cut.
    const hooks = await api(nodes.api.port, nodes.key, '/v1/webhooks?limit=100');
    const throttled = hooks.body.data.filter((w: { url: string }) => w.url !== healthyA.url);
    expect(throttled).toHaveLength(5);
    for (const w of throttled) {
      expect(w.throttle).toMatchObject({ state: 'throttled', reason: 'timeouts' });
    }
  }, 120_000);
});
