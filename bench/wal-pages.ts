// Which B-trees the SQLite worker's completions write, page by page: publish a burst to N
// endpoints, then claim and record every attempt in the worker's pattern (worker-pattern.ts,
// with request headers the size the sender's), while a reader holds the WAL so that no
// checkpoint can start it over. Then it reads the page number of every frame the completions
// appended and names each page's table or index through `dbstat`. A commit writes every page
// it dirtied, whole (about 11 µs a frame in the service), so frames per delivery is what a
// change to the write path should bring down.
//   node dist/bench/wal-pages.js [endpoints=10] [deliveries=10000] [batch=40]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStorage } from '../src/storage/sqlite/index.js';
import { makeAccount, makeWebhook, nextId } from '../test/storage/fixtures.js';
import { REFILL_MARGIN } from '../src/worker/pipeline.js';
import { drain, publishBurst } from './worker-pattern.js';

const ENDPOINTS = Number(process.argv[2] ?? 10);
const TOTAL = Number(process.argv[3] ?? 10_000);
const BATCH = Number(process.argv[4] ?? 40);

/** Headers of the size the sender records (signatures, ids, timestamp). */
const HEADERS: Record<string, string> = {
  'content-type': 'application/json',
  'user-agent': 'Rizler-Webhooks/0.1.0',
  'x-rizler-event': 'call.ended',
  'x-rizler-delivery': nextId('dlv'),
  'x-rizler-attempt': '1',
  'x-rizler-signature': `sha256=${'a'.repeat(64)}`,
  'webhook-id': nextId('evt'),
  'webhook-timestamp': '1700000000',
  'webhook-signature': `v1,${'b'.repeat(44)}`,
};

const dir = mkdtempSync(join(tmpdir(), 'rizler-wal-pages-'));
const path = join(dir, 'pages.db');
const storage = new SqliteStorage(path);
const reader = new Database(path);
try {
  await storage.migrate();
  const account = await makeAccount(storage);
  for (let i = 0; i < ENDPOINTS; i++) await makeWebhook(storage, account.id);
  await publishBurst(storage, account.id, Math.ceil(TOTAL / ENDPOINTS));
  // Everything so far into the database file; from here on the WAL only grows.
  reader.pragma('wal_checkpoint(TRUNCATE)');
  reader.prepare('BEGIN').run();
  reader.prepare('SELECT count(*) FROM accounts').get();
  // The worker's shape with the service's batch: each completion claims for its freed slots
  // and a few more (REFILL_MARGIN).
  const { delivered: done, completions } = await drain(storage, {
    batch: BATCH,
    firstLimit: 128 * ENDPOINTS,
    nextLimit: (recorded) => recorded + REFILL_MARGIN,
    requestHeaders: HEADERS,
  });
  reader.prepare('COMMIT').run();

  // Each frame: a 24-byte header whose first 4 bytes are the page number, then the page.
  const wal = readFileSync(`${path}-wal`);
  const pageSize = wal.readUInt32BE(8);
  const framesOf = new Map<number, number>();
  let frames = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    const page = wal.readUInt32BE(at);
    framesOf.set(page, (framesOf.get(page) ?? 0) + 1);
    frames++;
  }
  const nameOf = new Map<number, string>();
  for (const row of reader.prepare('SELECT name, pageno, pagetype FROM dbstat').all() as {
    name: string;
    pageno: number;
    pagetype: string;
  }[]) {
    nameOf.set(row.pageno, row.pagetype === 'internal' ? `${row.name} (interior)` : row.name);
  }
  const byName = new Map<string, { frames: number; pages: number }>();
  for (const [page, n] of framesOf) {
    const name = nameOf.get(page) ?? 'free or new';
    const entry = byName.get(name) ?? { frames: 0, pages: 0 };
    entry.frames += n;
    entry.pages++;
    byName.set(name, entry);
  }
  console.log(
    `${ENDPOINTS} endpoint(s), ${done} deliveries in ${completions} completions of ${BATCH}: ` +
      `${frames} WAL frames, ${(frames / done).toFixed(2)} a delivery, ${(frames / completions).toFixed(1)} a completion`,
  );
  for (const [name, e] of [...byName].sort((a, b) => b[1].frames - a[1].frames)) {
    console.log(
      `${(e.frames / completions).toFixed(1).padStart(7)} frames a completion  ${String(e.pages).padStart(6)} pages  ${name}`,
    );
  }
} finally {
  reader.close();
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
}
