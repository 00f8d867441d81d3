// Endpoint controls (SPEC §11). Content filters: ingest through POST /v1/events/batch to 10
// endpoints, first without filters, then with a 10-condition filter on each endpoint that every
// event passes (so both runs store the same deliveries); the figure is the ratio. Tracing off:
// what the trace ids cost per event and per attempt when OTEL_EXPORTER_OTLP_ENDPOINT is unset,
// next to what one event's ingest costs.
import { IdsOnlyTracing } from '../../src/observability/tracing.js';
import type { ClaimedDelivery } from '../../src/storage/types.js';
import type { BenchContext, Row } from '../context.js';
import { measureIngest } from '../support.js';

const ENDPOINTS = 10;
const EVENTS = Number(process.env.BENCH_CONTROLS_EVENTS ?? 10_000);
const IN_FLIGHT = 4;

/** Ten conditions over `{event, data}`, all true for the bench's call.ended. */
const FILTER = {
  event: { $eq: 'call.ended' },
  data: {
    call_id: { $startsWith: 'call_' },
    agent_id: { $exists: true, $endsWith: '789' },
    duration: { $gte: 60, $lt: 3600 },
    status: { $in: ['completed', 'missed'], $neq: 'failed' },
  },
  $not: { data: { status: 'failed' } },
};

function measure(ctx: BenchContext, name: string, filter: unknown): Promise<number> {
  return measureIngest(ctx, {
    name: `controls-${name}`,
    env: { RIZLER_RUN_WORKER: 'false' },
    endpoints: ENDPOINTS,
    endpoint: filter === null ? {} : { filter },
    events: EVENTS,
    inFlight: IN_FLIGHT,
  });
}

/** Microseconds per event publish and per attempt spent on trace ids with tracing off. */
async function idsOnlyCost(): Promise<{ publishUs: number; attemptUs: number }> {
  const tracing = new IdsOnlyTracing();
  const n = 200_000;
  const info = { accountId: 'acc_1', eventIds: ['evt_1'], eventTypes: ['call.ended'] };
  const work = async (tp: string) => ({ result: tp, deliveries: 1 });
  let started = performance.now();
  for (let i = 0; i < n; i++) await tracing.publish(info, undefined, work);
  const publishUs = ((performance.now() - started) * 1000) / n;
  const claim = {
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  } as ClaimedDelivery;
  started = performance.now();
  for (let i = 0; i < n; i++) tracing.attempt(claim);
  const attemptUs = ((performance.now() - started) * 1000) / n;
  return { publishUs, attemptUs };
}

export default async function controlsScenario(ctx: BenchContext): Promise<Row[]> {
  // Alternated, best of two each: on a shared machine the order alone moved the figures.
  let plain = 0;
  let filtered = 0;
  for (let round = 0; round < 2; round++) {
    plain = Math.max(plain, await measure(ctx, `plain-${round}`, null));
    filtered = Math.max(filtered, await measure(ctx, `filtered-${round}`, FILTER));
  }
  const cost = await idsOnlyCost();
  const conditions = `best of 2 alternated runs of ${EVENTS.toLocaleString('en-US')} events in batches of 1000, ${IN_FLIGHT} in flight, ${ENDPOINTS} endpoints, worker off`;
  return [
    {
      name: 'ingest with a 10-condition filter on each endpoint, ratio to none',
      value: Number((filtered / plain).toFixed(3)),
      unit: '',
      note: `${Math.round(filtered).toLocaleString('en-US')} events/s filtered, ${Math.round(plain).toLocaleString('en-US')} without; ${conditions}`,
    },
    {
      name: 'tracing off: trace ids per published event',
      value: Number(cost.publishUs.toFixed(3)),
      unit: 'µs',
      note: `one event's ingest took ${(1e6 / plain).toFixed(1)} µs in the run above (${((cost.publishUs * plain) / 1e4).toFixed(2)} % of it); the SDK is not loaded`,
    },
    {
      name: 'tracing off: child traceparent per attempt',
      value: Number(cost.attemptUs.toFixed(3)),
      unit: 'µs',
    },
  ];
}
