// Ingest: events accepted per second through POST /v1/events/batch (1000 events a batch,
// a few batches in flight), each fanned out to 10 endpoints, so every event writes 1 event
// row and 10 delivery rows before its 202. First with the worker off (ingest alone), then
// with it on, delivering while the events come in.
import type { BenchContext, Row } from '../context.js';
import { measureIngest } from '../support.js';

const ENDPOINTS = 10;
const EVENTS = Number(process.env.BENCH_INGEST_EVENTS ?? 50_000);
const IN_FLIGHT = 4;

function measure(ctx: BenchContext, name: string, runWorker: boolean): Promise<number> {
  return measureIngest(ctx, {
    name: `ingest-${name}`,
    env: { RIZLER_RUN_WORKER: String(runWorker) },
    endpoints: ENDPOINTS,
    events: EVENTS,
    inFlight: IN_FLIGHT,
  });
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
