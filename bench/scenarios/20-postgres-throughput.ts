// Throughput on the scale-out engine: an API-only `serve` (RIZLER_RUN_WORKER=false) and
// `worker` processes on one PostgreSQL database, with one worker process and with two in turn,
// burst and streaming, against the ceiling and the baselines of the same run. Ten endpoints
// (BENCH_PG_ENDPOINTS): the per-endpoint in-flight cap (256, across all workers) leaves 2,560
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
  type IngestPhase,
  type Row,
  type Shape,
} from '../context.js';
import { pidsNamed, type Counted } from '../measure.js';
import { throughputInTurn } from '../throughput.js';

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
    const second = await startService(db.url, {}, 'worker');
    started.push(second);
    // One worker, then two, in turn within each run: the second worker is stopped (SIGSTOP)
    // while one works alone, between figures, when nothing is due or leased. Measured one
    // after the other, the second worker came to its figures cold (a warm-up of 1,000
    // deliveries, against the first's 40,000 or more) and onto a longer history.
    const measure = (shape: Shape, ingest: (phase: IngestPhase) => void) =>
      endToEnd(ctx, api.port, ENDPOINTS, ctx.total, shape, ingest);
    const postgres: Counted = { name: 'postgres', pids: () => pidsNamed('postgres') };
    const pid = (node: ServiceProcess) => (node.child.pid ? [node.child.pid] : []);
    await endToEnd(ctx, api.port, ENDPOINTS, ctx.warmup); // warm-up of both
    const figure = (workers: ServiceProcess[], goal: string, before: () => Promise<void>) => ({
      label: `PostgreSQL end to end, ${ENDPOINTS} endpoints, ${workers.length} worker process${workers.length > 1 ? 'es' : ''}`,
      measure,
      counted: [
        { name: 'API', pids: pid(api) },
        ...workers.map((w, i) => ({ name: `worker ${i + 1}`, pids: pid(w) })),
        postgres,
      ],
      goal,
      before,
      postgresUrl: db.url,
    });
    return await throughputInTurn(ctx, [
      figure([first], 'goal ≥ 3× pg-boss, and ≥ 0.8 of SQLite', async () => {
        second.child.kill('SIGSTOP');
      }),
      figure([first, second], 'goal ≥ 3× pg-boss, and not slower than 1 worker', async () => {
        second.child.kill('SIGCONT');
      }),
    ]);
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
    // A stopped worker would not see SIGTERM until continued.
    for (const node of started) node.child.kill('SIGCONT');
    await Promise.all(started.map(stopService));
    await db.drop();
  }
}
