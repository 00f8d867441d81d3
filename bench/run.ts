// `npm run bench`: figures from this machine, printed as a table and written as JSON to
// bench-results/latest.json. Never asserted in tests.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { startProcess, type ServiceProcess } from '../test/helpers/process.js';
import { bareUndiciRate } from './bare-undici.js';
import { startCountingReceiver, type CountingReceiver } from './receiver.js';

const ADMIN = 'bench-admin-token';
const DATA = { call_id: 'call_123456', agent_id: 'agent_789', duration: 180, status: 'completed' };
const BODY = JSON.stringify({
  id: 'evt_bench',
  event: 'call.ended',
  timestamp: new Date().toISOString(),
  data: DATA,
});

interface Row {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

async function call<T>(port: number, key: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function startService(
  databaseUrl: string,
  extra: Record<string, string> = {},
): Promise<ServiceProcess> {
  return startProcess(
    ['serve'],
    {
      RIZLER_DATABASE_URL: databaseUrl,
      RIZLER_ADMIN_TOKEN: ADMIN,
      RIZLER_ALLOW_PRIVATE_NETWORKS: 'true',
      RIZLER_ENDPOINT_RATE_LIMIT: '100000000',
      RIZLER_PUBLISH_RATE_LIMIT: '',
      RIZLER_API_RATE_LIMIT: '1000000',
      RIZLER_LOG_LEVEL: 'info',
      ...extra,
    },
    20_000,
    process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [],
  );
}

/** Publishes `total` events in batches and times publish → received → every attempt recorded. */
async function endToEnd(
  service: ServiceProcess,
  receiver: CountingReceiver,
  endpoints: number,
  total: number,
): Promise<number> {
  const account = await call<{ api_key: string }>(service.port, ADMIN, '/v1/accounts', {
    name: `bench-${endpoints}-${total}`,
  });
  const key: string = account.api_key;
  for (let i = 0; i < endpoints; i++) {
    await call(service.port, key, '/v1/webhooks', {
      url: `${receiver.url}?e=${i}`,
      events: ['call.ended'],
    });
  }
  const eventsNeeded = Math.ceil(total / endpoints);
  receiver.reset();
  const started = performance.now();
  const batches: Promise<unknown>[] = [];
  for (let sent = 0; sent < eventsNeeded; sent += 1000) {
    const n = Math.min(1000, eventsNeeded - sent);
    batches.push(
      call(service.port, key, '/v1/events/batch', {
        events: Array.from({ length: n }, () => ({ event: 'call.ended', data: DATA })),
      }),
    );
  }
  await Promise.all(batches);
  await receiver.waitFor(eventsNeeded * endpoints);
  // Received is not done: wait until every attempt is recorded.
  for (;;) {
    const pending = await call<{ data: unknown[] }>(
      service.port,
      key,
      '/v1/deliveries?status=pending&limit=1',
    );
    if (pending.data.length === 0) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return (eventsNeeded * endpoints) / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const receiver = await startCountingReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'rizler-bench-'));
  const total = Number(process.env.BENCH_DELIVERIES ?? 20_000);
  try {
    // Warm the receiver and the JIT, then measure the ceiling.
    await bareUndiciRate(receiver.url, BODY, 2_000, 64);
    const ceiling = await bareUndiciRate(receiver.url, BODY, total, 64);
    rows.push({ name: 'bare undici loop (64 in flight)', value: ceiling, unit: 'req/s' });

    const sqlite = await startService(`sqlite:${join(dir, 'bench.db')}`);
    try {
      await endToEnd(sqlite, receiver, 1, 2_000); // warm-up
      const one = await endToEnd(sqlite, receiver, 1, total);
      rows.push({ name: 'SQLite end to end, 1 endpoint', value: one, unit: 'deliveries/s' });
      rows.push({
        name: 'ratio to bare undici, 1 endpoint',
        value: one / ceiling,
        unit: '',
        note: 'goal ≥ 0.5',
      });
      const ten = await endToEnd(sqlite, receiver, 10, total);
      rows.push({ name: 'SQLite end to end, 10 endpoints', value: ten, unit: 'deliveries/s' });
      rows.push({
        name: 'ratio to bare undici, 10 endpoints',
        value: ten / ceiling,
        unit: '',
        note: 'goal ≥ 0.5',
      });
    } finally {
      sqlite.kill('SIGTERM');
      await sqlite.exited;
    }
  } finally {
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(`\nRizler Webhooks bench — ${machine}\n`);
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    const value = r.unit === '' ? r.value.toFixed(2) : Math.round(r.value).toLocaleString('en-US');
    console.log(
      `${r.name.padEnd(width)}  ${value.padStart(10)} ${r.unit}${r.note ? `   (${r.note})` : ''}`,
    );
  }
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    join('bench-results', 'latest.json'),
    JSON.stringify({ machine, date: new Date().toISOString(), total, rows }, null, 2) + '\n',
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
