// Ingest: events accepted per second through POST /v1/events/batch (1000 events a batch,
// a few batches in flight), each fanned out to 10 endpoints, so every event writes 1 event
// row and 10 delivery rows before its 202. First with the worker off (ingest alone), then
// with it on, delivering while the events come in.
import { join } from 'node:path';
import {
  ADMIN,
  DATA,
  call,
  startService,
  stopService,
  type BenchContext,
  type Row,
} from '../context.js';

const ENDPOINTS = 10;
const EVENTS = Number(process.env.BENCH_INGEST_EVENTS ?? 50_000);
const IN_FLIGHT = 4;

/** Publishes `total` events in batches of 1000, `IN_FLIGHT` batches at a time; events/s. */
async function ingest(port: number, key: string, total: number): Promise<number> {
  const events = Array.from({ length: 1000 }, () => ({ event: 'call.ended', data: DATA }));
  let sent = 0;
  const started = performance.now();
  const lane = async () => {
    while (sent < total) {
      const n = Math.min(1000, total - sent);
      sent += n;
      await call(port, key, '/v1/events/batch', { events: events.slice(0, n) });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  return total / ((performance.now() - started) / 1000);
}

async function measure(ctx: BenchContext, name: string, runWorker: boolean): Promise<number> {
  const service = await startService(`sqlite:${join(ctx.dir, `ingest-${name}.db`)}`, {
    RIZLER_RUN_WORKER: String(runWorker),
  });
  try {
    const { api_key: key } = await call<{ api_key: string }>(service.port, ADMIN, '/v1/accounts', {
      name: `bench-ingest-${name}`,
    });
    for (let i = 0; i < ENDPOINTS; i++) {
      await call(service.port, key, '/v1/webhooks', {
        url: `${ctx.receiver.url}?e=${i}`,
        events: ['call.ended'],
      });
    }
    await ingest(service.port, key, 5_000); // warm-up
    return await ingest(service.port, key, EVENTS);
  } finally {
    await stopService(service);
  }
}

export default async function ingestScenario(ctx: BenchContext): Promise<Row[]> {
  const alone = await measure(ctx, 'alone', false);
  const delivering = await measure(ctx, 'delivering', true);
  const conditions = `${EVENTS.toLocaleString('en-US')} events in batches of 1000, ${IN_FLIGHT} in flight, ${ENDPOINTS} endpoints each`;
  return [
    {
      name: 'ingest, POST /v1/events/batch, worker off',
      value: alone,
      unit: 'events/s',
      note: `${Math.round(alone * ENDPOINTS).toLocaleString('en-US')} deliveries/s stored; ${conditions}`,
    },
    {
      name: 'ingest, POST /v1/events/batch, worker on',
      value: delivering,
      unit: 'events/s',
      note: `${Math.round(delivering * ENDPOINTS).toLocaleString('en-US')} deliveries/s stored while delivering; ${conditions}`,
    },
  ];
}
