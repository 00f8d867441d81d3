// Runs the baselines — what users would build instead of Rizler — in the same bench run, to
// the same receiver, in the same shapes as the service's rows: BullMQ + Redis and pg-boss 10
// on PostgreSQL, each worker in a process of its own, the bench adding the jobs as it publishes
// events to the service. A figure is timed from the first job added until the receiver has
// every request and the queue has nothing left waiting, active or due for a retry (the
// service's rows wait for every attempt recorded in the same way).
// BENCH_BASELINES=bullmq,pg-boss (the default) or none. The BullMQ row is skipped, with a
// line saying so, when nothing answers PING at BENCH_REDIS (default 127.0.0.1:6379); the
// pg-boss row when no PostgreSQL answers at RIZLER_TEST_POSTGRES_URL.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import PgBoss from 'pg-boss';
import { ADMIN_URL, createTestDatabase } from '../../test/helpers/postgres.js';
import { DATA, type Baseline, type BenchContext, type Row, type Shape } from '../context.js';
import {
  CpuMeter,
  describeSpread,
  pidsNamed,
  RUNS,
  SHAPES,
  spread,
  type Counted,
} from '../measure.js';
import { PostgresWork } from '../postgres-work.js';
import type { DeliveryJob } from './deliver.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REDIS = process.env.BENCH_REDIS ?? '127.0.0.1:6379';
const SECRET = 'whsec_' + randomBytes(32).toString('base64');
const CHUNK = 1000;

/** A baseline, started: how to add jobs, how many are left, whose CPU counts, how to stop. */
interface Running {
  add(jobs: DeliveryJob[]): Promise<unknown>;
  /** Jobs not yet finished (waiting, active, or due for a retry). */
  unfinished(): Promise<number>;
  counted: Counted[];
  /** Its PostgreSQL database, whose writes are counted (postgres-work.ts); none for Redis. */
  postgresUrl?: string;
  stop(): Promise<void>;
}

/** Starts a baseline worker process and resolves once it says it is ready. */
function startWorker(file: string, env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(join(HERE, file), [], {
    env: { ...process.env, BASELINE_SECRET: SECRET, ...env },
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`${file} exited (${code}) before it was ready`)));
  });
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  if (child.connected) child.disconnect();
  await exited;
}

/** Whether Redis answers PING within a second, without a client that retries for ever. */
function redisAnswers(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(port) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

async function startBullmq(): Promise<Running | string> {
  if (!(await redisAnswers(REDIS))) return `no Redis answers at ${REDIS}`;
  const name = `rizler-bench-${randomBytes(4).toString('hex')}`;
  const [host, port] = REDIS.split(':');
  const worker = await startWorker('bullmq-worker.js', {
    BASELINE_QUEUE: name,
    BASELINE_REDIS: REDIS,
  });
  const queue = new Queue<DeliveryJob>(name, {
    connection: { host, port: Number(port) },
    defaultJobOptions: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
      removeOnFail: 10_000,
    },
  });
  return {
    add: (jobs) => queue.addBulk(jobs.map((data) => ({ name: 'deliver', data }))),
    async unfinished() {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      return Object.values(counts).reduce((a, b) => a + b, 0);
    },
    counted: [
      { name: 'BullMQ worker', pids: worker.pid ? [worker.pid] : [] },
      { name: 'redis', pids: () => pidsNamed('redis-server') },
    ],
    async stop() {
      await stopWorker(worker);
      await queue.obliterate({ force: true });
      await queue.close();
    },
  };
}

async function startPgBoss(): Promise<Running | string> {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  try {
    db = await createTestDatabase();
  } catch (err) {
    return `no PostgreSQL at ${ADMIN_URL}: ${String(err)}`;
  }
  const name = 'deliveries';
  let worker: ChildProcess | null = null;
  let boss: PgBoss | null = null;
  try {
    worker = await startWorker('pg-boss-worker.js', {
      BASELINE_QUEUE: name,
      BASELINE_DATABASE_URL: db.url,
    });
    // The producer's side: it only inserts (the worker's instance maintains and migrates).
    boss = new PgBoss({ connectionString: db.url, supervise: false, schedule: false });
    boss.on('error', (err) => console.error('pg-boss producer:', err));
    await boss.start();
  } catch (err) {
    if (worker) await stopWorker(worker);
    await boss?.stop({ graceful: false, wait: true });
    await db.drop();
    throw err;
  }
  const producer = boss;
  const child = worker;
  return {
    add: (jobs) => producer.insert(jobs.map((data) => ({ name, data }))),
    unfinished: () => producer.getQueueSize(name, { before: 'completed' }),
    counted: [
      { name: 'pg-boss worker', pids: child.pid ? [child.pid] : [] },
      { name: 'postgres', pids: () => pidsNamed('postgres') },
    ],
    postgresUrl: db.url,
    async stop() {
      await stopWorker(child);
      await producer.stop({ graceful: false, wait: true });
      await db.drop();
    },
  };
}

/** `n` delivery jobs to `url`, each its own event with the body the service would send. */
function jobsFor(url: string, n: number): DeliveryJob[] {
  const timestamp = new Date().toISOString();
  return Array.from({ length: n }, () => {
    const eventId = `evt_${randomBytes(13).toString('hex')}`;
    const payload = JSON.stringify({ id: eventId, event: 'call.ended', timestamp, data: DATA });
    return { url, eventId, eventType: 'call.ended', payload };
  });
}

/** Adds `total` jobs in the shape and times it until all arrived and none is left; jobs/s. */
async function oneRun(
  ctx: BenchContext,
  baseline: Running,
  total: number,
  shape: Shape,
): Promise<number> {
  const url = `${ctx.receiver.url}?e=0`;
  await ctx.receiver.reset();
  const started = performance.now();
  const added: Promise<unknown>[] = [];
  for (let sent = 0; sent < total; sent += CHUNK) {
    const chunk = baseline.add(jobsFor(url, Math.min(CHUNK, total - sent)));
    if (shape === 'streaming') await chunk;
    else added.push(chunk);
  }
  await Promise.all(added);
  await ctx.receiver.waitFor(total);
  while ((await baseline.unfinished()) > 0) await new Promise((r) => setTimeout(r, 10));
  return total / ((performance.now() - started) / 1000);
}

const STARTERS: Record<Baseline, { label: string; start: () => Promise<Running | string> }> = {
  bullmq: { label: 'BullMQ + Redis + undici, concurrency 64', start: startBullmq },
  'pg-boss': { label: 'pg-boss 10 + undici, 2 loops of 64', start: startPgBoss },
};

/**
 * Measures each selected baseline RUNS times in each shape (the shapes interleaved) and
 * returns its rows and its medians, which the service's rows divide by.
 */
export async function runBaselines(
  ctx: BenchContext,
): Promise<{ rows: Row[]; medians: NonNullable<BenchContext['baselines']> }> {
  const selected = (process.env.BENCH_BASELINES ?? 'bullmq,pg-boss')
    .split(',')
    .map((s) => s.trim())
    .filter((s): s is Baseline => s in STARTERS);
  const rows: Row[] = [];
  const medians: NonNullable<BenchContext['baselines']> = {};
  for (const which of selected) {
    const { label, start } = STARTERS[which];
    process.stderr.write(`bench: baseline ${which}\n`);
    const baseline = await start();
    if (typeof baseline === 'string') {
      process.stderr.write(`bench: baseline ${which} skipped, ${baseline}\n`);
      rows.push({ name: `baseline: ${label}`, value: NaN, unit: 'skipped', note: baseline });
      continue;
    }
    try {
      await oneRun(ctx, baseline, ctx.warmup, 'burst'); // warm-up
      const counted: Counted[] = [
        ...baseline.counted,
        { name: 'receiver', pids: ctx.receiver.pid ? [ctx.receiver.pid] : [] },
        { name: 'bench (producer)', pids: 'self' },
      ];
      const meters = SHAPES.map(() => new CpuMeter(counted));
      const url = baseline.postgresUrl;
      const work = SHAPES.map(() => (url ? new PostgresWork(url) : null));
      const rates: number[][] = SHAPES.map(() => []);
      for (let r = 0; r < RUNS; r++) {
        for (const [i, shape] of SHAPES.entries()) {
          await work[i]?.start();
          meters[i]!.start();
          rates[i]!.push(await oneRun(ctx, baseline, ctx.total, shape));
          meters[i]!.stop(ctx.total);
          await work[i]?.stop(ctx.total);
        }
      }
      const byShape: Partial<Record<Shape, number>> = {};
      for (const [i, shape] of SHAPES.entries()) {
        const s = spread(rates[i]!);
        byShape[shape] = s.median;
        const written = work[i]?.perDelivery() ?? undefined;
        rows.push({
          name: `baseline: ${label}, ${shape}`,
          value: s.median,
          unit: 'deliveries/s',
          note: [describeSpread(s), meters[i]!.share(), work[i]?.describe()]
            .filter(Boolean)
            .join('; '),
          runs: s.runs,
          cpu: meters[i]!.shares(),
          cpuUs: meters[i]!.perUnit(),
          ...(written ? { postgresWork: written } : {}),
        });
      }
      medians[which] = byShape;
    } finally {
      await baseline.stop();
    }
  }
  return { rows, medians };
}
