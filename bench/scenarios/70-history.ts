// Big history: stats and deletes after a million deliveries to one endpoint (SQLite).
//  - setup: an API-only `serve` makes the account and the endpoint; then the deliveries are put
//    in through the storage contract in this process (publish, claim, complete, 5,000 at a
//    time, spread over the last 7 days), not over HTTP; the rate is reported;
//  - stats: `serve` with its worker on the file; GET /v1/webhooks/:id/stats for 1h, 24h and 7d
//    (10 calls each after a warm-up: median and slowest), ten 24h calls at once (the slowest of
//    3 rounds), and the service's resident memory before and after them all;
//  - delete: another account's endpoint gets one event every 50 ms; after 5 s the big endpoint
//    is deleted (the answer's time), and publishing goes on until the background purge of its
//    history is done (or BENCH_HISTORY_PURGE_BUDGET_S, default 300 s). Publish → arrival
//    latency of the other endpoint before the delete and during the purge.
// BENCH_HISTORY sets the number of deliveries (default 1,000,000).
import { readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStorage } from '../../src/storage/sqlite/index.js';
import { recordHistory } from '../../test/helpers/history.js';
import { call, startService, stopService, type BenchContext, type Row } from '../context.js';
import { startCountingReceiver } from '../receiver.js';
import { addEndpoint, createAccount, percentile, publishOne } from '../support.js';

const SIZE = Number(process.env.BENCH_HISTORY ?? 1_000_000);
const PURGE_BUDGET_MS = Number(process.env.BENCH_HISTORY_PURGE_BUDGET_S ?? 300) * 1000;
const DAY = 86_400_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function rssMiB(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

async function timed<T>(work: () => Promise<T>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

export default async function history(ctx: BenchContext): Promise<Row[]> {
  const db = join(ctx.dir, 'history.db');
  const url = `sqlite:${db}`;
  const receiver = await startCountingReceiver({ recordArrivals: true });
  const rows: Row[] = [];
  try {
    // The account and the endpoint, by the API, with no worker to race the fill.
    const setup = await startService(url, { RIZLER_RUN_WORKER: 'false' });
    const key = await createAccount(setup.port, 'bench-history');
    const bigId = await addEndpoint(setup.port, key, `${receiver.url}?big`);
    const me = await call<{ id: string }>(setup.port, key, '/v1/account');
    await stopService(setup);

    // A million deliveries through the storage contract.
    const storage = new SqliteStorage(db);
    await storage.migrate();
    const t0 = Date.now() - 7 * DAY + 10 * 60_000;
    const span = 7 * DAY - 20 * 60_000;
    const filled = await timed(() =>
      recordHistory(storage, {
        accountId: me.id,
        count: SIZE,
        at: (i) => t0 + Math.floor((i / SIZE) * span),
        durationMs: (i) => 3 + ((i * 7919) % 200),
        succeeded: (i) => i % 50 !== 0,
        batch: 5000,
      }),
    );
    await storage.close();
    const size = SIZE.toLocaleString('en-US');
    rows.push({
      name: `history: ${size} deliveries recorded through the storage contract`,
      value: SIZE / (filled / 1000),
      unit: 'deliveries/s',
      note: `publish + claim + complete, 5,000 per transaction, with rollups; ${(filled / 1000).toFixed(0)} s`,
    });

    const service = await startService(url, { RIZLER_POLL_INTERVAL: '50ms' });
    try {
      const pid = service.child.pid;
      const stats = (window: string) =>
        call(service.port, key, `/v1/webhooks/${bigId}/stats?window=${window}`);
      const rssBefore = rssMiB(pid);
      for (const window of ['1h', '24h', '7d']) {
        await stats(window);
        const times: number[] = [];
        for (let i = 0; i < 10; i++) times.push(await timed(() => stats(window)));
        times.sort((a, b) => a - b);
        rows.push({
          name: `history: stats ${window} after ${size} deliveries (median)`,
          value: percentile(times, 50),
          unit: 'ms',
          note: `slowest of 10: ${times[times.length - 1]!.toFixed(1)} ms; goal ≤ 50 ms`,
        });
      }
      let parallel = 0;
      for (let round = 0; round < 3; round++) {
        parallel = Math.max(
          parallel,
          await timed(() => Promise.all(Array.from({ length: 10 }, () => stats('24h')))),
        );
      }
      const list = await timed(() => call(service.port, key, '/v1/webhooks/stats?window=24h'));
      const rssAfter = rssMiB(pid);
      rows.push({
        name: 'history: ten 24h stats at once',
        value: parallel,
        unit: 'ms',
        note: `slowest of 3 rounds; goal ≤ 200 ms; GET /v1/webhooks/stats took ${list.toFixed(1)} ms`,
      });
      rows.push({
        name: 'history: service memory across the stats calls',
        value: rssAfter - rssBefore,
        unit: 'MiB',
        note: `VmRSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MiB (the old code grew ~36 MB at 100,000)`,
      });

      // Delete during delivery.
      const otherKey = await createAccount(service.port, 'bench-history-other');
      await addEndpoint(service.port, otherKey, receiver.url);
      const published: { id: string; started: number }[] = [];
      let publishing = true;
      const publisher = (async () => {
        const begin = performance.now();
        for (let i = 0; publishing; i++) {
          const wait = begin + i * 50 - performance.now();
          if (wait > 0) await sleep(wait);
          const started = performance.now();
          const id = await publishOne(service.port, otherKey);
          published.push({ id, started });
        }
      })();
      await sleep(5000);
      const deleteAt = performance.now();
      const deleteMs = await timed(() =>
        fetch(`http://127.0.0.1:${service.port}/v1/webhooks/${bigId}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${key}` },
        }),
      );
      const reader = new Database(db, { readonly: true });
      let purgeMs = NaN;
      try {
        for (;;) {
          await sleep(250);
          const left = reader.prepare('SELECT count(*) AS n FROM deleted_owners').get() as {
            n: number;
          };
          if (left.n === 0) {
            purgeMs = performance.now() - deleteAt;
            break;
          }
          if (performance.now() - deleteAt > PURGE_BUDGET_MS) break;
        }
      } finally {
        reader.close();
      }
      publishing = false;
      await publisher;
      const deadline = Date.now() + 30_000;
      while (published.some((p) => !receiver.arrivals.has(p.id)) && Date.now() < deadline)
        await sleep(10);
      const latency = (list: typeof published) =>
        list
          .map((p) => (receiver.arrivals.get(p.id) ?? Infinity) - p.started)
          .sort((a, b) => a - b);
      const before = latency(published.filter((p) => p.started < deleteAt));
      const during = latency(published.filter((p) => p.started >= deleteAt));
      rows.push({
        name: `history: DELETE of the endpoint with ${size} deliveries`,
        value: deleteMs,
        unit: 'ms',
        note: 'goal ≤ 100 ms',
      });
      rows.push({
        name: 'history: another endpoint during the purge, publish → arrival p99',
        value: percentile(during, 99),
        unit: 'ms',
        note: `p50 ${percentile(during, 50).toFixed(1)}, max ${during[during.length - 1]?.toFixed(1)} ms over ${during.length} events (one per 50 ms); before the delete p50 ${percentile(before, 50).toFixed(1)}, p99 ${percentile(before, 99).toFixed(1)} ms; purge ${Number.isNaN(purgeMs) ? `not done in ${PURGE_BUDGET_MS / 1000} s` : `done in ${(purgeMs / 1000).toFixed(0)} s`}; goal p99 ≤ 50 ms; load average ${loadavg()[0]!.toFixed(1)}`,
      });
    } finally {
      await stopService(service);
    }
    return rows;
  } finally {
    await receiver.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
  }
}
