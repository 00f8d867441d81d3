// Latency at a steady rate: one event per POST /v1/events, 200 a second for 10 s after 10 s of
// warm-up, paced by a timer, BENCH_RUNS times (each figure the median of those windows, with
// their spread). Each event is timed from the start of its publish request to its first
// arrival at the receiver. The receiver runs in a process of its own, as one on another
// host would: in the bench's process, an arrival was stamped only when the bench's event loop,
// busy with the publisher's own requests and answers, got to it. Its arrival times come back on
// this process's performance.now() clock. Measured on SQLite, then on PostgreSQL with a `serve`
// that runs its own worker (skipped, with a line on stderr, when no PostgreSQL answers).
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { call, startService, stopService, type BenchContext, type Row } from '../context.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.js';
import type { ServiceProcess } from '../../test/helpers/process.js';
import type { CountingReceiver } from '../receiver.js';
import { startReceiverProcess } from '../receiver-process.js';
import {
  CpuMeter,
  describeSpread,
  machineTicks,
  pidsNamed,
  RUNS,
  schedSeconds,
  spread,
} from '../measure.js';
import { addEndpoint, createAccount, percentile, publishOne } from '../support.js';

const RATE = Number(process.env.BENCH_LATENCY_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 10);
/**
 * Seconds at the same rate before the measured ones, not measured. A deployed service has run
 * its hot path for hours; a fresh one is still compiling it. At 200 events/s V8 was still
 * optimizing about 40 functions a second 12 s after the start (`--trace-opt`), and the
 * service spent 2.4-2.8 ms of CPU an event after 1 s of warm-up, 1.8-2.0 ms after 15 s.
 */
const WARMUP_SECONDS = Number(process.env.BENCH_LATENCY_WARMUP ?? 10);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Published {
  id: string;
  started: number;
  /** When the 202 came back. */
  answered: number;
}

/**
 * Calls `publish` `count` times at `rate` per second on an absolute schedule (a late timer
 * does not shift the ones after it); returns the results and how late the latest start was.
 */
async function paced(
  rate: number,
  count: number,
  publish: () => Promise<Published>,
): Promise<{ published: Published[]; maxLagMs: number; seconds: number }> {
  const interval = 1000 / rate;
  const begin = performance.now();
  const pending: Promise<Published>[] = [];
  let maxLagMs = 0;
  for (let i = 0; i < count; i++) {
    const due = begin + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    maxLagMs = Math.max(maxLagMs, performance.now() - due);
    pending.push(publish());
  }
  const published = await Promise.all(pending);
  return { published, maxLagMs, seconds: (performance.now() - begin) / 1000 };
}

/**
 * What the bench knows when events did not all arrive: how many, what the receiver counted, and
 * the service's own account of the pending deliveries (a retry's error, or none attempted).
 */
async function notArrived(
  port: number,
  key: string,
  published: Published[],
  receiver: CountingReceiver,
): Promise<Error> {
  const missing = published.filter((p) => !receiver.arrivals.has(p.id));
  let pending: string;
  try {
    const { data } = await call<{ data: Record<string, unknown>[] }>(
      port,
      key,
      '/v1/deliveries?status=pending&limit=5',
    );
    pending = JSON.stringify(
      data.map((d) => ({
        event_id: d.event_id,
        attempt_count: d.attempt_count,
        last_status_code: d.last_status_code,
        last_error: d.last_error,
        next_attempt_at: d.next_attempt_at,
      })),
    );
  } catch (err) {
    pending = `unreadable (${String(err)})`;
  }
  return new Error(
    `latency: ${missing.length} of ${published.length} events did not arrive in 30 s ` +
      `(the receiver counted ${receiver.count}; first missing ${missing[0]?.id}); ` +
      `pending deliveries: ${pending}`,
  );
}

export default async function latency(ctx: BenchContext): Promise<Row[]> {
  const rows = await latencyOn(`sqlite:${join(ctx.dir, 'latency.db')}`, '');
  let db: TestDatabase;
  try {
    db = await createTestDatabase();
  } catch (err) {
    process.stderr.write(
      `bench: PostgreSQL latency skipped, none at ${ADMIN_URL}: ${String(err)}\n`,
    );
    return rows;
  }
  try {
    rows.push(...(await latencyOn(db.url, ' on PostgreSQL (serve with its worker)')));
  } finally {
    await db.drop();
  }
  return rows;
}

/** One measured window of a latency row: its percentiles and how busy the machine was. */
interface Window {
  p50: number;
  p99: number;
  max: number;
  /** Events timed, and at what rate they went out. */
  events: number;
  rate: number;
  /** The 202's own p50 and p99. */
  answerP50: number;
  answerP99: number;
  /** Shares of one core, in %: the service's, PostgreSQL's backends' (undefined on SQLite). */
  service: number | undefined;
  postgres: number | undefined;
  /** The machine's cores, in % busy. */
  busy: number | undefined;
  /** The service's main thread: the time it ran, and waited for a core, in %. */
  ran: number | undefined;
  waited: number | undefined;
  load: number;
  /** How late the publisher's timer was at worst, in ms. */
  lagMs: number;
}

/** The latency rows of a `serve` on this database; `engine` names it in the rows' names. */
async function latencyOn(databaseUrl: string, engine: string): Promise<Row[]> {
  const receiver = await startReceiverProcess({ recordArrivals: true });
  const service = await startService(databaseUrl);
  try {
    const key = await createAccount(service.port, 'bench-latency');
    await addEndpoint(service.port, key, receiver.url);
    const publish = async (): Promise<Published> => {
      const started = performance.now();
      const id = await publishOne(service.port, key);
      return { id, started, answered: performance.now() };
    };

    // The warm-up runs at the same rate (WARMUP_SECONDS); it is not measured.
    await paced(RATE, RATE * WARMUP_SECONDS, publish);
    await receiver.waitFor(RATE * WARMUP_SECONDS);

    // BENCH_RUNS windows one after the other on the same warm service: one window's p99 is its
    // 20th slowest event, and within an hour the same build's PostgreSQL row read 25.5-31.1 ms
    // in five runs and 75.8 ms in another (session 34). Each figure is the median of the
    // windows, with their spread.
    const windows: Window[] = [];
    for (let r = 0; r < RUNS; r++) {
      await receiver.reset();
      windows.push(await measureWindow(service, databaseUrl, key, receiver, publish));
    }
    const median = (pick: (w: Window) => number | undefined) => {
      const values = windows.map(pick).filter((v): v is number => v !== undefined);
      return values.length === 0 ? undefined : spread(values).median;
    };
    const ms = (v: number) => `${v.toFixed(1)} ms`;
    const over = (values: number[]) => {
      const s = spread(values);
      return values.length === 1
        ? ms(s.median)
        : `${ms(s.median)}; ${describeSpread(s, (v) => v.toFixed(1))}`;
    };
    const p50s = windows.map((w) => w.p50);
    const p99s = windows.map((w) => w.p99);
    const events = windows.reduce((n, w) => n + w.events, 0);
    const conditions = `${events} events in ${windows.length} run${windows.length === 1 ? '' : 's'} at ${Math.round(median((w) => w.rate)!)}/s, one per request`;
    const share = (name: string, v: number | undefined) =>
      v === undefined ? '' : `${name} ${Math.round(v)} %`;
    const cpu = [
      share(
        'service CPU',
        median((w) => w.service),
      ),
      share(
        'PostgreSQL',
        median((w) => w.postgres),
      ),
    ]
      .filter((x) => x !== '')
      .join(', ');
    const busy = median((w) => w.busy);
    const ran = median((w) => w.ran);
    const waited = median((w) => w.waited);
    const context = [
      `202 answered in p50 ${median((w) => w.answerP50)!.toFixed(1)} / p99 ${median((w) => w.answerP99)!.toFixed(1)} ms`,
      cpu === '' ? '' : `${cpu} of a core`,
      busy === undefined ? '' : `the machine's cores ${Math.round(busy)} % busy`,
      ran === undefined || waited === undefined
        ? ''
        : `the service's main thread ran ${Math.round(ran)} % of the time and waited for a core ${Math.round(waited)} %`,
      `load average ${median((w) => w.load)!.toFixed(1)}`,
    ]
      .filter((x) => x !== '')
      .join('; ');
    return [
      {
        name: `publish → arrival p50${engine}, ${RATE} events/s`,
        value: spread(p50s).median,
        unit: 'ms',
        runs: p50s,
        note: `${over(p50s)}; ${conditions}`,
      },
      {
        name: `publish → arrival p99${engine}, ${RATE} events/s`,
        value: spread(p99s).median,
        unit: 'ms',
        runs: p99s,
        note: `${over(p99s)}; slowest ${ms(Math.max(...windows.map((w) => w.max)))}; goal ≤ 10 ms; medians of the runs: ${context}; publisher timer late by up to ${ms(Math.max(...windows.map((w) => w.lagMs)))}`,
      },
    ];
  } finally {
    await stopService(service);
    await receiver.close();
  }
}

/** One measured window (SECONDS at RATE) of a warm service, and how busy the machine was. */
async function measureWindow(
  service: ServiceProcess,
  databaseUrl: string,
  key: string,
  receiver: CountingReceiver,
  publish: () => Promise<Published>,
): Promise<Window> {
  const pid = service.child.pid;
  // How busy the machine was: the service's CPU and PostgreSQL's backends' (all of them, the
  // warm-up's pool already open), what its two cores did, and how long the service's main
  // thread, runnable, waited for a core. A tail that comes from a saturated machine shows
  // there, not in the code.
  const meter = new CpuMeter([
    { name: 'service', pids: pid === undefined ? [] : [pid] },
    ...(databaseUrl.startsWith('postgres')
      ? [{ name: 'postgres', pids: () => pidsNamed('postgres') }]
      : []),
  ]);
  meter.start();
  const machineBefore = machineTicks();
  const schedBefore = pid === undefined ? null : schedSeconds(pid);
  const run = await paced(RATE, RATE * SECONDS, publish);
  const deadline = Date.now() + 30_000;
  while (run.published.some((p) => !receiver.arrivals.has(p.id))) {
    if (Date.now() > deadline) throw await notArrived(service.port, key, run.published, receiver);
    await sleep(10);
  }
  meter.stop();
  const machineAfter = machineTicks();
  const schedAfter = pid === undefined ? null : schedSeconds(pid);
  const shares = meter.shares();
  const answers = run.published.map((p) => p.answered - p.started).sort((a, b) => a - b);
  const latencies = run.published
    .map((p) => receiver.arrivals.get(p.id)! - p.started)
    .sort((a, b) => a - b);
  const sched =
    schedBefore === null || schedAfter === null
      ? null
      : {
          ran: (100 * (schedAfter.run - schedBefore.run)) / run.seconds,
          waited: (100 * (schedAfter.wait - schedBefore.wait)) / run.seconds,
        };
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? NaN,
    events: latencies.length,
    rate: latencies.length / run.seconds,
    answerP50: percentile(answers, 50),
    answerP99: percentile(answers, 99),
    service: pid === undefined ? undefined : shares.service,
    postgres: shares.postgres,
    busy:
      machineBefore === null || machineAfter === null
        ? undefined
        : (100 * (machineAfter.busy - machineBefore.busy)) /
          (machineAfter.total - machineBefore.total),
    ran: sched?.ran,
    waited: sched?.waited,
    load: loadavg()[0]!,
    lagMs: run.maxLagMs,
  };
}
