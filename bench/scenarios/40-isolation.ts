// Isolation: the delivery rate to a healthy endpoint while another endpoint subscribed to the
// same events hangs (reads each request, never answers; RIZLER_DELIVERY_TIMEOUT_MS=10000, so
// every attempt to it holds its slot for the whole run), as a fraction of the rate without it.
// A second run with a healthy twin instead of the hanging endpoint separates what fan-out to
// two endpoints costs anyway (twice the deliveries written) from what the hang costs.
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { originRoomFor } from '../../src/worker/pipeline.js';
import { DATA, call, startService, stopService, type BenchContext, type Row } from '../context.js';
import { startCountingReceiver, type CountingReceiver } from '../receiver.js';
import { addEndpoint, createAccount } from '../support.js';

/**
 * A new account with one endpoint per URL, all subscribed to call.ended; publishes `total`
 * events in batches of 1000 and returns the healthy receiver's rate (deliveries/s) from the
 * first publish until it has every event, with the account's key and endpoint ids.
 */
async function healthyRate(
  port: number,
  healthy: CountingReceiver,
  urls: string[],
  total: number,
): Promise<{ rate: number; key: string; webhooks: string[] }> {
  const key = await createAccount(port, `bench-isolation-${urls.length}-${Date.now()}`);
  const webhooks: string[] = [];
  for (const url of urls) webhooks.push(await addEndpoint(port, key, url));
  await healthy.reset();
  const started = performance.now();
  const batches: Promise<unknown>[] = [];
  for (let sent = 0; sent < total; sent += 1000) {
    const n = Math.min(1000, total - sent);
    const events = Array.from({ length: n }, () => ({ event: 'call.ended', data: DATA }));
    batches.push(call(port, key, '/v1/events/batch', { events }));
  }
  await Promise.all(batches);
  await healthy.waitFor(total);
  return { rate: total / ((performance.now() - started) / 1000), key, webhooks };
}

async function deleteWebhook(port: number, key: string, id: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/webhooks/${id}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${key}` },
  });
  if (res.status >= 300) throw new Error(`DELETE /v1/webhooks/${id}: ${res.status}`);
}

const REPS = Number(process.env.BENCH_ISOLATION_REPS ?? 3);
/** The service's settings as the bench starts it: its defaults. */
const DEFAULTS = loadConfig({});
/** What the worker keeps in flight to the hanging endpoint, whose answer time it never learns. */
const HANGING_ROOM = Math.min(
  DEFAULTS.maxInFlightPerEndpoint,
  originRoomFor(DEFAULTS.maxInFlightPerOrigin, DEFAULTS.connectionsPerOrigin, undefined),
);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export default async function isolation(ctx: BenchContext): Promise<Row[]> {
  const healthy = ctx.receiver;
  const twin = await startCountingReceiver();
  const service = await startService(`sqlite:${join(ctx.dir, 'isolation.db')}`, {
    RIZLER_DELIVERY_TIMEOUT_MS: '10000',
  });
  const rates = { alone: [] as number[], twin: [] as number[], hang: [] as number[] };
  let held = 0;
  try {
    await healthyRate(service.port, healthy, [healthy.url], 5_000); // warm-up
    // Interleaved repetitions, so a change in the machine's load touches all three alike.
    for (let rep = 0; rep < REPS; rep++) {
      rates.alone.push((await healthyRate(service.port, healthy, [healthy.url], ctx.total)).rate);
      await twin.reset();
      const paired = await healthyRate(service.port, healthy, [healthy.url, twin.url], ctx.total);
      rates.twin.push(paired.rate);
      await twin.waitFor(ctx.total); // the twin's share is done before the next run starts
      // A new hanging endpoint each time. After its run it is deleted with its backlog (else
      // the worker would go through that backlog once the receiver is gone), then closed.
      const hanging = await startCountingReceiver({ hang: true });
      try {
        const run = await healthyRate(service.port, healthy, [healthy.url, hanging.url], ctx.total);
        rates.hang.push(run.rate);
        held = Math.max(held, hanging.count);
        await deleteWebhook(service.port, run.key, run.webhooks[1]!);
      } finally {
        await hanging.close();
      }
    }
    const alone = median(rates.alone);
    const withTwin = median(rates.twin);
    const withHang = median(rates.hang);
    const spread = (values: number[]) =>
      `median of ${values.map((v) => Math.round(v).toLocaleString('en-US')).join(', ')}`;
    return [
      {
        name: 'isolation: healthy endpoint alone',
        value: alone,
        unit: 'deliveries/s',
        note: spread(rates.alone),
      },
      {
        name: 'isolation: healthy endpoint beside a healthy twin',
        value: withTwin,
        unit: 'deliveries/s',
        note: `${spread(rates.twin)}; the same fan-out (2 deliveries per event), no hang`,
      },
      {
        name: 'isolation: healthy endpoint beside a hanging one',
        value: withHang,
        unit: 'deliveries/s',
        note: `${spread(rates.hang)}; up to ${held} attempts sent to the hanging endpoint (${HANGING_ROOM} in flight at a time, ${DEFAULTS.connectionsPerOrigin} on the wire, 10 s timeout)`,
      },
      {
        name: 'isolation ratio, hanging / alone',
        value: withHang / alone,
        unit: '',
        note: 'goal ≥ 0.9; includes the cost of writing 2 deliveries per event',
      },
      {
        name: 'isolation ratio, hanging / healthy twin',
        value: withHang / withTwin,
        unit: '',
        note: 'the cost of the hang alone',
      },
    ];
  } finally {
    await stopService(service);
    await twin.close();
  }
}
