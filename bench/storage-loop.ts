// The storage side of delivery alone, in one process and one thread, so that its CPU per
// delivery can be compared across changes on a busy machine: publish a burst to N endpoints,
// then claim and record every attempt (all succeed) in the worker's pattern (a completion that
// claims the next batch in the same transaction), with the caps the service uses. Prints the
// CPU microseconds per delivery of publishing and of claiming plus recording.
//   node dist/bench/storage-loop.js [endpoints=10] [deliveries=20000] [runs=3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage } from '../src/storage/sqlite/index.js';
import { makeAccount, makeWebhook } from '../test/storage/fixtures.js';
import { drain, publishBurst } from './worker-pattern.js';

const ENDPOINTS = Number(process.argv[2] ?? 10);
const TOTAL = Number(process.argv[3] ?? 20_000);
const RUNS = Number(process.argv[4] ?? 3);
const IN_FLIGHT = 4096;
/** Attempts recorded per completion (the service's flushes average about 40). */
const BATCH = Number(process.env.LOOP_BATCH ?? 100);
/** LOOP_CHECKPOINTS=thread: checkpoints on their own thread, as the service runs. */
const BACKGROUND = process.env.LOOP_CHECKPOINTS === 'thread';

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000; // ms
};

async function run(): Promise<{ publish: number; deliver: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'rizler-storage-loop-'));
  const storage = new SqliteStorage(join(dir, 'loop.db'), { backgroundCheckpoints: BACKGROUND });
  try {
    await storage.migrate();
    const account = await makeAccount(storage);
    for (let i = 0; i < ENDPOINTS; i++) await makeWebhook(storage, account.id);
    const events = Math.ceil(TOTAL / ENDPOINTS);
    const p0 = cpu();
    await publishBurst(storage, account.id, events);
    const publish = cpu() - p0;
    const d0 = cpu();
    // The worker's shape: up to IN_FLIGHT attempts out; the oldest BATCH finish, are recorded,
    // and the same transaction claims what their slots allow.
    const { delivered: done } = await drain(storage, {
      batch: BATCH,
      firstLimit: IN_FLIGHT,
      nextLimit: (_recorded, inFlight) => IN_FLIGHT - inFlight,
      requestHeaders: { 'content-type': 'application/json' },
    });
    const deliver = cpu() - d0;
    if (done !== events * ENDPOINTS) throw new Error(`delivered ${done} of ${events * ENDPOINTS}`);
    return { publish: (publish * 1000) / done, deliver: (deliver * 1000) / done };
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
for (let i = 0; i < RUNS; i++) results.push(await run());
const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' / ');
console.log(
  `storage loop, ${ENDPOINTS} endpoint(s), ${TOTAL} deliveries: CPU µs per delivery — publish ${fmt(results.map((r) => r.publish))}; claim + record ${fmt(results.map((r) => r.deliver))}`,
);
