// Throughput on the scale-out engine: an API-only `serve` (RIZLER_RUN_WORKER=false) and
// `worker` processes on one PostgreSQL database, first with one worker process, then with two,
// burst and streaming, against the ceiling and the baselines of the same run. Ten endpoints
// (BENCH_PG_ENDPOINTS): the per-endpoint in-flight cap (128, across all workers) leaves 1,280
// slots, more than one worker's 512, so a second worker has room to add. Each row's note gives
// the CPU each process used during the figure (from /proc; "postgres" sums every backend on
// the machine): the figures behind "How many workers" in README's "Running at scale".
// Skipped, with a line on stderr, when no PostgreSQL answers at RIZLER_TEST_POSTGRES_URL
// (default postgres://postgres@127.0.0.1:5432/test).
import type { ServiceProcess } from '../../test/helpers/process.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.js';
import {
  endToEnd,
  startService,
  stopService,
  type BenchContext,
  type Row,
  type Shape,
} from '../context.js';
import { pidsNamed, type Counted } from '../measure.js';
import { throughputRows } from '../throughput.js';

const ENDPOINTS = Number(process.env.BENCH_PG_ENDPOINTS ?? 10);

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
    const measure = (shape: Shape) => endToEnd(ctx, api.port, ENDPOINTS, ctx.total, shape);
    const postgres: Counted = { name: 'postgres', pids: () => pidsNamed('postgres') };
    const pid = (node: ServiceProcess) => (node.child.pid ? [node.child.pid] : []);
    await endToEnd(ctx, api.port, ENDPOINTS, 2_000); // warm-up
    const rows = await throughputRows(ctx, {
      label: `PostgreSQL end to end, ${ENDPOINTS} endpoints, 1 worker process`,
      measure,
      counted: [{ name: 'API', pids: pid(api) }, { name: 'worker 1', pids: pid(first) }, postgres],
      goal: 'goal ≥ 3× pg-boss, and ≥ 0.8 of SQLite',
    });
    const second = await startService(db.url, {}, 'worker');
    started.push(second);
    await endToEnd(ctx, api.port, ENDPOINTS, 2_000); // warm-up of the second worker
    rows.push(
      ...(await throughputRows(ctx, {
        label: `PostgreSQL end to end, ${ENDPOINTS} endpoints, 2 worker processes`,
        measure,
        counted: [
          { name: 'API', pids: pid(api) },
          { name: 'worker 1', pids: pid(first) },
          { name: 'worker 2', pids: pid(second) },
          postgres,
        ],
        goal: 'goal ≥ 3× pg-boss, and not slower than 1 worker',
      })),
    );
    return rows;
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
