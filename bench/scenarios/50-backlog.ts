// Backlog: does the drain rate hold when a million deliveries are pending? An API-only
// `serve` (RIZLER_RUN_WORKER=false) takes the events; a `worker` process on the same SQLite
// file drains them to one endpoint.
//  - small: the warm worker drains rounds of 1,000 pending (each round one batch, so exactly
//    1,000 appear at once), timed from each round's first arrival to its last;
//  - large: with the worker stopped, the backlog is published (batches of 1000, several in
//    flight; the setup time is reported), then a fresh worker drains; after a warm-up of
//    2,000 arrivals, BENCH_RUNS slices of 20,000 are timed one after the other. Its peak
//    resident memory (VmHWM) is read from /proc, as is the largest VmRSS sampled during the
//    drain.
// Each rate is the median of its rounds or slices, printed with their spread.
// BENCH_BACKLOG sets the large size (default 1,000,000); BENCH_BACKLOG_BUDGET_S caps the
// time spent publishing it (default 420 s): when the cap is hit, the size reached is used
// and the row says so.
import { readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { ServiceProcess } from '../../test/helpers/process.js';
import { DATA, call, startService, stopService, type BenchContext, type Row } from '../context.js';
import { describeSpread, RUNS, spread } from '../measure.js';
import { addEndpoint, createAccount } from '../support.js';

const LARGE = Number(process.env.BENCH_BACKLOG ?? 1_000_000);
const BUDGET_MS = Number(process.env.BENCH_BACKLOG_BUDGET_S ?? 420) * 1000;
const SMALL = 1_000;
const ROUNDS = 10;
const WARM_UP = 2_000;
const SLICE = 20_000;
const IN_FLIGHT = 4;

/** A /proc/PID/status field in MiB; null off Linux or once the process is gone. */
function memoryMiB(
  pid: number | undefined,
  field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile',
): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
    return kib === undefined ? null : Number(kib) / 1024;
  } catch {
    return null;
  }
}

/** Publishes up to `total` events in batches of 1000 until done or `budgetMs` has passed. */
async function publish(
  port: number,
  key: string,
  total: number,
  budgetMs: number,
): Promise<{ published: number; seconds: number }> {
  const events = Array.from({ length: 1000 }, () => ({ event: 'call.ended', data: DATA }));
  const started = performance.now();
  let claimed = 0;
  let published = 0;
  const lane = async () => {
    while (claimed < total && performance.now() - started < budgetMs) {
      const n = Math.min(1000, total - claimed);
      claimed += n;
      await call(port, key, '/v1/events/batch', { events: events.slice(0, n) });
      published += n;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  return { published, seconds: (performance.now() - started) / 1000 };
}

export default async function backlog(ctx: BenchContext): Promise<Row[]> {
  const { receiver } = ctx;
  const db = join(ctx.dir, 'backlog.db');
  const url = `sqlite:${db}`;
  // The worker learns of new rows by polling (no wake-ups across processes on SQLite).
  const workerEnv = { RIZLER_POLL_INTERVAL: '50ms' };
  const api = await startService(url, { RIZLER_RUN_WORKER: 'false' });
  let worker: ServiceProcess | null = null;
  try {
    const key = await createAccount(api.port, 'bench-backlog');
    await addEndpoint(api.port, key, receiver.url);

    // Small: a warm worker, rounds of exactly 1,000 pending.
    worker = await startService(url, workerEnv, 'worker');
    await receiver.reset();
    await publish(api.port, key, WARM_UP, Infinity);
    await receiver.waitFor(WARM_UP);
    const smallRates: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await receiver.reset();
      await publish(api.port, key, SMALL, Infinity);
      await receiver.waitFor(1);
      const first = performance.now();
      await receiver.waitFor(SMALL);
      smallRates.push((SMALL - 1) / ((performance.now() - first) / 1000));
    }
    const small = spread(smallRates);
    const smallPeak = memoryMiB(worker.child.pid, 'VmHWM');
    await stopService(worker);
    worker = null;

    // Large: publish the backlog with no worker running, then drain with a fresh one.
    const setup = await publish(api.port, key, LARGE, BUDGET_MS);
    const pending = setup.published;
    await receiver.reset();
    worker = await startService(url, workerEnv, 'worker');
    const pid = worker.child.pid;
    // VmRSS counts the SQLite file pages mapped in (mmap_size) as well as the heap: the two
    // are sampled apart, since mapped file pages are page cache the kernel can take back.
    const rssMax = { VmRSS: 0, RssAnon: 0, RssFile: 0 };
    const sampler = setInterval(() => {
      for (const field of ['VmRSS', 'RssAnon', 'RssFile'] as const)
        rssMax[field] = Math.max(rssMax[field], memoryMiB(pid, field) ?? 0);
    }, 100);
    const largeRates: number[] = [];
    try {
      await receiver.waitFor(WARM_UP);
      for (let slice = 0; slice < RUNS; slice++) {
        const first = performance.now();
        await receiver.waitFor(WARM_UP + (slice + 1) * SLICE);
        largeRates.push(SLICE / ((performance.now() - first) / 1000));
      }
    } finally {
      clearInterval(sampler);
    }
    const large = spread(largeRates);
    const peak = memoryMiB(pid, 'VmHWM');
    await stopService(worker);
    worker = null;

    const size = pending.toLocaleString('en-US');
    const cut =
      pending < LARGE
        ? `; ${LARGE.toLocaleString('en-US')} did not fit the ${BUDGET_MS / 1000} s budget`
        : '';
    return [
      {
        name: `backlog ${SMALL.toLocaleString('en-US')} pending: drain rate`,
        value: small.median,
        unit: 'deliveries/s',
        runs: smallRates,
        note: `${describeSpread(small)}: ${ROUNDS} rounds of ${SMALL} on a warm worker process, 1 endpoint`,
      },
      {
        name: `backlog ${size} pending: drain rate`,
        value: large.median,
        unit: 'deliveries/s',
        runs: largeRates,
        note: `${describeSpread(large)}, slices of ${SLICE.toLocaleString('en-US')} in turn after ${WARM_UP.toLocaleString('en-US')} warm-up; setup: ${size} events published in ${setup.seconds.toFixed(0)} s (${Math.round(pending / setup.seconds).toLocaleString('en-US')}/s)${cut}; load average ${loadavg()[0]!.toFixed(1)}`,
      },
      {
        name: `backlog ratio, ${size} / ${SMALL.toLocaleString('en-US')}`,
        value: large.median / small.median,
        unit: '',
        note: 'goal ≥ 0.8; of the two medians',
      },
      {
        name: `worker peak memory draining ${size}`,
        value: peak ?? NaN,
        unit: 'MiB',
        note: `VmHWM; sampled peaks: VmRSS ${rssMax.VmRSS.toFixed(0)}, of which anonymous ${rssMax.RssAnon.toFixed(0)} and mapped database file ${rssMax.RssFile.toFixed(0)} MiB; ${smallPeak?.toFixed(0) ?? '?'} MiB draining ${SMALL.toLocaleString('en-US')}; goal < 300 MB`,
      },
    ];
  } finally {
    if (worker) await stopService(worker);
    await stopService(api);
    for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  }
}
