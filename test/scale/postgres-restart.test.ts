// PostgreSQL-only: the database stops for 5 s under load and starts again. SQLite is a file
// inside the process, so it has no outage of its own to survive.
//
// This file runs its own temporary PostgreSQL cluster: stopping the machine's shared one would
// break every other test file running in parallel. `initdb` refuses to run as root, and the
// tests run as root here, so the cluster belongs to the `postgres` OS user: its folder is
// chowned to it and initdb/pg_ctl run through `runuser -u postgres --` (run as any other user,
// they are called directly). Binaries: /usr/lib/postgresql/15/bin, or PG_BIN. The cluster is
// stopped and its folder deleted in afterAll, whatever happened.
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import {
  api,
  attemptsOf,
  createWebhook,
  DATA,
  noneLeftPending,
  startTopology,
  until,
  type Answer,
  type Topology,
} from './topology.js';

const run = promisify(execFile);
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const OUTAGE_MS = 5_000;

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A throwaway cluster on 127.0.0.1:port, owned by the postgres OS user when we are root. */
class TemporaryCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'rizler-pg-'));
  readonly data = join(this.dir, 'data');
  private readonly asRoot = userInfo().uid === 0;
  constructor(readonly port: number) {
    if (this.asRoot) {
      // getent is there wherever runuser is, and the postgres user wherever PostgreSQL is.
      const entry = execFileSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' });
      const [, , uid, gid] = entry.split(':');
      chownSync(this.dir, Number(uid), Number(gid));
    }
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/rizler`;
  }

  private tool(name: string, args: string[]) {
    const file = join(PG_BIN, name);
    return this.asRoot
      ? run('runuser', ['-u', 'postgres', '--', file, ...args], { timeout: 60_000 })
      : run(file, args, { timeout: 60_000 });
  }

  async init(): Promise<void> {
    // -N: no fsync of the new files; this cluster lives for one test.
    await this.tool('initdb', ['-D', this.data, '-A', 'trust', '-U', 'postgres', '-N']);
    await this.start();
    const admin = new pg.Client({ connectionString: this.url.replace(/rizler$/, 'postgres') });
    await admin.connect();
    await admin.query('CREATE DATABASE rizler');
    await admin.end();
  }

  start() {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`;
    return this.tool('pg_ctl', [
      '-D',
      this.data,
      '-o',
      options,
      '-l',
      join(this.dir, 'log'),
      '-w',
      'start',
    ]);
  }

  stop(mode: 'fast' | 'immediate' = 'fast') {
    return this.tool('pg_ctl', ['-D', this.data, '-m', mode, '-w', 'stop']);
  }

  async remove(): Promise<void> {
    await this.stop('immediate').catch(() => undefined); // already stopped, or never started
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Publishes a batch of 20 events every 50 ms until stopped, and keeps every answer. */
function startLoad(nodes: Topology) {
  const accepted: string[] = [];
  const answers: { at: number; status: number; ms: number; code?: string }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const events = Array.from({ length: 20 }, () => ({ event: 'call.ended', data: DATA }));
      const at = Date.now();
      let answer: Answer;
      try {
        answer = await api(nodes.api.port, nodes.key, '/v1/events/batch', { events }, 10_000);
      } catch (err) {
        answers.push({ at, status: 0, ms: Date.now() - at, code: String(err) });
        continue;
      }
      answers.push({ at, status: answer.status, ms: answer.ms, code: answer.body?.error?.code });
      if (answer.status === 202)
        accepted.push(...answer.body.data.map((e: { id: string }) => e.id));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    accepted,
    answers,
    async stop() {
      running = false;
      await loop;
    },
  };
}

describe('PostgreSQL stopping for 5 s under load', () => {
  let cluster: TemporaryCluster;
  let receiver: Receiver;
  let nodes: Topology | undefined;

  beforeAll(async () => {
    cluster = new TemporaryCluster(await freePort());
    await cluster.init();
    receiver = await startReceiver();
  }, 60_000);

  afterAll(async () => {
    await nodes?.stop();
    await receiver?.close();
    await cluster?.remove();
  }, 60_000);

  it('answers 503 at once while it is down, then delivers every accepted event', async () => {
    // A `serve` that also runs a worker, and a worker node: both kinds must come back.
    // Each node at most 8 in flight, half the endpoint's cap: with a backlog, each always has
    // room for its share. Without it, one node's hand-offs and refills may hold all 16 slots
    // while the other comes back from its outage's backoff, and it finds none to deliver (one
    // full local run in session 40: a node with no attempt after the restart, every event
    // delivered by the other).
    nodes = await startTopology(
      cluster.url,
      1,
      {
        RIZLER_POLL_INTERVAL: '500ms',
        RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT: '16',
        RIZLER_MAX_IN_FLIGHT: '8',
      },
      { RIZLER_RUN_WORKER: 'true' },
    );
    const [worker] = nodes.workers;
    // 16 in flight of 50 ms each: about 320 deliveries/s, a little less than the load publishes,
    // so attempts are in flight and a backlog waits when the database goes.
    receiver.respondWith(() => ({ status: 200, delayMs: 50 }));
    await createWebhook(nodes, receiver.url, ['call.ended']);
    const load = startLoad(nodes);

    await until(
      () => load.accepted.length >= 1000,
      20_000,
      () => `${load.accepted.length} accepted`,
    );
    const backlog = load.accepted.length - receiver.requests.length;
    await cluster.stop('fast');
    const stoppedAt = Date.now();
    expect(backlog).toBeGreaterThan(0);

    // While it is down: 503 service_unavailable with Retry-After, promptly, on every path.
    const probes: Record<string, Answer> = {
      publish: await api(nodes.api.port, nodes.key, '/v1/events', {
        event: 'call.ended',
        data: DATA,
      }),
      list: await api(nodes.api.port, nodes.key, '/v1/webhooks'),
      apiReady: await api(nodes.api.port, '', '/readyz'),
      workerReady: await api(worker!.port, '', '/readyz'),
    };
    for (const [name, answer] of Object.entries(probes)) {
      expect({ name, status: answer.status, code: answer.body?.error?.code }).toEqual({
        name,
        status: 503,
        code: 'service_unavailable',
      });
      expect(answer.ms, name).toBeLessThan(2_000);
    }
    for (const answer of Object.values(probes)) {
      expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
    }
    // One /readyz (src/http/operations.ts): the worker's answer is the API's.
    expect(probes.workerReady!.body).toEqual(probes.apiReady!.body);
    // Alive all the same: liveness does not depend on the database.
    expect((await api(nodes.api.port, '', '/healthz')).status).toBe(200);
    expect((await api(worker!.port, '', '/healthz')).status).toBe(200);

    await new Promise((r) => setTimeout(r, stoppedAt + OUTAGE_MS - Date.now()));
    const acceptedBeforeRestart = load.accepted.length;
    const attemptsBeforeRestart = await Promise.all([nodes.api, worker!].map(attemptsOf));
    // Down until here for sure (pg_ctl start reports "ready" a little after it is).
    const restartedAt = Date.now();
    await cluster.start();
    await until(
      () => load.accepted.length >= acceptedBeforeRestart + 1000,
      20_000,
      () => `${load.accepted.length - acceptedBeforeRestart} accepted since the restart`,
    );
    await load.stop();

    // Every answer was 202 or 503 (never a 500, never a hang), and the outage answered 503.
    const statuses = new Set(load.answers.map((a) => a.status));
    expect([...statuses].sort()).toEqual([202, 503]);
    const during = load.answers.filter((a) => a.at >= stoppedAt && a.at + a.ms < restartedAt);
    expect(during.length).toBeGreaterThan(10);
    for (const a of during) {
      expect(a).toMatchObject({ status: 503, code: 'service_unavailable' });
      expect(a.ms).toBeLessThan(2_000);
    }

    // Every event accepted before and after the outage arrives.
    const ids = new Set(load.accepted);
    const missing = () => {
      const received = new Set(receiver.requests.map((r) => String(r.headers['webhook-id'])));
      return [...ids].filter((id) => !received.has(id));
    };
    await until(
      () => missing().length === 0,
      30_000,
      () => `${missing().length} of ${ids.size} not delivered`,
    );
    await noneLeftPending(nodes);
    console.log(
      `${ids.size} accepted (${acceptedBeforeRestart} before the restart, ${backlog} not yet ` +
        `delivered at the stop), all delivered, ${receiver.requests.length - ids.size} twice; ` +
        `${during.length} publishes answered 503 during the outage, slowest in ` +
        `${Math.round(Math.max(...during.map((a) => a.ms)))} ms`,
    );

    // Nobody exited, both are ready again, and both workers (serve's own and the worker
    // node) went on delivering.
    const attemptsSinceRestart = (await Promise.all([nodes.api, worker!].map(attemptsOf))).map(
      (n, i) => n - attemptsBeforeRestart[i]!,
    );
    for (const [i, node] of [nodes.api, worker!].entries()) {
      expect(node.child.exitCode).toBeNull();
      expect(node.child.signalCode).toBeNull();
      expect((await api(node.port, '', '/readyz')).status).toBe(200);
      expect(attemptsSinceRestart[i]).toBeGreaterThan(0);
    }
    // And each LISTEN connection is back (the polling fallback covered the gap meanwhile).
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    try {
      await until(
        async () => {
          const { rows } = await admin.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'LISTEN rizler_wake'`,
          );
          return rows[0].n === 2;
        },
        30_000,
        () => 'both LISTEN connections back',
      );
    } finally {
      await admin.end();
    }
  }, 90_000);
});
