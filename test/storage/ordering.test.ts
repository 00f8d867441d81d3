// Ordered delivery per key (SPEC §10, src/storage/ordering.ts), through the storage contract on
// both engines. A simulated worker claims and completes on a simulated clock: no sleeps, no
// wall clock. The receiver's failures follow a fixed pattern, so every run is the same run.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AttemptOutcome, ClaimedDelivery, Storage } from '../../src/storage/index.js';
import { PostgresStorage } from '../../src/storage/postgres/index.js';
import { engines, postgresEngine } from './engines.js';
import {
  HOUR,
  LEASE_MS,
  SECOND,
  T,
  claim,
  complete,
  eventPayload,
  makeAccount,
  makeWebhook,
  nextId,
  publishKeyed,
} from './fixtures.js';

/** Fails the attempts whose running number hits the pattern: about 30 % of them. */
function flaky() {
  let n = 0;
  return () => {
    n++;
    return n % 10 === 3 || n % 10 === 6 || n % 10 === 9;
  };
}

/** The event a claimed delivery carries. */
const eventOf = (c: ClaimedDelivery) => c.eventId;

interface RunOptions {
  /** Attempts in flight complete this many per tick (the rest stay leased across claims). */
  completePerTick?: number;
  maxInFlightPerEndpoint?: number;
  defaultRateLimitPerMinute?: number;
  fails?: () => boolean;
  /** An automatic attempt after this many failures fails for good. */
  maxAttempts?: number;
  limit?: number;
}

/**
 * Runs a simulated worker until nothing is left: each tick claims, checks that no key has two
 * deliveries in flight, and completes the oldest attempts in flight. Returns, per ordering
 * key, the events in the order their deliveries first went out and finished.
 */
async function drain(storage: Storage, start: number, options: RunOptions = {}) {
  const fails = options.fails ?? (() => false);
  const maxAttempts = options.maxAttempts ?? 100;
  const sent = new Map<string, string[]>();
  const finished = new Map<string, string[]>();
  const push = (map: Map<string, string[]>, key: string, value: string) => {
    const list = map.get(key) ?? [];
    list.push(value);
    map.set(key, list);
  };
  let inFlight: ClaimedDelivery[] = [];
  let overlaps = 0;
  let now = start;
  for (let tick = 0; tick < 2000; tick++) {
    const claimed = await claim(storage, now, {
      limit: options.limit ?? 100,
      maxInFlightPerEndpoint: options.maxInFlightPerEndpoint ?? 100,
      defaultRateLimitPerMinute: options.defaultRateLimitPerMinute ?? 100_000,
    });
    for (const c of claimed) {
      if (inFlight.some((f) => f.orderingKey === c.orderingKey && f.webhookId === c.webhookId)) {
        overlaps++;
      }
      inFlight.push(c);
      if (!sent.get(c.orderingKey!)?.includes(eventOf(c))) {
        push(sent, c.orderingKey!, eventOf(c));
      }
    }
    if (inFlight.length === 0 && claimed.length === 0) {
      if ((await storage.nextDueAt()) === null) break;
      now += SECOND;
      continue;
    }
    const done = inFlight.slice(0, options.completePerTick ?? inFlight.length);
    inFlight = inFlight.slice(done.length);
    for (const c of done) {
      let outcome: AttemptOutcome = { kind: 'succeeded' };
      if (fails()) {
        outcome =
          c.autoAttempts + 1 >= maxAttempts
            ? { kind: 'failed' }
            : { kind: 'retry', nextAttemptAt: now + SECOND };
      }
      await complete(storage, c, outcome, { now });
      if (outcome.kind !== 'retry') push(finished, c.orderingKey!, eventOf(c));
    }
    now += 100;
  }
  return { sent, finished, overlaps };
}

describe.each(engines())('ordered delivery: $name', (engine) => {
  let storage: Storage;
  beforeAll(() => engine.setup());
  afterAll(() => engine.teardown());
  beforeEach(async () => {
    storage = await engine.open();
  });
  afterEach(async () => {
    await storage.close();
    await engine.released();
  });

  /** An account with a per_key endpoint and `perKey` events of each of `keys`, interleaved. */
  async function backlog(keys: number, perKey: number, ordering: 'none' | 'per_key' = 'per_key') {
    const account = await makeAccount(storage);
    const webhook = await makeWebhook(storage, account.id, { ordering });
    const names = Array.from({ length: keys }, (_, k) => `call_${k}`);
    const expected = new Map<string, string[]>(names.map((k) => [k, []]));
    for (let round = 0; round < perKey; round++) {
      const ids = await publishKeyed(storage, account.id, names);
      ids.forEach((id, k) => expected.get(names[k]!)!.push(id));
    }
    return { account, webhook, expected };
  }

  it('delivers each key in acceptance order through a flaky receiver, one at a time', async () => {
    const { expected } = await backlog(12, 4);
    const run = await drain(storage, T, {
      fails: flaky(),
      completePerTick: 5,
      // the per-endpoint cap holds heads back and lets them go again, in order
      maxInFlightPerEndpoint: 5,
    });
    expect(run.overlaps).toBe(0);
    expect(Object.fromEntries(run.sent)).toEqual(Object.fromEntries(expected));
    expect(Object.fromEntries(run.finished)).toEqual(Object.fromEntries(expected));
  });

  it('keeps the order when the endpoint rate limit holds heads back', async () => {
    const { expected } = await backlog(4, 3);
    // 60 a minute: a token a second, most heads deferred on every claim
    const run = await drain(storage, T, { fails: flaky(), defaultRateLimitPerMinute: 60 });
    expect(run.overlaps).toBe(0);
    expect(Object.fromEntries(run.finished)).toEqual(Object.fromEntries(expected));
  });

  it('without ordering, the same backlog goes out in parallel and out of order', async () => {
    // The witness that the run above tests something: the same pattern breaks the order.
    const { expected } = await backlog(12, 4, 'none');
    const run = await drain(storage, T, { fails: flaky(), completePerTick: 5 });
    expect(run.overlaps).toBeGreaterThan(0);
    expect(Object.fromEntries(run.finished)).not.toEqual(Object.fromEntries(expected));
  });

  it('lets other keys flow in parallel: one claim takes the head of every key', async () => {
    const { expected } = await backlog(50, 3);
    const claimed = await claim(storage, T, { limit: 200 });
    expect(claimed).toHaveLength(50);
    expect(new Set(claimed.map((c) => c.orderingKey)).size).toBe(50);
    expect(claimed.map(eventOf).sort()).toEqual([...expected.values()].map((ids) => ids[0]).sort());
    expect(await claim(storage, T + 1, { limit: 200 })).toEqual([]);
  });

  it('after a crash the head is sent again when its lease runs out, and the next never overtakes', async () => {
    const { expected } = await backlog(1, 3);
    const [first, second, third] = expected.get('call_0')!;
    const [head] = await claim(storage, T, { leaseMs: 5 * SECOND });
    expect(eventOf(head!)).toBe(first);
    // The worker dies (kill -9): nothing completes. Before the lease runs out, nothing goes.
    expect(await claim(storage, T + 4 * SECOND)).toEqual([]);
    const [again] = await claim(storage, T + 5 * SECOND + 1, { leaseMs: 5 * SECOND });
    expect(again!.deliveryId).toBe(head!.deliveryId);
    // The first worker comes back late: its lease is gone, so it releases nothing.
    await complete(storage, head!, { kind: 'succeeded' }, { now: T + 6 * SECOND });
    expect(await claim(storage, T + 6 * SECOND)).toEqual([]);
    await complete(storage, again!, { kind: 'succeeded' }, { now: T + 7 * SECOND });
    const [next] = await claim(storage, T + 7 * SECOND);
    expect(eventOf(next!)).toBe(second);
    await complete(storage, next!, { kind: 'succeeded' }, { now: T + 8 * SECOND });
    const [last] = await claim(storage, T + 8 * SECOND);
    expect(eventOf(last!)).toBe(third);
  });

  it('a head that fails for good lets the next go', async () => {
    const { account, expected } = await backlog(1, 2);
    const [head] = await claim(storage, T);
    await complete(storage, head!, { kind: 'retry', nextAttemptAt: T + HOUR });
    expect(await claim(storage, T + HOUR - 1)).toEqual([]);
    const [retried] = await claim(storage, T + HOUR);
    expect(retried!.deliveryId).toBe(head!.deliveryId);
    await complete(storage, retried!, { kind: 'failed' }, { now: T + HOUR });
    const [next] = await claim(storage, T + HOUR);
    expect(eventOf(next!)).toBe(expected.get('call_0')![1]);
    expect((await storage.getDelivery(account.id, head!.deliveryId))!.status).toBe('failed');
  });

  it('a waiting delivery says which delivery it waits for, until that one finishes', async () => {
    const { account } = await backlog(1, 3);
    const [head] = await claim(storage, T);
    await complete(storage, head!, { kind: 'retry', nextAttemptAt: T + HOUR });
    const list = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
    const waiting = list.filter((d) => d.id !== head!.deliveryId);
    expect(waiting).toHaveLength(2);
    for (const d of waiting) {
      expect(d.waitingFor).toBe(head!.deliveryId);
      expect(d.nextAttemptAt).toBeNull();
      const detail = await storage.getDelivery(account.id, d.id);
      expect(detail!.waitingFor).toBe(head!.deliveryId);
    }
    expect(list.find((d) => d.id === head!.deliveryId)!.waitingFor).toBeNull();

    const [retried] = await claim(storage, T + HOUR);
    await complete(storage, retried!, { kind: 'succeeded' }, { now: T + HOUR });
    const [next] = await claim(storage, T + HOUR);
    const after = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
    expect(after.find((d) => d.id === next!.deliveryId)!.waitingFor).toBeNull();
    const last = after.find((d) => d.id !== next!.deliveryId && d.status === 'pending')!;
    expect(last.waitingFor).toBe(next!.deliveryId);
  });

  it('a manual retry of the head sends it at once; its success releases the key', async () => {
    const { account, expected } = await backlog(1, 2);
    const [head] = await claim(storage, T);
    await complete(storage, head!, { kind: 'retry', nextAttemptAt: T + HOUR });
    await storage.requestRetry(account.id, head!.deliveryId, T + SECOND);
    const [manual] = await claim(storage, T + SECOND);
    expect(manual).toMatchObject({ deliveryId: head!.deliveryId, trigger: 'manual' });
    await complete(storage, manual!, { kind: 'succeeded' }, { now: T + SECOND });
    const [next] = await claim(storage, T + SECOND);
    expect(eventOf(next!)).toBe(expected.get('call_0')![1]);
  });

  it('a manual retry of a waiting delivery is outside the order and leaves it waiting', async () => {
    const { account, expected } = await backlog(1, 3);
    const [, secondEvent, thirdEvent] = expected.get('call_0')!;
    const [head] = await claim(storage, T);
    await complete(storage, head!, { kind: 'retry', nextAttemptAt: T + HOUR });
    const deliveries = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
    const idOf = (eventId: string) => deliveries.find((d) => d.eventId === eventId)!.id;

    // The third is retried by hand: sent at once, fails, and waits again.
    await storage.requestRetry(account.id, idOf(thirdEvent!), T + SECOND);
    const [manual] = await claim(storage, T + SECOND);
    expect(manual).toMatchObject({ deliveryId: idOf(thirdEvent!), trigger: 'manual' });
    await complete(storage, manual!, { kind: 'unchanged' }, { now: T + SECOND });
    expect(await claim(storage, T + 2 * SECOND)).toEqual([]);
    const third = await storage.getDelivery(account.id, idOf(thirdEvent!));
    expect(third).toMatchObject({ status: 'pending', waitingFor: head!.deliveryId });

    // Retried by hand again, it succeeds: it leaves the order without releasing the key.
    await storage.requestRetry(account.id, idOf(thirdEvent!), T + 3 * SECOND);
    const [again] = await claim(storage, T + 3 * SECOND);
    await complete(storage, again!, { kind: 'succeeded' }, { now: T + 3 * SECOND });
    expect(await claim(storage, T + 4 * SECOND)).toEqual([]);

    // The head finishes: the second goes; after it, nothing (the third is done).
    const [retried] = await claim(storage, T + HOUR);
    await complete(storage, retried!, { kind: 'succeeded' }, { now: T + HOUR });
    const [next] = await claim(storage, T + HOUR);
    expect(eventOf(next!)).toBe(secondEvent);
    await complete(storage, next!, { kind: 'succeeded' }, { now: T + HOUR });
    expect(await claim(storage, T + HOUR + 1)).toEqual([]);
    expect(await storage.nextDueAt()).toBeNull();
  });

  it('every pending delivery, waiting in its order or not, counts in the stats and moves to a new URL', async () => {
    const { account, webhook } = await backlog(2, 3);
    const heads = await claim(storage, T);
    expect(heads).toHaveLength(2);
    // A manual attempt on a waiting one that fails leaves it pending and waiting.
    const deliveries = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
    const waiting = deliveries.find((d) => d.waitingFor !== null)!;
    await storage.requestRetry(account.id, waiting.id, T + 1);
    const [manual] = await claim(storage, T + 1);
    expect(manual).toMatchObject({ deliveryId: waiting.id, trigger: 'manual' });
    await complete(storage, manual!, { kind: 'unchanged' }, { now: T + 2 });

    const stats = await storage.webhookStats({
      accountId: account.id,
      webhookId: webhook.id,
      since: T - (T % (5 * 60_000)),
      bucketMs: HOUR,
    });
    expect(stats.pending).toBe(6);
    await storage.updateWebhook(account.id, webhook.id, { url: 'https://moved.example/in' }, T + 3);
    const moved = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
    expect(moved.map((d) => d.url)).toEqual(Array(6).fill('https://moved.example/in'));
    for (const h of heads) await complete(storage, h, { kind: 'succeeded' }, { now: T + 4 });
    const run = await drain(storage, T + 5);
    expect([...run.finished.values()].flat()).toHaveLength(4);
    expect(
      await storage.listDeliveries(account.id, { status: 'pending' }, { limit: 10, after: null }),
    ).toEqual([]);
  });

  it('a disabled endpoint holds every key and resumes them in order when enabled', async () => {
    const { account, webhook, expected } = await backlog(3, 3);
    const heads = await claim(storage, T);
    expect(heads).toHaveLength(3);
    await storage.updateWebhook(account.id, webhook.id, { status: 'disabled' }, T + 1);
    // The attempts in flight finish while it is disabled: the next of each key waits.
    for (const h of heads) await complete(storage, h, { kind: 'succeeded' }, { now: T + 2 });
    expect(await claim(storage, T + 3)).toEqual([]);
    expect(await storage.nextDueAt()).toBeNull();
    await storage.updateWebhook(account.id, webhook.id, { status: 'enabled' }, T + 4);
    const run = await drain(storage, T + 5);
    for (const [key, ids] of expected) {
      expect(run.sent.get(key)).toEqual(ids.slice(1));
    }
    expect(run.overlaps).toBe(0);
  });

  it('a suspended account holds every key and resumes them in order when reactivated', async () => {
    const { account, expected } = await backlog(3, 3);
    const admin = { type: 'admin', id: null } as const;
    const heads = await claim(storage, T);
    expect(heads).toHaveLength(3);
    await storage.updateAccount(account.id, { status: 'suspended' }, admin, T + 1);
    // The attempts in flight finish while it is suspended; the janitor parks what they made due.
    for (const h of heads) await complete(storage, h, { kind: 'succeeded' }, { now: T + 2 });
    await storage.parkInactiveAccounts(T + 3);
    expect(await claim(storage, T + 3)).toEqual([]);
    await storage.updateAccount(account.id, { status: 'active' }, admin, T + 4);
    // Only the head of each key is due: the rest still wait their turn, off the due index.
    expect((await storage.queueStats(T + 4)).due).toBe(3);
    const next = await claim(storage, T + 5);
    expect(next.map(eventOf).sort()).toEqual([...expected.values()].map((ids) => ids[1]).sort());
    for (const c of next) await complete(storage, c, { kind: 'succeeded' }, { now: T + 6 });
    const run = await drain(storage, T + 7);
    for (const [key, ids] of expected) {
      expect(run.sent.get(key)).toEqual(ids.slice(2));
    }
    expect(run.overlaps).toBe(0);
  });

  it('switching ordering on and off applies to what is not yet sent, losing and repeating nothing', async () => {
    const { account, webhook, expected } = await backlog(2, 3, 'none');
    // Unordered: everything goes at once. call_0's first two stay in flight; the other four
    // fail and wait for a retry.
    const claimed = await claim(storage, T, { limit: 100 });
    expect(claimed).toHaveLength(6);
    const inFlight = claimed.filter(
      (c) => c.orderingKey === 'call_0' && eventOf(c) !== expected.get('call_0')![2],
    );
    expect(inFlight).toHaveLength(2);
    for (const c of claimed.filter((c) => !inFlight.includes(c))) {
      await complete(storage, c, { kind: 'retry', nextAttemptAt: T + 1 });
    }

    await storage.updateWebhook(account.id, webhook.id, { ordering: 'per_key' }, T + 1);
    expect((await storage.getWebhook(account.id, webhook.id))!.ordering).toBe('per_key');
    const listed = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
    const byEvent = new Map(listed.map((d) => [d.eventId, d]));
    // call_0: both in flight stay heads, its third waits; call_1: its first is the head.
    const [c0a, c0b, c0c] = expected.get('call_0')!;
    const [c1a, c1b, c1c] = expected.get('call_1')!;
    expect(byEvent.get(c0c!)!.waitingFor).not.toBeNull();
    expect(byEvent.get(c1a!)!.waitingFor).toBeNull();
    expect(byEvent.get(c1b!)!.waitingFor).toBe(byEvent.get(c1a!)!.id);
    expect(byEvent.get(c1c!)!.waitingFor).toBe(byEvent.get(c1a!)!.id);

    // The leases taken before the switch run out: the heads go again; nothing else of the keys.
    const resent = await claim(storage, T + LEASE_MS + 1, { limit: 100 });
    expect(resent.map(eventOf).sort()).toEqual([c0a, c0b, c1a].sort());
    for (const c of resent) {
      await complete(storage, c, { kind: 'succeeded' }, { now: T + LEASE_MS + 2 });
    }
    // call_0 waits for its last head; call_1's next follows its head.
    const nextOnes = await claim(storage, T + LEASE_MS + 3, { limit: 100 });
    expect(nextOnes.map(eventOf).sort()).toEqual([c0c, c1b].sort());

    // Back to unordered: call_1's last no longer waits.
    await storage.updateWebhook(account.id, webhook.id, { ordering: 'none' }, T + LEASE_MS + 4);
    const freed = await claim(storage, T + LEASE_MS + 5, { limit: 100 });
    expect(freed.map(eventOf)).toEqual([c1c]);
    for (const c of [...nextOnes, ...freed]) {
      await complete(storage, c, { kind: 'succeeded' }, { now: T + LEASE_MS + 6 });
    }
    const all = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
    expect(all).toHaveLength(6);
    expect(all.every((d) => d.status === 'succeeded')).toBe(true);
    expect(await storage.nextDueAt()).toBeNull();
  });

  it('lets the next of a key go when a delivery in flight as ordering is switched on finishes', async () => {
    const account = await makeAccount(storage);
    const webhook = await makeWebhook(storage, account.id, { ordering: 'none' });
    const [first] = await publishKeyed(storage, account.id, ['call_0']);
    const [inFlight] = await claim(storage, T);
    expect(inFlight!.eventId).toBe(first);
    const [second, third] = await publishKeyed(storage, account.id, ['call_0', 'call_0']);
    await storage.updateWebhook(account.id, webhook.id, { ordering: 'per_key' }, T + 1);
    // Its lease still held, it finishes: it was the key's head, and the next goes.
    await complete(storage, inFlight!, { kind: 'succeeded' }, { now: T + 2 });
    const [next] = await claim(storage, T + 3);
    expect(next?.eventId).toBe(second);
    expect(await claim(storage, T + 3)).toEqual([]);
    await complete(storage, next!, { kind: 'succeeded' }, { now: T + 4 });
    expect((await claim(storage, T + 5)).map((c) => c.eventId)).toEqual([third]);
  });

  it('orders by acceptance, not by id: a later event with a smaller id still goes second', async () => {
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id, { ordering: 'per_key' });
    const late = 'evt_0000000000a';
    const early = 'evt_zzzzzzzzzz';
    for (const id of [early, late]) {
      await storage.publish({
        accountId: account.id,
        events: [
          {
            id,
            type: 'call.ended',
            timestamp: '2023-11-14T22:13:20Z',
            payload: eventPayload(id, 'call.ended'),
            idempotencyKey: null,
            orderingKey: 'call_x',
          },
        ],
        newDeliveryId: () => nextId('dlv'),
        now: T,
        idempotencyWindowMs: HOUR,
      });
    }
    const first = await claim(storage, T);
    expect(first.map(eventOf)).toEqual([early]);
    await complete(storage, first[0]!, { kind: 'succeeded' });
    expect((await claim(storage, T)).map(eventOf)).toEqual([late]);
  });
});

// Engine-only: several processes against one database. SQLite has one writer and one process
// behind it, so two workers or two API nodes cannot race there.
describe('ordered delivery across processes: postgres', () => {
  const engine = postgresEngine();
  const nodes: Storage[] = [];
  beforeAll(() => engine.setup());
  beforeEach(async () => {
    // empties the database; each test then opens its own nodes
    await (await engine.open()).close();
  });
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.close()));
    await engine.released();
  });
  afterAll(() => engine.teardown());

  function node(): Storage {
    const n = new PostgresStorage(engine.url(), { poolSize: 3 });
    nodes.push(n);
    return n;
  }

  it('two API nodes publishing one key at once: one head, one seq each, delivered in seq order', async () => {
    const [a, b] = [node(), node()];
    const account = await makeAccount(a);
    await makeWebhook(a, account.id, { ordering: 'per_key' });
    for (let round = 0; round < 10; round++) {
      await Promise.all([
        publishKeyed(a, account.id, ['call_shared', 'call_shared']),
        publishKeyed(b, account.id, ['call_shared', 'call_shared']),
      ]);
    }
    const rows = await a.listDeliveries(account.id, {}, { limit: 100, after: null });
    expect(rows).toHaveLength(40);
    expect(rows.filter((d) => d.waitingFor === null)).toHaveLength(1);
    // Each publish read the seq the one before it committed (the pair's lock): 1..40, no
    // repeats, no gaps; the deliveries then go out in that order.
    const admin = new pg.Client({ connectionString: engine.url() });
    await admin.connect();
    const seqs = (
      await admin.query(
        `SELECT d.event_id, x.order_seq FROM deliveries d
         JOIN delivery_queue x ON x.delivery_id = d.id
         WHERE d.ordering_key = 'call_shared' ORDER BY x.order_seq`,
      )
    ).rows as { event_id: string; order_seq: string }[];
    await admin.end();
    expect(seqs.map((r) => Number(r.order_seq))).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const run = await drain(a, T);
    expect(run.overlaps).toBe(0);
    expect(run.sent.get('call_shared')).toEqual(seqs.map((r) => r.event_id));
  });

  it('two workers never hold two deliveries of one key at once, and keep each key in order', async () => {
    const workers = [node(), node()];
    const account = await makeAccount(workers[0]!);
    await makeWebhook(workers[0]!, account.id, { ordering: 'per_key' });
    const keys = Array.from({ length: 10 }, (_, k) => `call_w${k}`);
    const expected = new Map<string, string[]>(keys.map((k) => [k, []]));
    for (let round = 0; round < 4; round++) {
      (await publishKeyed(workers[0]!, account.id, keys)).forEach((id, k) =>
        expected.get(keys[k]!)!.push(id),
      );
    }
    const fails = flaky();
    const finished = new Map<string, string[]>(keys.map((k) => [k, []]));
    let held: ClaimedDelivery[][] = [[], []];
    let overlaps = 0;
    let now = T;
    for (let tick = 0; tick < 500; tick++) {
      // Each worker completes what it holds and claims again, both at once: one worker's
      // claim runs while the other's completion releases the next of a key.
      held = await Promise.all(
        workers.map(async (w, i) => {
          for (const c of held[i]!) {
            const outcome: AttemptOutcome = fails()
              ? { kind: 'retry', nextAttemptAt: now + 300 }
              : { kind: 'succeeded' };
            await complete(w, c, outcome, { now });
            if (outcome.kind === 'succeeded') finished.get(c.orderingKey!)!.push(eventOf(c));
          }
          return claim(w, now, { limit: 4, maxInFlightPerEndpoint: 6 });
        }),
      );
      // Everything held now is in flight at once.
      const inFlight = held.flat().map((c) => c.orderingKey);
      overlaps += inFlight.length - new Set(inFlight).size;
      if ([...finished.values()].every((l) => l.length === 4)) break;
      now += 100;
    }
    expect(overlaps).toBe(0);
    expect(Object.fromEntries(finished)).toEqual(Object.fromEntries(expected));
  });
});
