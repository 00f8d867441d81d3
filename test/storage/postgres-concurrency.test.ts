// Engine-only: scale-out across processes. Several PostgresStorage instances, each with its
// own pool (as separate processes or machines would have), work the same database at once.
// SQLite has one writer per file and one process behind it, so none of this can happen there;
// the shared contract suite (contract.test.ts) covers what both engines must do one call at
// a time.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type {
  ClaimRequest,
  ClaimedDelivery,
  Handoff,
  PublishedEvent,
  Storage,
} from '../../src/storage/index.js';
import { PostgresStorage } from '../../src/storage/postgres/index.js';
import { migrations } from '../../src/storage/postgres/migrations.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import {
  LEASE_MS,
  T,
  claim,
  claimRequest,
  complete,
  makeAccount,
  makeWebhook,
  nextId,
  publishMany,
  publishOne,
} from './fixtures.js';
import { storedHeaders } from '../../src/core/request-headers.js';

let db: TestDatabase;
let admin: pg.Client;
const open: Storage[] = [];

function instance(url = db.url): PostgresStorage {
  const storage = new PostgresStorage(url, { poolSize: 3 });
  open.push(storage);
  return storage;
}

function instances(n: number): PostgresStorage[] {
  return Array.from({ length: n }, () => instance());
}

/** `count` events, in publishes of at most 500. */
async function publishInChunks(storage: Storage, accountId: string, count: number): Promise<void> {
  for (let done = 0; done < count; done += 500) {
    await publishMany(storage, accountId, Math.min(500, count - done), { windowMs: 1 });
  }
}

/**
 * A worker's offer to a publish (PublishRequest.handoff), as DeliveryWorker.offer makes it, that
 * records what it is given in `taken`.
 */
function offerTo(
  taken: ClaimedDelivery[][],
  leaseToken: string,
  request: Partial<ClaimRequest> = {},
): Handoff {
  return {
    request: claimRequest(request.now ?? T, { leaseToken, limit: 10, ...request }),
    take: (leased) => taken.push(leased),
    release: () => {},
  };
}

beforeAll(async () => {
  db = await createTestDatabase();
  admin = new pg.Client({ connectionString: db.url, application_name: 'concurrency-admin' });
  await admin.connect();
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await admin.query(
    `DO $$ BEGIN
       IF to_regclass('deliveries') IS NOT NULL THEN
         TRUNCATE accounts, webhooks, events, deliveries, delivery_queue, attempts, delivery_rollups, deleted_owners;
       END IF;
     END $$`,
  );
});

afterAll(async () => {
  await admin?.end();
  await db?.drop();
});

describe('PostgreSQL across processes', () => {
  it('migrates exactly once when ten processes start at once', async () => {
    const fresh = await createTestDatabase();
    try {
      const starting = Array.from({ length: 10 }, () => instance(fresh.url));
      await Promise.all(starting.map((s) => s.migrate()));
      const check = new pg.Client({ connectionString: fresh.url });
      await check.connect();
      try {
        const { rows } = await check.query(
          'SELECT version, name FROM schema_migrations ORDER BY version',
        );
        expect(rows).toEqual(migrations.map((m) => ({ version: m.version, name: m.name })));
        const tables = await check.query(
          `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'
             AND tablename IN ('accounts', 'webhooks', 'events', 'deliveries', 'attempts')`,
        );
        expect(tables.rows[0].n).toBe(5);
      } finally {
        await check.end();
      }
      // And again, with the schema in place: nothing to do, nothing fails.
      await Promise.all(starting.map((s) => s.migrate()));
      await Promise.all(starting.map((s) => s.ping()));
    } finally {
      await Promise.all(open.splice(0).map((s) => s.close()));
      await fresh.drop();
    }
  });

  it('never hands the same delivery to two workers, with thousands due at once', async () => {
    const [setup, ...workers] = instances(5);
    await setup!.migrate();
    const account = await makeAccount(setup!);
    for (let i = 0; i < 8; i++) await makeWebhook(setup!, account.id);
    await publishInChunks(setup!, account.id, 500); // 4000 deliveries
    const total = 4000;

    const seen = new Map<string, number>();
    let seq = 0;
    // Two claim loops per instance, as a worker claiming while its completions are recorded.
    const loop = async (storage: Storage) => {
      for (;;) {
        const claimed = await storage.claimDue({
          leaseToken: `w${++seq}`,
          limit: 50,
          leaseMs: 10 * LEASE_MS,
          now: T + 1,
          maxInFlightPerEndpoint: 10_000,
          defaultRateLimitPerMinute: 1_000_000,
        });
        if (claimed.length === 0) return;
        for (const c of claimed) seen.set(c.deliveryId, (seen.get(c.deliveryId) ?? 0) + 1);
        await storage.completeAttempts(
          claimed.map((c) => ({
            claim: c,
            outcome: { kind: 'succeeded' },
            endpointGone: false,
            attempt: {
              deliveryId: c.deliveryId,
              attempt: c.attempt,
              trigger: c.trigger,
              url: c.url,
              startedAt: T + 2,
              durationMs: 1,
              statusCode: 200,
              responseBody: null,
              error: null,
              requestHeaders: storedHeaders({}),
            },
          })),
          { now: T + 3, autoDisableAfterMs: LEASE_MS },
        );
      }
    };
    await Promise.all(workers.flatMap((w) => [loop(w), loop(w)]));

    expect(seen.size).toBe(total);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    const { rows } = await admin.query(
      `SELECT count(*)::int AS attempts, count(DISTINCT delivery_id)::int AS deliveries FROM attempts`,
    );
    expect(rows[0]).toEqual({ attempts: total, deliveries: total });
    const left = await admin.query(
      `SELECT count(*)::int AS n FROM deliveries WHERE status <> 'succeeded'`,
    );
    expect(left.rows[0].n).toBe(0);
  });

  it('holds the per-endpoint in-flight cap across instances', async () => {
    const [setup, ...workers] = instances(5);
    await setup!.migrate();
    const account = await makeAccount(setup!);
    const busy = await makeWebhook(setup!, account.id);
    await publishInChunks(setup!, account.id, 300);
    const cap = 5;
    const claimAll = async (now: number) => {
      const got = await Promise.all(
        workers.flatMap((w) =>
          [0, 1].map(() =>
            w.claimDue({
              leaseToken: nextId('lease'),
              limit: 20,
              leaseMs: 10 * LEASE_MS,
              now,
              maxInFlightPerEndpoint: cap,
              defaultRateLimitPerMinute: 1_000_000,
            }),
          ),
        ),
      );
      return got.flat();
    };

    // Nothing completes, no lease runs out: however many claims race, only `cap` are out.
    const first: ClaimedDelivery[] = [];
    for (let round = 0; round < 3; round++) first.push(...(await claimAll(T + 1 + round)));
    expect(first).toHaveLength(cap);
    expect(new Set(first.map((c) => c.deliveryId)).size).toBe(cap);
    expect(first.every((c) => c.webhookId === busy.id)).toBe(true);

    // Finished attempts, recorded by different instances at once, free exactly their slots.
    await Promise.all(
      first.map((c, i) =>
        complete(workers[i % workers.length]!, c, { kind: 'succeeded' }, { now: T + 10 }),
      ),
    );
    const second: ClaimedDelivery[] = [];
    for (let round = 0; round < 3; round++) second.push(...(await claimAll(T + 11 + round)));
    expect(second).toHaveLength(cap);
    const leased = await admin.query(
      `SELECT count(*)::int AS n FROM delivery_queue WHERE lease_token IS NOT NULL AND due_at > $1`,
      [T + 20],
    );
    expect(leased.rows[0].n).toBe(cap);
  });

  it('holds the per-endpoint rate limit across instances', async () => {
    const [setup, ...workers] = instances(5);
    await setup!.migrate();
    const account = await makeAccount(setup!);
    await makeWebhook(setup!, account.id, { rateLimitPerMinute: 30 });
    await publishInChunks(setup!, account.id, 200);
    const got = await Promise.all(
      workers.flatMap((w) =>
        [0, 1, 2].map(() =>
          w.claimDue({
            leaseToken: nextId('lease'),
            limit: 50,
            leaseMs: 10 * LEASE_MS,
            now: T + 1,
            maxInFlightPerEndpoint: 1000,
            defaultRateLimitPerMinute: 1000,
          }),
        ),
      ),
    );
    // A full bucket holds one minute's worth: 30, whoever takes them.
    expect(got.flat()).toHaveLength(30);
    const attempts = await admin.query('SELECT count(*)::int AS n FROM attempts');
    expect(attempts.rows[0].n).toBe(0);
  });

  it('passes over an endpoint another transaction holds, and leaves its deliveries due', async () => {
    const [setup, worker] = instances(2);
    await setup!.migrate();
    const account = await makeAccount(setup!);
    const held = await makeWebhook(setup!, account.id, { events: ['call.*'] });
    const free = await makeWebhook(setup!, account.id, { events: ['agent.*'] });
    for (let i = 0; i < 3; i++) await publishOne(setup!, account.id, 'call.ended');
    for (let i = 0; i < 2; i++) await publishOne(setup!, account.id, 'agent.created');

    // Another worker's claim (or a completion) has the endpoint: this claim does not wait
    // for it (were it to, it would fail on the statement timeout, since the lock is let go
    // only after the claim returns), and takes the other endpoint's.
    await admin.query('BEGIN');
    try {
      await admin.query('SELECT 1 FROM webhooks WHERE id = $1 FOR NO KEY UPDATE', [held.id]);
      const first = await claim(worker!, T + 1);
      expect(first.map((c) => c.webhookId)).toEqual([free.id, free.id]);
    } finally {
      await admin.query('COMMIT');
    }
    // Passed over, not parked as a gone endpoint's would be: all three are still due.
    const second = await claim(worker!, T + 2);
    expect(second.map((c) => c.webhookId)).toEqual([held.id, held.id, held.id]);
  });

  it("passes a publish's hand-off over an endpoint another transaction holds", async () => {
    const [setup, api] = instances(2);
    await setup!.migrate();
    const account = await makeAccount(setup!);
    const held = await makeWebhook(setup!, account.id, { events: ['call.*'] });
    const free = await makeWebhook(setup!, account.id, { events: ['agent.*'] });
    const taken: ClaimedDelivery[][] = [];
    const handoff = (leaseToken: string) => offerTo(taken, leaseToken);
    // A claim (or a completion) of another process has the endpoint: the publish does not wait
    // for it, and its delivery there stays due, for the claims; the other endpoint's is taken.
    await admin.query('BEGIN');
    let call: PublishedEvent;
    try {
      await admin.query('SELECT 1 FROM webhooks WHERE id = $1 FOR NO KEY UPDATE', [held.id]);
      call = await publishOne(api!, account.id, 'call.ended', { handoff: handoff('h-1') });
      const agent = await publishOne(api!, account.id, 'agent.created', {
        handoff: handoff('h-2'),
      });
      expect(taken).toEqual([[], [expect.objectContaining({ eventId: agent.event.id })]]);
      expect(taken[1]!.map((c) => [c.webhookId, c.leaseToken])).toEqual([[free.id, 'h-2']]);
    } finally {
      await admin.query('COMMIT');
    }
    const rest = await claim(setup!, T + 1);
    expect(rest.map((c) => [c.eventId, c.webhookId])).toEqual([[call.event.id, held.id]]);
  });

  it("holds the in-flight cap between a publish's hand-off and the claims of other processes", async () => {
    const [setup, api, worker] = instances(3);
    await setup!.migrate();
    const account = await makeAccount(setup!);
    await makeWebhook(setup!, account.id);
    const cap = 3;
    // Another process's claim leases two of the cap's three...
    await publishMany(setup!, account.id, 2, { now: T });
    expect(await claim(worker!, T, { maxInFlightPerEndpoint: cap })).toHaveLength(2);
    // ...so a hand-off of five fresh deliveries takes the one slot left and leaves four due.
    const taken: ClaimedDelivery[][] = [];
    await publishMany(api!, account.id, 5, {
      now: T + 1,
      handoff: offerTo(taken, 'h-1', { now: T + 1, maxInFlightPerEndpoint: cap }),
    });
    expect(taken.map((t) => t.length)).toEqual([1]);
    expect(await claim(worker!, T + 2, { maxInFlightPerEndpoint: cap })).toEqual([]);
    const leased = await admin.query(
      'SELECT count(*)::int AS n FROM delivery_queue WHERE lease_token IS NOT NULL',
    );
    expect(leased.rows[0].n).toBe(cap);
    expect(await claim(worker!, T + 2, { maxInFlightPerEndpoint: 100 })).toHaveLength(4);
  });

  it("keeps a hand-off behind its endpoint's backlog when another claim has it locked", async () => {
    const [setup, api] = instances(2);
    await setup!.migrate();
    const account = await makeAccount(setup!);
    await makeWebhook(setup!, account.id);
    const [backlog] = await publishMany(setup!, account.id, 1, { now: T - 10 });
    const taken: ClaimedDelivery[][] = [];
    const offer = (leaseToken: string) => offerTo(taken, leaseToken);
    // Another claim is reading the backlog's queue row: the hand-off reads none of the backlog,
    // and its fresh delivery waits behind it rather than going first.
    await admin.query('BEGIN');
    let fresh: PublishedEvent | undefined;
    try {
      await admin.query('SELECT 1 FROM delivery_queue FOR UPDATE');
      [fresh] = await publishMany(api!, account.id, 1, { now: T, handoff: offer('h-1') });
      expect(taken).toEqual([[]]);
    } finally {
      await admin.query('COMMIT');
    }
    // Free again, the next publish's hand-off takes the backlog first, then both fresh ones.
    const [later] = await publishMany(api!, account.id, 1, { now: T + 1, handoff: offer('h-2') });
    expect(taken[1]!.map((c) => c.eventId)).toEqual([
      backlog!.event.id,
      fresh!.event.id,
      later!.event.id,
    ]);
  });
});
