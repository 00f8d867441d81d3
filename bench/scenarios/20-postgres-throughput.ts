// Throughput on the scale-out engine: an API-only `serve` and worker processes on one
// PostgreSQL database, first with one worker process, then with two, against the bare-undici
// ceiling of the same run. Ten endpoints: the per-endpoint in-flight cap (128, across all
// workers) leaves 1,280 slots, more than one worker's 512, so a second worker has room to add.
// Each row's note gives the CPU each process used during the figure (from /proc): the figures
// behind "How many workers" in README's "Running at scale".
// Skipped, with a line on stderr, when no PostgreSQL answers at RIZLER_TEST_POSTGRES_URL
// (default postgres://postgres@127.0.0.1:5432/test).
import type { ServiceProcess } from '../../test/helpers/process.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.js';
import {
  cpuSeconds,
  endToEnd,
  startService,
  stopService,
  type BenchContext,
  type Row,
} from '../context.js';

const ENDPOINTS = 10;

/** Deliveries/s, and a note with each process's share of one core while it ran. */
async function measure(
  ctx: BenchContext,
  api: ServiceProcess,
  workers: ServiceProcess[],
): Promise<{ rate: number; note: string }> {
  const nodes = [
    { name: 'API', node: api },
    ...workers.map((node, i) => ({ name: `worker ${i + 1}`, node })),
  ];
  const before = nodes.map((n) => cpuSeconds(n.node.child.pid));
  const started = performance.now();
  const rate = await endToEnd(ctx, api.port, ENDPOINTS, ctx.total);
  const wall = (performance.now() - started) / 1000;
  const shares = nodes.map((n, i) => {
    const now = cpuSeconds(n.node.child.pid);
    const then = before[i];
    return now === null || then === null || then === undefined
      ? null
      : `${n.name} ${Math.round((100 * (now - then)) / wall)} %`;
  });
  const cpu = shares.every((s) => s !== null) ? `; CPU of one core: ${shares.join(', ')}` : '';
  return { rate, note: `${ENDPOINTS} endpoints${cpu}` };
}

export default async function postgresThroughput(ctx: BenchContext): Promise<Row[]> {
  let db: TestDatabase;
  try {
    db = await createTestDatabase();
  } catch (err) {
    process.stderr.write(`bench: PostgreSQL skipped, none at ${ADMIN_URL}: ${String(err)}\n`);
    return [];
  }
  const started: ServiceProcess[] = [];
  try {
    const api = await startService(db.url, { RIZLER_RUN_WORKER: 'false' }, 'serve');
    started.push(api);
    const first = await startService(db.url, {}, 'worker');
    started.push(first);
    await endToEnd(ctx, api.port, ENDPOINTS, 2_000); // warm-up
    const one = await measure(ctx, api, [first]);
    const second = await startService(db.url, {}, 'worker');
    started.push(second);
    await endToEnd(ctx, api.port, ENDPOINTS, 2_000); // warm-up of the second worker
    const two = await measure(ctx, api, [first, second]);
    return [
      {
        name: 'PostgreSQL end to end, 1 worker process',
        value: one.rate,
        unit: 'deliveries/s',
        note: one.note,
      },
      {
        name: 'ratio to bare undici, PostgreSQL, 1 worker process',
        value: one.rate / ctx.ceiling,
        unit: '',
      },
      {
        name: 'PostgreSQL end to end, 2 worker processes',
        value: two.rate,
        unit: 'deliveries/s',
        note: two.note,
      },
      {
        name: 'ratio to bare undici, PostgreSQL, 2 worker processes',
        value: two.rate / ctx.ceiling,
        unit: '',
      },
    ];
  } catch (err) {
    // A node that died says why in its own output.
    for (const node of started.filter(
      (n) => n.child.exitCode !== null || n.child.signalCode !== null,
    )) {
      process.stderr.write(
        `bench: a node exited (${node.child.exitCode ?? node.child.signalCode}):\n${node.output()}\n`,
      );
    }
    throw err;
  } finally {
    await Promise.all(started.map(stopService));
    await db.drop();
  }
}
