// What every bench scenario is handed: a receiver, a scratch folder, a way to start the
// service as a real process, and the ceiling measured at the start of the run.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { startProcess, type ServiceProcess } from '../test/helpers/process.js';
import type { CountingReceiver } from './receiver.js';

export const ADMIN = 'bench-admin-token-0123456789abcdef';
export const DATA = {
  call_id: 'call_123456',
  agent_id: 'agent_789',
  duration: 180,
  status: 'completed',
};

export interface Row {
  name: string;
  value: number;
  unit: string;
  note?: string;
  /** Each run's value, when the figure was measured more than once (`value` is their median). */
  runs?: number[];
  /** The share of one core each process used while the figure ran, in %. */
  cpu?: Record<string, number>;
  /** Each process's CPU time per delivery (or request) while the figure ran, in µs. */
  cpuUs?: Record<string, number>;
  /** What PostgreSQL wrote per delivery while the figure ran (postgres-work.ts). */
  postgresWork?: { walBytes: number; transactions: number };
}

export interface BenchContext {
  receiver: CountingReceiver;
  dir: string;
  /** Deliveries per throughput figure (BENCH_DELIVERIES, default 20,000). */
  total: number;
  /**
   * Deliveries each throughput process (the service's, each baseline's) makes before its
   * figures (BENCH_WARMUP, default 40,000), so that they are a warm process's: after 4,000,
   * V8's compiler threads still took a third of a core in a PostgreSQL worker's first measured
   * seconds (`perf`), and three runs in order read 4,135 / 5,621 / 6,121 deliveries/s.
   */
  warmup: number;
  /** The bare undici rate to the same receiver, measured first in this run (the best median). */
  ceiling: number;
  /** The ceiling's loop run once more at each of its connection counts, now (req/s). */
  ceilingAgain?: () => Promise<number[]>;
  /** The baselines' median rates in this run, by publishing shape; absent when not run. */
  baselines?: Partial<Record<Baseline, Partial<Record<Shape, number>>>>;
}

/** What users would build instead (bench/baselines/). */
export type Baseline = 'bullmq' | 'pg-boss';

/**
 * How events are published: `burst` sends every batch at once and the service takes them all
 * while it delivers; `streaming` sends the next batch as soon as the last was accepted.
 */
export type Shape = 'burst' | 'streaming';

/**
 * The bench's own API client, standing in for the platform (on another host in a deployment):
 * undici's `request` on a keep-alive pool, not `fetch`. At 200 requests a second `fetch` cost
 * this process 1.7-3.1 ms of CPU a request and `request` 0.7-1.0 ms (against a bare Node server
 * in another process); at the PostgreSQL latency scenario's load the publishing process fell from
 * 32-40 % of a core to 18-23 %, CPU that this machine's two cores took from the service. No bound
 * on connections, as fetch's global pool has none: a burst sends every batch at once.
 */
const api = new Agent();

export async function call<T>(port: number, key: string, path: string, body?: unknown): Promise<T> {
  const res = await request(`http://127.0.0.1:${port}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    dispatcher: api,
  });
  if (res.statusCode >= 300) throw new Error(`${path}: ${res.statusCode} ${await res.body.text()}`);
  return (await res.body.json()) as T;
}

/**
 * Starts `rizler-webhooks <command>` with the bench's settings (BENCH_PROFILE=dir for CPU
 * profiles; BENCH_NODE_ARGS for other Node flags, space-separated, e.g. `--import a-probe.mjs`;
 * BENCH_SERVICE_ENV for settings to try, e.g. `RIZLER_CLAIM_BATCH=256,RIZLER_LEASE=30s`).
 */
export function startService(
  databaseUrl: string,
  extra: Record<string, string> = {},
  command: 'serve' | 'worker' = 'serve',
): Promise<ServiceProcess> {
  const profile = process.env.BENCH_PROFILE;
  return startProcess(
    [command],
    {
      RIZLER_DATABASE_URL: databaseUrl,
      RIZLER_ADMIN_TOKEN: ADMIN,
      RIZLER_ALLOW_PRIVATE_NETWORKS: 'true',
      RIZLER_ENDPOINT_RATE_LIMIT: '100000000',
      RIZLER_API_RATE_LIMIT: '1000000',
      RIZLER_LOG_LEVEL: 'info',
      ...serviceEnv(),
      ...extra,
    },
    30_000,
    [
      ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []),
      ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
    ],
  );
}

/** BENCH_SERVICE_ENV's settings (`NAME=value`, comma-separated). */
function serviceEnv(): Record<string, string> {
  const pairs = process.env.BENCH_SERVICE_ENV?.split(',').filter(Boolean) ?? [];
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) throw new Error(`BENCH_SERVICE_ENV: ${pair} is not NAME=value`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

export async function stopService(service: ServiceProcess): Promise<void> {
  service.kill('SIGTERM');
  await service.exited;
}

/**
 * When a figure's last batch was accepted (its 202), from the first publish, and how many
 * deliveries had arrived by then: the part of a run spent taking the events in, and what was
 * delivered meanwhile (the receiver's count, refreshed every 10 ms).
 */
export interface IngestPhase {
  acceptedMs: number;
  deliveredBy: number;
}

/**
 * Publishes enough events in batches of 1000 for `total` deliveries over `endpoints`
 * endpoints, in the given shape, and times publish → received → every attempt recorded, in
 * deliveries/s. `apiPort` serves the API; the workers may be other processes. `ingest` hears
 * when the batches were all accepted (IngestPhase).
 */
export async function endToEnd(
  ctx: BenchContext,
  apiPort: number,
  endpoints: number,
  total: number,
  shape: Shape = 'burst',
  ingest?: (phase: IngestPhase) => void,
): Promise<number> {
  const { receiver } = ctx;
  const account = await call<{ api_key: string }>(apiPort, ADMIN, '/v1/accounts', {
    name: `bench-${endpoints}-${total}-${Date.now()}`,
  });
  const key = account.api_key;
  for (let i = 0; i < endpoints; i++) {
    await call(apiPort, key, '/v1/webhooks', {
      url: `${receiver.url}?e=${i}`,
      events: ['call.ended'],
    });
  }
  const eventsNeeded = Math.ceil(total / endpoints);
  await receiver.reset();
  const started = performance.now();
  const batches: Promise<unknown>[] = [];
  for (let sent = 0; sent < eventsNeeded; sent += 1000) {
    const n = Math.min(1000, eventsNeeded - sent);
    const events = Array.from({ length: n }, () => ({ event: 'call.ended', data: DATA }));
    const accepted = call(apiPort, key, '/v1/events/batch', { events });
    if (shape === 'streaming') await accepted;
    else batches.push(accepted);
  }
  await Promise.all(batches);
  ingest?.({ acceptedMs: performance.now() - started, deliveredBy: receiver.count });
  await receiver.waitFor(eventsNeeded * endpoints);
  // Received is not done: wait until every attempt is recorded.
  for (;;) {
    const pending = await call<{ data: unknown[] }>(
      apiPort,
      key,
      '/v1/deliveries?status=pending&limit=1',
    );
    if (pending.data.length === 0) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return (eventsNeeded * endpoints) / ((performance.now() - started) / 1000);
}

/**
 * CPU seconds (user + system) a process has used so far, or one of its threads (`thread`, its
 * id; a process's main thread has the process's id); null off Linux.
 */
export function cpuSeconds(pid: number | undefined, thread?: number): number | null {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    const path = thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`;
    const stat = readFileSync(path, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}
