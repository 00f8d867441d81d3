// The database stops taking writes under a running server: the disk fills up (SQLite on a
// small tmpfs), or its files become read-only (immutable, which binds root too). Publishing
// answers 503 service_unavailable with Retry-After (never 500, never a 202 that is not kept),
// events accepted before stay, and once the disk has room again publishing works and every
// accepted event is delivered.
//
// Both need root (mount, chattr); where they are not permitted the suites are skipped, and the
// output says so and why (CI runs as root, so there they run).
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DATA,
  allDeliveries,
  api,
  apiKeyFrom,
  createEndpoints,
  useChaosServer,
  waitUntil,
  type ChaosServer,
} from './helpers.js';

/**
 * Why `work` cannot run here (a probe of what this sandbox permits), or null when it can. A
 * suite that cannot run is skipped with that reason printed, never silently.
 */
function refused(what: string, work: (dir: string) => void): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'rizler-probe-'));
  try {
    work(dir);
    return null;
  } catch (err) {
    const detail = String((err as Error).message).split('\n')[0];
    const reason = `${what} is not permitted here (${detail}); run as root to include this suite`;
    console.warn(`SKIPPED (test/chaos/disk-faults.test.ts): ${reason}`);
    return reason;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: 'pipe' });

const NO_MOUNT = refused('mounting a tmpfs', (dir) => {
  run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
  run('umount', [dir]);
});

const NO_CHATTR = refused('chattr +i', (dir) => {
  const file = join(dir, 'probe');
  writeFileSync(file, 'x');
  run('chattr', ['+i', file]);
  let refused = false;
  try {
    writeFileSync(file, 'y');
  } catch {
    refused = true;
  }
  run('chattr', ['-i', file]);
  if (!refused) throw new Error('chattr +i does not stop writes here');
});

/** Writes zeroes to `path` until the filesystem is full; returns the bytes written. */
function fillDisk(path: string): number {
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    for (const size of [1 << 20, 4096, 1]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** call.ended data with a filler field, to make an event of about `bytes`. */
/** Fast retries; batches of 50 × 100 kB events, over the 4 MiB default batch body limit. */
const SERVER_ENV = {
  RIZLER_RETRY_SCHEDULE: '100ms,200ms,300ms,500ms,1s,1s,1s',
  RIZLER_BATCH_BODY_LIMIT: '8MiB',
};

const bulky = (bytes: number) => ({ ...DATA, notes: 'n'.repeat(bytes) });

/** Starts the server with one endpoint and `count` events accepted, before any fault. */
async function startWithEvents(h: ChaosServer, count: number) {
  const server = await h.start();
  const key = apiKeyFrom(server.output());
  await createEndpoints(server.port, key, h.receiver.url, 1);
  const before = await publishBatch(server.port, key, count);
  expect(before.status).toBe(202);
  const accepted = new Set<string>(before.body.data.map((e: { id: string }) => e.id));
  return { server, key, accepted, before };
}

/** Publishes, then checks every accepted event reaches the endpoint and ends succeeded. */
async function expectAllDelivered(
  h: ChaosServer,
  port: number,
  key: string,
  accepted: Set<string>,
): Promise<void> {
  await waitUntil(
    'every accepted event received',
    () => {
      const seen = new Set(h.receiver.requests.map((r) => r.eventId));
      return [...accepted].every((id) => seen.has(id)) ? true : undefined;
    },
    30_000,
    100,
  );
  await waitUntil('no delivery pending', async () => {
    const pending = await api(port, key, '/v1/deliveries?status=pending&limit=1');
    return pending.body.data.length === 0 ? true : undefined;
  });
  expect(await allDeliveries(port, key, 'failed')).toEqual([]);
  const succeeded = new Set((await allDeliveries(port, key, 'succeeded')).map((d) => d.event_id));
  expect([...accepted].filter((id) => !succeeded.has(id))).toEqual([]);
}

async function publishBatch(port: number, key: string, n: number, data: object = DATA) {
  const events = Array.from({ length: n }, () => ({ event: 'call.ended', data }));
  return api(port, key, '/v1/events/batch', { events });
}

/** Once the disk is usable again: a publish is accepted, and everything accepted arrives. */
async function publishAgainAndDeliver(
  h: ChaosServer,
  port: number,
  key: string,
  accepted: Set<string>,
): Promise<void> {
  const after = await waitUntil('a publish accepted again', async () => {
    const res = await publishBatch(port, key, 100);
    return res.status === 202 ? res : undefined;
  });
  for (const e of after.body.data) accepted.add(e.id);
  await expectAllDelivered(h, port, key, accepted);
}

function expectUnavailable(res: { status: number; headers: Headers; body: any }): void {
  expect(res.status).toBe(503);
  expect(res.body.error.code).toBe('service_unavailable');
  expect(res.body.error.message).toEqual(expect.any(String));
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
}

describe.skipIf(NO_MOUNT !== null)(
  `a full disk under a running server (SQLite on a 24 MiB tmpfs)${NO_MOUNT ? `: skipped, ${NO_MOUNT}` : ''}`,
  () => {
    const h = useChaosServer({
      name: 'disk',
      env: SERVER_ENV,
      prepare: (dir) => {
        const mnt = join(dir, 'mnt');
        mkdirSync(mnt);
        run('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mnt]);
        return mnt;
      },
      release: (mnt) => {
        try {
          run('umount', [mnt]);
        } catch {
          run('umount', ['-l', mnt]); // still busy: detach now, freed when the last file closes
        }
      },
    });

    it('answers 503 while full, keeps what it accepted, and recovers when space is freed', async () => {
      const { server, key, accepted, before } = await startWithEvents(h, 300);

      const filler = join(h.dbDir, 'filler');
      expect(fillDisk(filler)).toBeGreaterThan(1 << 20);

      // A write that needs more room than is left cannot fit: 503, not 500, and nothing
      // half-stored. The WAL file may still have room from earlier traffic (the checkpointer
      // copies it back and it is reused), so the first writes may fit, and are then kept.
      const keepOrRefuse = async (
        publish: () => Promise<{ status: number; headers: Headers; body: any }>,
      ) => {
        const answers: number[] = [];
        for (let i = 0; i < 40 && !answers.includes(503); i++) {
          const res = await publish();
          answers.push(res.status);
          if (res.status !== 202) expectUnavailable(res);
          else for (const e of res.body.data ?? [res.body]) accepted.add(e.id);
        }
        expect(answers).toContain(503);
      };
      await keepOrRefuse(() => publishBatch(server.port, key, 50, bulky(100_000)));
      await keepOrRefuse(() =>
        api(server.port, key, '/v1/events', { event: 'call.ended', data: bulky(200_000) }),
      );
      // Small events may still fit in pages SQLite already holds; each answer is 202 (kept) or
      // 503, and the disk is soon too full for them as well.
      const answers: number[] = [];
      for (let i = 0; i < 200 && !answers.includes(503); i++) {
        const res = await publishBatch(server.port, key, 20);
        answers.push(res.status);
        if (res.status === 202) for (const e of res.body.data) accepted.add(e.id);
        else expectUnavailable(res);
      }
      expect(answers).toContain(503);

      // Reading still works: the events accepted before are there.
      const first = before.body.data[0].id as string;
      expect((await api(server.port, key, `/v1/events/${first}`)).status).toBe(200);

      // Space again: publishing works at once, and everything accepted is delivered.
      unlinkSync(filler);
      await publishAgainAndDeliver(h, server.port, key, accepted);

      // The process never died on the way.
      expect(server.child.exitCode).toBeNull();
    }, 60_000);
  },
);

describe.skipIf(NO_CHATTR !== null)(
  `a read-only database under a running server (chattr +i)${NO_CHATTR ? `: skipped, ${NO_CHATTR}` : ''}`,
  () => {
    let locked: string[] = [];
    const unlock = () => {
      if (locked.length > 0) run('chattr', ['-i', ...locked]);
      locked = [];
    };
    const h = useChaosServer({
      name: 'disk',
      env: SERVER_ENV,
      release: () => unlock(),
    });

    it('answers 503 while read-only, keeps what it accepted, and recovers', async () => {
      const { server, key, accepted, before } = await startWithEvents(h, 200);

      // The database, its WAL and the folder (no new files). Not the -shm file: SQLite writes
      // the WAL index through a shared memory map of it, and a page fault on a map of an
      // immutable file is SIGBUS, which no program survives (nor does it lose anything: that is
      // the kill -9 case). A filesystem remounted read-only after an I/O error does the same.
      locked = [
        ...readdirSync(h.dbDir)
          .filter((f) => !f.endsWith('-shm'))
          .map((f) => join(h.dbDir, f)),
        h.dbDir,
      ];
      run('chattr', ['+i', ...locked]);
      try {
        for (let i = 0; i < 5; i++) expectUnavailable(await publishBatch(server.port, key, 20));
        expectUnavailable(
          await api(server.port, key, '/v1/events', { event: 'call.ended', data: DATA }),
        );
        const first = before.body.data[0].id as string;
        expect((await api(server.port, key, `/v1/events/${first}`)).status).toBe(200);
      } finally {
        unlock();
      }

      await publishAgainAndDeliver(h, server.port, key, accepted);
      expect(server.child.exitCode).toBeNull();
    }, 60_000);
  },
);
