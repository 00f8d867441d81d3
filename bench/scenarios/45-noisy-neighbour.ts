// Noisy neighbour (issue 18): account A floods — a backlog of 5,000 events to endpoints of
// which 1 or 5 hang (never answer; 10 s timeout) beside one healthy endpoint, or to 10
// endpoints that answer in 2 s — while account B publishes one event every 100 ms to its own
// healthy endpoint. Rows: B's publish-to-arrival p50/p99 (goal p99 ≤ 250 ms), and A's own
// delivery rate meanwhile, which must not collapse either. A fresh SQLite service per case.
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { startReceiver, type Receiver } from '../../test/helpers/receiver.js';
import { DATA, call, startService, stopService, type BenchContext, type Row } from '../context.js';
import { startCountingReceiver } from '../receiver.js';
import { addEndpoint, createAccount, percentile, publishOne } from '../support.js';

const BACKLOG = Number(process.env.BENCH_NEIGHBOUR_BACKLOG ?? 5000);
const B_EVENTS = 50;
/** The service's settings as the bench starts it: its defaults. */
const DEFAULTS = loadConfig({});
/**
 * How many of a slow endpoint's attempts can be answered at once: its in-flight cap, or its
 * origin's connections when fewer (each endpoint here has a receiver, an origin, of its own).
 */
const ON_THE_WIRE = Math.min(DEFAULTS.maxInFlightPerEndpoint, DEFAULTS.connectionsPerOrigin);

interface Case {
  name: string;
  hanging: number;
  slow: number;
}

async function run(ctx: BenchContext, c: Case): Promise<Row[]> {
  const service = await startService(`sqlite:${join(ctx.dir, `neighbour-${c.name}.db`)}`, {
    RIZLER_DELIVERY_TIMEOUT_MS: '10000',
  });
  const receivers: Receiver[] = [];
  const healthyA = await startCountingReceiver();
  const b = await startCountingReceiver({ recordArrivals: true });
  try {
    const { port } = service;
    const aKey = await createAccount(port, `a-${c.name}`);
    const urls: string[] = [];
    for (let i = 0; i < c.hanging; i++) {
      const r = await startReceiver();
      r.respondWith(() => ({ hang: true }));
      receivers.push(r);
      urls.push(r.url);
    }
    for (let i = 0; i < c.slow; i++) {
      const r = await startReceiver();
      r.respondWith(() => ({ status: 200, delayMs: 2000 }));
      receivers.push(r);
      urls.push(r.url);
    }
    if (c.hanging > 0) urls.push(healthyA.url);
    for (const url of urls) await addEndpoint(port, aKey, url);
    const bKey = await createAccount(port, `b-${c.name}`);
    await addEndpoint(port, bKey, b.url);
    for (let sent = 0; sent < BACKLOG; sent += 1000) {
      const events = Array.from({ length: Math.min(1000, BACKLOG - sent) }, () => ({
        event: 'call.ended',
        data: DATA,
      }));
      await call(port, aKey, '/v1/events/batch', { events });
    }
    const aBefore = healthyA.count + receivers.reduce((n, r) => n + r.requests.length, 0);
    const windowStart = performance.now();
    const started = new Map<string, number>();
    for (let i = 0; i < B_EVENTS; i++) {
      const t = performance.now();
      started.set(await publishOne(port, bKey), t);
      const wait = 100 - (performance.now() - t);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const deadline = performance.now() + 60_000;
    while (b.arrivals.size < B_EVENTS && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - windowStart) / 1000;
    const aAfter = healthyA.count + receivers.reduce((n, r) => n + r.requests.length, 0);
    const latencies = [...started]
      .map(([id, t]) => (b.arrivals.get(id) ?? Infinity) - t)
      .sort((x, y) => x - y);
    const arrived = latencies.filter(Number.isFinite).length;
    return [
      {
        name: `noisy neighbour, A ${c.name}: B publish→arrival p50`,
        value: percentile(latencies, 50),
        unit: 'ms',
        note: `${arrived}/${B_EVENTS} of B's events arrived`,
      },
      {
        name: `noisy neighbour, A ${c.name}: B publish→arrival p99`,
        value: percentile(latencies, 99),
        unit: 'ms',
        note: 'goal ≤ 250 ms',
      },
      {
        name: `noisy neighbour, A ${c.name}: A's requests received meanwhile`,
        value: (aAfter - aBefore) / seconds,
        unit: 'req/s',
        note:
          c.hanging > 0
            ? "A's healthy endpoint plus the attempts its hanging ones received"
            : `ten endpoints answering in 2 s: at most 10 × ${ON_THE_WIRE} / 2 s = ${(10 * ON_THE_WIRE) / 2}/s`,
      },
    ];
  } finally {
    await Promise.all(receivers.map((r) => r.close()));
    await stopService(service);
    await healthyA.close();
    await b.close();
  }
}

export default async function noisyNeighbour(ctx: BenchContext): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of [
    { name: '1 hanging', hanging: 1, slow: 0 },
    { name: '5 hanging', hanging: 5, slow: 0 },
    { name: '10 slow (2 s)', hanging: 0, slow: 10 },
  ]) {
    rows.push(...(await run(ctx, c)));
  }
  return rows;
}
