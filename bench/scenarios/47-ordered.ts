// Ordered delivery (issue 14, SPEC §10): one endpoint receives BENCH_ORDERED_EVENTS events
// (10,000) spread over 1,000 ordering keys, published in batches of 1,000, once with
// `ordering: "none"` and once with `"per_key"`, on SQLite and on PostgreSQL. Rows: publish →
// every delivery received, in deliveries/s, and ordered / unordered (goal ≥ 0.7), each the
// median of BENCH_RUNS runs, the two orderings in turn within each, with their spread. The
// receiver answers at once, so the figure is the service's cost of keeping the order: one
// request in flight per key, and the completion that releases each key's next delivery.
// PostgreSQL is skipped, with a line on stderr, when none answers at RIZLER_TEST_POSTGRES_URL.
import { join } from 'node:path';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.js';
import { DATA, call, startService, stopService, type BenchContext, type Row } from '../context.js';
import { startCountingReceiver } from '../receiver.js';
import { describeSpread, RUNS, spread } from '../measure.js';
import { addEndpoint, createAccount } from '../support.js';

const EVENTS = Number(process.env.BENCH_ORDERED_EVENTS ?? 10_000);
const KEYS = 1000;

async function measure(port: number, key: string, ordering: 'none' | 'per_key') {
  const receiver = await startCountingReceiver();
  try {
    const hookId = await addEndpoint(port, key, receiver.url, { ordering });
    const started = performance.now();
    const done = receiver.waitFor(EVENTS);
    for (let sent = 0; sent < EVENTS; sent += 1000) {
      const events = Array.from({ length: Math.min(1000, EVENTS - sent) }, (_, i) => ({
        event: 'call.ended',
        data: DATA,
        ordering_key: `call_${(sent + i) % KEYS}`,
      }));
      await call(port, key, '/v1/events/batch', { events });
    }
    await done;
    const seconds = (performance.now() - started) / 1000;
    await fetch(`http://127.0.0.1:${port}/v1/webhooks/${hookId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${key}` },
    });
    return EVENTS / seconds;
  } finally {
    await receiver.close();
  }
}

async function rowsFor(engine: string, databaseUrl: string): Promise<Row[]> {
  const service = await startService(databaseUrl);
  try {
    const key = await createAccount(service.port, `ordered-${engine}`);
    const runs = { none: [] as number[], perKey: [] as number[] };
    for (let r = 0; r < RUNS; r++) {
      runs.none.push(await measure(service.port, key, 'none'));
      runs.perKey.push(await measure(service.port, key, 'per_key'));
    }
    const none = spread(runs.none);
    const perKey = spread(runs.perKey);
    const label = `${engine}, ${EVENTS} events over ${KEYS} keys, one endpoint`;
    return [
      {
        name: `ordered delivery, ${label}: unordered`,
        value: none.median,
        unit: 'deliveries/s',
        runs: runs.none,
        note: describeSpread(none),
      },
      {
        name: `ordered delivery, ${label}: per_key`,
        value: perKey.median,
        unit: 'deliveries/s',
        runs: runs.perKey,
        note: describeSpread(perKey),
      },
      {
        name: `ordered delivery, ${label}: per_key / unordered`,
        value: perKey.median / none.median,
        unit: '',
        note: 'goal ≥ 0.7; of the two medians',
      },
    ];
  } finally {
    await stopService(service);
  }
}

export default async function ordered(ctx: BenchContext): Promise<Row[]> {
  const rows = await rowsFor('SQLite', `sqlite:${join(ctx.dir, 'ordered.db')}`);
  let db: TestDatabase;
  try {
    db = await createTestDatabase();
  } catch (err) {
    process.stderr.write(`bench: PostgreSQL skipped, none at ${ADMIN_URL}: ${String(err)}\n`);
    return rows;
  }
  try {
    rows.push(...(await rowsFor('PostgreSQL', db.url)));
  } finally {
    await db.drop();
  }
  return rows;
}
