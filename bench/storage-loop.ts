// The storage side of delivery alone, in one process and one thread, so that its CPU per
// delivery can be compared across changes on a busy machine: publish a burst to N endpoints,
// then claim and record every attempt (all succeed) in the worker's pattern (a completion that
// claims the next batch in the same transaction), with the caps the service uses. Prints the
// CPU microseconds per delivery of publishing and of claiming plus recording.
//   node dist/bench/storage-loop.js [endpoints=10] [deliveries=20000] [runs=3]
// The endpoints share one origin, and the worker's bound per origin is the service's default
// (config.ts: 384 on SQLite, 512 on PostgreSQL); LOOP_PER_ORIGIN sets another, 0 none.
// LOOP_ENGINE=postgres runs it on a new database of the PostgreSQL server the tests use
// (RIZLER_TEST_POSTGRES_URL), and prints PostgreSQL's CPU per delivery beside this process's
// (every `postgres` process on the machine, so only meaningful on a quiet one).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage } from '../src/storage/sqlite/index.js';
import { PostgresStorage } from '../src/storage/postgres/index.js';
import type { Storage } from '../src/storage/index.js';
import { createTestDatabase } from '../test/helpers/postgres.js';
import { makeAccount, makeWebhook } from '../test/storage/fixtures.js';
import { cpuSeconds } from './context.js';
import { pidsNamed } from './measure.js';
import { REFILL_MARGIN } from '../src/worker/pipeline.js';
import { drain, publishBurst } from './worker-pattern.js';

const ENDPOINTS = Number(process.argv[2] ?? 10);
const TOTAL = Number(process.argv[3] ?? 20_000);
const RUNS = Number(process.argv[4] ?? 3);
const IN_FLIGHT = 4096;
/** Attempts recorded per completion (the service's flushes average about 40). */
const BATCH = Number(process.env.LOOP_BATCH ?? 100);
/** LOOP_CHECKPOINTS=thread: checkpoints on their own thread, as the service runs. */
const BACKGROUND = process.env.LOOP_CHECKPOINTS === 'thread';
const POSTGRES = process.env.LOOP_ENGINE === 'postgres';
const PER_ORIGIN = Number(process.env.LOOP_PER_ORIGIN ?? (POSTGRES ? 512 : 384));

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000; // ms
};

/**
 * PostgreSQL's CPU, ms: every `postgres` process (0 on SQLite), each with all it has used. Not
 * measure.ts's CpuMeter, which counts a process that starts during a measurement from its first
 * sample: the pool's backends start during the first publish, and their work there would go
 * uncounted.
 */
const serverCpu = () => {
  if (!POSTGRES) return 0;
  let ms = 0;
  for (const pid of pidsNamed('postgres')) ms += (cpuSeconds(pid) ?? 0) * 1000;
  return ms;
};

interface Figures {
  publish: number;
  deliver: number;
  serverPublish: number;
  serverDeliver: number;
}

/** A new store of the engine asked for, and how to be rid of it. */
async function openStore(): Promise<{ storage: Storage; dispose(): Promise<void> }> {
  if (POSTGRES) {
    const db = await createTestDatabase();
    const storage = new PostgresStorage(db.url);
    return { storage, dispose: () => db.drop() };
  }
  const dir = mkdtempSync(join(tmpdir(), 'rizler-storage-loop-'));
  const storage = new SqliteStorage(join(dir, 'loop.db'), { backgroundCheckpoints: BACKGROUND });
  return { storage, dispose: async () => rmSync(dir, { recursive: true, force: true }) };
}

async function run(): Promise<Figures> {
  const { storage, dispose } = await openStore();
  try {
    await storage.migrate();
    const account = await makeAccount(storage);
    for (let i = 0; i < ENDPOINTS; i++) await makeWebhook(storage, account.id);
    const events = Math.ceil(TOTAL / ENDPOINTS);
    const p0 = cpu();
    const s0 = serverCpu();
    await publishBurst(storage, account.id, events);
    const publish = cpu() - p0;
    const serverPublish = serverCpu() - s0;
    const d0 = cpu();
    const s1 = serverCpu();
    // The worker's shape: up to IN_FLIGHT attempts out (and PER_ORIGIN); the oldest BATCH
    // finish, are recorded, and the same transaction claims for their slots and a few more
    // (REFILL_MARGIN), as the service's completions do.
    const { delivered: done } = await drain(storage, {
      batch: BATCH,
      firstLimit: IN_FLIGHT,
      nextLimit: (recorded, inFlight) => Math.min(recorded + REFILL_MARGIN, IN_FLIGHT - inFlight),
      requestHeaders: { 'content-type': 'application/json' },
      ...(PER_ORIGIN > 0 ? { perOrigin: PER_ORIGIN } : {}),
    });
    const deliver = cpu() - d0;
    const serverDeliver = serverCpu() - s1;
    if (done !== events * ENDPOINTS) throw new Error(`delivered ${done} of ${events * ENDPOINTS}`);
    const each = (ms: number) => (ms * 1000) / done;
    return {
      publish: each(publish),
      deliver: each(deliver),
      serverPublish: each(serverPublish),
      serverDeliver: each(serverDeliver),
    };
  } finally {
    await storage.close();
    await dispose();
  }
}

const results = [];
for (let i = 0; i < RUNS; i++) results.push(await run());
const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' / ');
const server = POSTGRES
  ? `; PostgreSQL's: publish ${fmt(results.map((r) => r.serverPublish))}; claim + record ${fmt(results.map((r) => r.serverDeliver))}`
  : '';
console.log(
  `storage loop (${POSTGRES ? 'PostgreSQL' : 'SQLite'}), ${ENDPOINTS} endpoint(s), ${TOTAL} deliveries: CPU µs per delivery — publish ${fmt(results.map((r) => r.publish))}; claim + record ${fmt(results.map((r) => r.deliver))}${server}`,
);
