// The storage contract, one behavioural suite run against both engines: SQLite on a temporary
// file (a fresh file per test) and PostgreSQL on a fresh database for this file (emptied
// before each test). Whatever the API, the worker or the CLI rely on is pinned here, so the
// engines cannot drift apart. Times are fixed offsets from T; nothing reads the wall clock.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { DurationHistogram } from '../../src/core/histogram.js';
import { idFloor, newId } from '../../src/core/ids.js';
import { IdempotencyConflictError } from '../../src/storage/idempotency.js';
import type {
  ClaimRequest,
  ClaimedDelivery,
  Handoff,
  Storage,
  WebhookStats,
} from '../../src/storage/index.js';
import { accessContract } from './access-contract.js';
import { engines as allEngines } from './engines.js';
import {
  DAY,
  HOUR,
  LEASE_MS,
  MINUTE,
  SECOND,
  T,
  claim,
  claimRequest,
  complete,
  eventPayload,
  newEvent,
  makeAccount,
  makeWebhook,
  nextId,
  publishMany,
  publishOne,
} from './fixtures.js';
import { storedHeaders } from '../../src/core/request-headers.js';
import { signedHeaders } from '../../src/worker/sender.js';

const engines = allEngines();

const NO_LIMITS = {
  maxEndpoints: null,
  apiRateLimitPerMinute: null,
  publishRateLimitPerMinute: null,
  endpointRateLimitPerMinute: null,
};

describe.each(engines)('storage contract: $name', (engine) => {
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

  /** Publishes one event to a fresh account with one `*` endpoint; returns its claimable state. */
  async function oneDelivery(options: { rateLimitPerMinute?: number } = {}) {
    const account = await makeAccount(storage);
    const webhook = await makeWebhook(storage, account.id, options);
    const published = await publishOne(storage, account.id, 'call.ended');
    const [delivery] = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
    return { account, webhook, event: published.event, delivery: delivery! };
  }

  async function deliveryOf(accountId: string, id: string) {
    const detail = await storage.getDelivery(accountId, id);
    if (!detail) throw new Error(`no delivery ${id}`);
    return detail;
  }

  describe('lifecycle', () => {
    it('reports its engine, answers ping, and migrates again without harm', async () => {
      expect(storage.engine).toBe(engine.name);
      await storage.ping();
      await storage.migrate();
      await storage.migrate();
      expect(await storage.countAccounts()).toBe(0);
    });
  });

  describe('accounts', () => {
    it('creates accounts and finds them by id and by API key hash', async () => {
      const account = await storage.createAccount(
        { id: 'acc_1', name: 'Acme', createdAt: T },
        'hash-1',
      );
      expect(account).toEqual({
        id: 'acc_1',
        name: 'Acme',
        status: 'active',
        limits: NO_LIMITS,
        createdAt: T,
      });
      await storage.createAccount({ id: 'acc_2', name: 'Other', createdAt: T + 1 }, 'hash-2');
      expect(await storage.findAccountByKeyHash('hash-1')).toEqual(account);
      expect(await storage.findAccountByKeyHash('hash-2')).toMatchObject({
        id: 'acc_2',
        name: 'Other',
      });
      expect(await storage.findAccountByKeyHash('nope')).toBeNull();
      expect(await storage.getAccount('acc_2')).toEqual({
        id: 'acc_2',
        name: 'Other',
        status: 'active',
        limits: NO_LIMITS,
        createdAt: T + 1,
      });
      expect(await storage.getAccount('acc_3')).toBeNull();
      expect(await storage.countAccounts()).toBe(2);
    });

    it('refuses a second account with the same API key hash', async () => {
      await storage.createAccount({ id: 'acc_1', name: 'A', createdAt: T }, 'same');
      await expect(
        storage.createAccount({ id: 'acc_2', name: 'B', createdAt: T }, 'same'),
      ).rejects.toThrow();
      expect(await storage.countAccounts()).toBe(1);
    });
  });

  describe('webhooks', () => {
    it('creates a webhook with every field, enabled or disabled by its owner', async () => {
      const account = await makeAccount(storage);
      const webhook = await makeWebhook(storage, account.id, {
        url: 'https://example.com/a',
        description: 'calls',
        events: ['call.ended', 'agent.*'],
        rateLimitPerMinute: 30,
        sealedSecret: 'sealed:s1',
        now: T + 5,
      });
      expect(webhook).toEqual({
        id: webhook.id,
        accountId: account.id,
        url: 'https://example.com/a',
        description: 'calls',
        events: ['call.ended', 'agent.*'],
        status: 'enabled',
        disabledReason: null,
        rateLimitPerMinute: 30,
        accountRateLimitPerMinute: null,
        sealedSecret: 'sealed:s1',
        sealedPreviousSecret: null,
        previousSecretExpiresAt: null,
        // a new endpoint is not throttled
        throttle: { limit: null, streak: 0, reason: null, since: null },
        headers: {},
        filter: null,
        // SPEC §10: unordered unless asked for
        ordering: 'none',
        createdAt: T + 5,
        updatedAt: T + 5,
      });
      expect(await storage.getWebhook(account.id, webhook.id)).toEqual(webhook);

      const disabled = await makeWebhook(storage, account.id, { status: 'disabled' });
      expect(disabled).toMatchObject({
        status: 'disabled',
        disabledReason: 'manual',
        rateLimitPerMinute: null,
      });
    });

    it('stops at the endpoint limit, per account', async () => {
      const a = await makeAccount(storage);
      const b = await makeAccount(storage);
      const make = (accountId: string) =>
        storage.createWebhook(
          {
            id: nextId('wh'),
            accountId,
            url: 'https://example.com',
            description: null,
            events: ['*'],
            status: 'enabled',
            rateLimitPerMinute: null,
            sealedSecret: 's',
            now: T,
          },
          2,
        );
      expect(await make(a.id)).toMatchObject({ accountId: a.id });
      expect(await make(a.id)).toMatchObject({ accountId: a.id });
      expect(await make(a.id)).toBe('limit_reached');
      expect(await make(b.id)).toMatchObject({ accountId: b.id });
      expect(await storage.countWebhooks(a.id)).toBe(2);
      expect(await storage.countWebhooks(b.id)).toBe(1);
    });

    it("hides another account's webhooks", async () => {
      const a = await makeAccount(storage);
      const b = await makeAccount(storage);
      const webhook = await makeWebhook(storage, a.id);
      expect(await storage.getWebhook(b.id, webhook.id)).toBeNull();
      expect(await storage.listWebhooks(b.id, { limit: 10, after: null })).toEqual([]);
      expect(
        await storage.updateWebhook(b.id, webhook.id, { url: 'https://evil.example' }, T),
      ).toBeNull();
      expect(
        await storage.rotateSecret(
          b.id,
          webhook.id,
          { sealedSecret: 'x', sealedPreviousSecret: 'y', previousExpiresAt: T },
          T,
        ),
      ).toBeNull();
      expect(await storage.deleteWebhook(b.id, webhook.id)).toBe(false);
      expect(await storage.getWebhook(a.id, webhook.id)).toEqual(webhook);
    });

    it('lists newest first, a page at a time after a given id', async () => {
      const account = await makeAccount(storage);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await makeWebhook(storage, account.id)).id);
      const page1 = await storage.listWebhooks(account.id, { limit: 2, after: null });
      expect(page1.map((w) => w.id)).toEqual([ids[4], ids[3]]);
      const page2 = await storage.listWebhooks(account.id, { limit: 2, after: ids[3]! });
      expect(page2.map((w) => w.id)).toEqual([ids[2], ids[1]]);
      const page3 = await storage.listWebhooks(account.id, { limit: 2, after: ids[1]! });
      expect(page3.map((w) => w.id)).toEqual([ids[0]]);
      expect(await storage.listWebhooks(account.id, { limit: 2, after: ids[0]! })).toEqual([]);
    });

    it('orders ids bytewise (upper case before lower case), as the ids are made to sort', async () => {
      const account = await makeAccount(storage);
      for (const id of ['wh_b', 'wh_B', 'wh_a', 'wh_A', 'wh_0']) {
        await storage.createWebhook(
          {
            id,
            accountId: account.id,
            url: 'https://example.com',
            description: null,
            events: ['*'],
            status: 'enabled',
            rateLimitPerMinute: null,
            sealedSecret: 's',
            now: T,
          },
          10,
        );
      }
      const all = await storage.listWebhooks(account.id, { limit: 10, after: null });
      expect(all.map((w) => w.id)).toEqual(['wh_b', 'wh_a', 'wh_B', 'wh_A', 'wh_0']);
      const after = await storage.listWebhooks(account.id, { limit: 10, after: 'wh_a' });
      expect(after.map((w) => w.id)).toEqual(['wh_B', 'wh_A', 'wh_0']);
    });

    it('applies a patch: given fields change, absent ones stay, null clears', async () => {
      const account = await makeAccount(storage);
      const webhook = await makeWebhook(storage, account.id, {
        description: 'first',
        rateLimitPerMinute: 10,
        events: ['call.ended'],
      });
      const updated = await storage.updateWebhook(
        account.id,
        webhook.id,
        { url: 'https://example.com/new', events: ['agent.*'], sealedSecret: 'sealed:s2' },
        T + 100,
      );
      expect(updated).toEqual({
        ...webhook,
        url: 'https://example.com/new',
        events: ['agent.*'],
        sealedSecret: 'sealed:s2',
        updatedAt: T + 100,
      });
      const cleared = await storage.updateWebhook(
        account.id,
        webhook.id,
        { description: null, rateLimitPerMinute: null },
        T + 200,
      );
      expect(cleared).toMatchObject({
        description: null,
        rateLimitPerMinute: null,
        url: 'https://example.com/new',
      });
      expect(await storage.getWebhook(account.id, webhook.id)).toEqual(cleared);
      expect(
        await storage.updateWebhook(account.id, 'wh_missing', { url: 'https://x.example' }, T),
      ).toBeNull();
    });

    it('moves pending deliveries to a new URL, but not finished ones', async () => {
      const { account, webhook } = await oneDelivery();
      const [first] = await claim(storage, T);
      await complete(storage, first!, { kind: 'succeeded' });
      await publishOne(storage, account.id, 'call.ended');
      await storage.updateWebhook(
        account.id,
        webhook.id,
        { url: 'https://example.com/moved' },
        T + 1,
      );
      const deliveries = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
      expect(deliveries.map((d) => [d.status, d.url])).toEqual([
        ['pending', 'https://example.com/moved'],
        ['succeeded', 'https://example.com/hooks'],
      ]);
      const [next] = await claim(storage, T + 2);
      expect(next!.url).toBe('https://example.com/moved');
    });

    it('parks the pending deliveries of a disabled endpoint and wakes them when enabled', async () => {
      const { account, webhook, delivery } = await oneDelivery();
      const disabled = await storage.updateWebhook(
        account.id,
        webhook.id,
        { status: 'disabled' },
        T + 1,
      );
      expect(disabled).toMatchObject({
        status: 'disabled',
        disabledReason: 'manual',
        updatedAt: T + 1,
      });
      expect(await storage.nextDueAt()).toBeNull();
      expect(await claim(storage, T + HOUR)).toEqual([]);
      expect((await deliveryOf(account.id, delivery.id)).status).toBe('pending');

      const woke = vi.fn();
      const off = storage.onWake(woke);
      const enabled = await storage.updateWebhook(
        account.id,
        webhook.id,
        { status: 'enabled' },
        T + 2 * HOUR,
      );
      expect(enabled).toMatchObject({ status: 'enabled', disabledReason: null });
      await vi.waitFor(() => expect(woke).toHaveBeenCalled());
      off();
      expect(await storage.nextDueAt()).toBe(T + 2 * HOUR);
      const claimed = await claim(storage, T + 2 * HOUR);
      expect(claimed.map((c) => c.deliveryId)).toEqual([delivery.id]);
    });

    it('keeps a parked retry at its scheduled time when the endpoint comes back early', async () => {
      const { account, webhook } = await oneDelivery();
      const [first] = await claim(storage, T);
      await complete(storage, first!, { kind: 'retry', nextAttemptAt: T + HOUR });
      await storage.updateWebhook(account.id, webhook.id, { status: 'disabled' }, T + 1);
      expect(await storage.nextDueAt()).toBeNull();
      await storage.updateWebhook(account.id, webhook.id, { status: 'enabled' }, T + 2);
      expect(await storage.nextDueAt()).toBe(T + HOUR);
      expect(await claim(storage, T + HOUR - 1)).toEqual([]);
      expect(await claim(storage, T + HOUR)).toHaveLength(1);
    });

    it('rotates the secret: the old one signs alongside the new until it expires', async () => {
      const { account, webhook } = await oneDelivery();
      const rotated = await storage.rotateSecret(
        account.id,
        webhook.id,
        {
          sealedSecret: 'sealed:s2',
          sealedPreviousSecret: 'sealed:secret-1',
          previousExpiresAt: T + DAY,
        },
        T + 10,
      );
      expect(rotated).toMatchObject({
        sealedSecret: 'sealed:s2',
        sealedPreviousSecret: 'sealed:secret-1',
        previousSecretExpiresAt: T + DAY,
        updatedAt: T + 10,
      });
      const [during] = await claim(storage, T + HOUR);
      expect(during!.sealedSecrets).toEqual(['sealed:s2', 'sealed:secret-1']);
      await complete(storage, during!, { kind: 'retry', nextAttemptAt: T + DAY });
      const [after] = await claim(storage, T + DAY);
      expect(after!.sealedSecrets).toEqual(['sealed:s2']);
      expect(
        await storage.rotateSecret(
          account.id,
          'wh_missing',
          { sealedSecret: 'x', sealedPreviousSecret: 'y', previousExpiresAt: T },
          T,
        ),
      ).toBeNull();
    });

    it('deletes a webhook at once; its deliveries and attempts go in batches; the events stay', async () => {
      const { account, webhook, delivery, event } = await oneDelivery();
      const [claimed] = await claim(storage, T);
      await complete(storage, claimed!, { kind: 'retry', nextAttemptAt: T + MINUTE });
      for (let i = 0; i < 4; i++) await publishOne(storage, account.id, 'call.ended');
      const keep = await makeWebhook(storage, account.id);
      const kept = await publishOne(storage, account.id, 'call.ended', { now: T + 1 });
      expect(await storage.deleteWebhook(account.id, webhook.id)).toBe(true);
      expect(await storage.getWebhook(account.id, webhook.id)).toBeNull();
      expect(await storage.countWebhooks(account.id)).toBe(1);
      expect(await storage.deleteWebhook(account.id, webhook.id)).toBe(false);
      // Gone from the logs at once, and never attempted again.
      expect(await storage.getDelivery(account.id, delivery.id)).toBeNull();
      const listed = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
      expect(listed.map((d) => d.webhookId)).toEqual([keep.id]);
      const due = await claim(storage, T + MINUTE);
      expect(due.map((c) => c.eventId)).toEqual([kept.event.id]);
      // A publish after the delete makes no delivery for it.
      expect((await publishOne(storage, account.id, 'call.ended')).deliveries).toBe(1);

      // Batches of 2: its 6 deliveries (5, and one of `kept`) and 1 attempt take several calls.
      const batches = [];
      for (let i = 0; i < 10; i++) {
        const r = await storage.purgeDeleted(2);
        batches.push(r);
        expect(r.deliveries).toBeLessThanOrEqual(2);
        if (!r.remaining) break;
      }
      expect(batches.length).toBeGreaterThan(2);
      expect(batches.reduce((n, r) => n + r.deliveries, 0)).toBe(6);
      expect(batches.reduce((n, r) => n + r.attempts, 0)).toBe(1);
      expect(batches.at(-1)!.remaining).toBe(false);
      expect(await storage.purgeDeleted(2)).toEqual({
        events: 0,
        deliveries: 0,
        attempts: 0,
        rollups: 0,
        remaining: false,
      });
      expect(await storage.getEvent(account.id, event.id)).not.toBeNull();
      const left = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
      expect(left.every((d) => d.webhookId === keep.id)).toBe(true);
      expect(left).toHaveLength(2);
    });
  });

  describe('publish', () => {
    it('fans an event out to the enabled endpoints whose subscription matches', async () => {
      const account = await makeAccount(storage);
      const other = await makeAccount(storage);
      const exact = await makeWebhook(storage, account.id, { events: ['call.ended'] });
      const family = await makeWebhook(storage, account.id, { events: ['call.*'] });
      const all = await makeWebhook(storage, account.id, { events: ['*'] });
      const agents = await makeWebhook(storage, account.id, { events: ['agent.created'] });
      await makeWebhook(storage, account.id, { events: ['*'], status: 'disabled' });
      await makeWebhook(storage, other.id, { events: ['*'] });

      const ended = await publishOne(storage, account.id, 'call.ended', { now: T + 5 });
      expect(ended.deliveries).toBe(3);
      expect(ended.duplicate).toBe(false);
      expect(ended.event).toEqual({
        id: ended.event.id,
        accountId: account.id,
        type: 'call.ended',
        timestamp: '2023-11-14T22:13:20Z',
        payload: eventPayload(ended.event.id, 'call.ended'),
        orderingKey: null,
        test: false,
        traceparent: null,
        createdAt: T + 5,
      });
      const deliveries = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
      expect(deliveries.map((d) => d.webhookId).sort()).toEqual(
        [exact.id, family.id, all.id].sort(),
      );
      for (const d of deliveries) {
        expect(d).toEqual({
          id: d.id,
          accountId: account.id,
          webhookId: d.webhookId,
          eventId: ended.event.id,
          eventType: 'call.ended',
          orderingKey: null,
          url: 'https://example.com/hooks',
          status: 'pending',
          attemptCount: 0,
          lastStatusCode: null,
          lastDurationMs: null,
          lastError: null,
          nextAttemptAt: T + 5,
          waitingFor: null,
          test: false,
          createdAt: T + 5,
          updatedAt: T + 5,
        });
      }

      const created = await publishOne(storage, account.id, 'agent.created');
      expect(created.deliveries).toBe(2);
      const forAgent = await storage.listDeliveries(
        account.id,
        { eventType: 'agent.created' },
        { limit: 10, after: null },
      );
      expect(forAgent.map((d) => d.webhookId).sort()).toEqual([all.id, agents.id].sort());
      expect((await publishOne(storage, account.id, 'recording.ready')).deliveries).toBe(1);
      expect(await storage.listDeliveries(other.id, {}, { limit: 10, after: null })).toEqual([]);
    });

    it('stores an event without endpoints, with no deliveries', async () => {
      const account = await makeAccount(storage);
      const published = await publishOne(storage, account.id, 'call.ended');
      expect(published.deliveries).toBe(0);
      expect(await storage.getEvent(account.id, published.event.id)).toEqual(published.event);
      expect(await storage.nextDueAt()).toBeNull();
    });

    it('stores a batch in order, all in one go', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id, { events: ['call.*'] });
      const types = ['call.started', 'agent.created', 'call.ended'];
      const ids = types.map(() => nextId('evt'));
      const published = await storage.publish({
        accountId: account.id,
        events: types.map((type, i) => ({
          id: ids[i]!,
          type,
          timestamp: '2023-11-14T22:13:20Z',
          payload: eventPayload(ids[i]!, type),
          idempotencyKey: null,
        })),
        newDeliveryId: () => nextId('dlv'),
        now: T,
        idempotencyWindowMs: DAY,
      });
      expect(published.map((p) => [p.event.id, p.event.type, p.deliveries, p.duplicate])).toEqual([
        [ids[0], 'call.started', 1, false],
        [ids[1], 'agent.created', 0, false],
        [ids[2], 'call.ended', 1, false],
      ]);
      const events = await storage.listEvents(account.id, {}, { limit: 10, after: null });
      expect(events.map((e) => e.id)).toEqual([ids[2], ids[1], ids[0]]);
    });

    it('rejects a batch whole: nothing of it is stored when one event fails', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      const existing = await publishOne(storage, account.id, 'call.ended');
      const fresh = nextId('evt');
      await expect(
        storage.publish({
          accountId: account.id,
          events: [fresh, existing.event.id].map((id) => newEvent('call.ended', id)),
          newDeliveryId: () => nextId('dlv'),
          now: T,
          idempotencyWindowMs: DAY,
        }),
      ).rejects.toThrow();
      expect(await storage.getEvent(account.id, fresh)).toBeNull();
      expect(await storage.listDeliveries(account.id, {}, { limit: 10, after: null })).toHaveLength(
        1,
      );
    });

    it('returns the first event for a repeated idempotency key within the window, creating nothing', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      await makeWebhook(storage, account.id);
      const first = await publishOne(storage, account.id, 'call.ended', { idempotencyKey: 'k1' });
      expect(first).toMatchObject({ deliveries: 2, duplicate: false });

      const again = await publishOne(storage, account.id, 'call.ended', {
        idempotencyKey: 'k1',
        now: T + DAY - 1,
      });
      expect(again).toEqual({ event: first.event, deliveries: 2, duplicate: true });
      expect(await storage.listEvents(account.id, {}, { limit: 10, after: null })).toHaveLength(1);
      expect(await storage.listDeliveries(account.id, {}, { limit: 10, after: null })).toHaveLength(
        2,
      );

      // Keys belong to an account.
      const other = await makeAccount(storage);
      expect(
        (await publishOne(storage, other.id, 'call.ended', { idempotencyKey: 'k1' })).duplicate,
      ).toBe(false);
    });

    it('refuses a repeated idempotency key with another type or data, storing nothing of the batch', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      const withData = (id: string, type: string, data: unknown, key: string | null) => ({
        id,
        type,
        timestamp: '2023-11-14T22:13:20Z',
        payload: JSON.stringify({ id, event: type, timestamp: '2023-11-14T22:13:20Z', data }),
        idempotencyKey: key,
      });
      const publish = (events: ReturnType<typeof withData>[]) =>
        storage.publish({
          accountId: account.id,
          events,
          newDeliveryId: () => nextId('dlv'),
          now: T + HOUR,
          idempotencyWindowMs: DAY,
        });
      const [first] = await publish([withData(nextId('evt'), 'call.ended', { a: 1, b: 2 }, 'k')]);

      // The same data in another key order is the same event.
      const [same] = await publish([withData(nextId('evt'), 'call.ended', { b: 2, a: 1 }, 'k')]);
      expect(same).toMatchObject({ duplicate: true, event: { id: first!.event.id } });

      for (const [type, data] of [
        ['call.ended', { a: 1, b: 3 }],
        ['call.started', { a: 1, b: 2 }],
      ] as const) {
        await expect(publish([withData(nextId('evt'), type, data, 'k')])).rejects.toThrow(
          IdempotencyConflictError,
        );
      }
      // In a batch: the conflict refuses the whole batch, the new event before it included.
      await expect(
        publish([
          withData(nextId('evt'), 'call.ended', { fresh: true }, 'other'),
          withData(nextId('evt'), 'call.ended', { a: 9 }, 'k'),
        ]),
      ).rejects.toThrow(IdempotencyConflictError);
      // And two events of one batch that share a key must be the same event too.
      await expect(
        publish([
          withData(nextId('evt'), 'call.ended', { n: 1 }, 'twice'),
          withData(nextId('evt'), 'call.ended', { n: 2 }, 'twice'),
        ]),
      ).rejects.toThrow(IdempotencyConflictError);
      expect(await storage.listEvents(account.id, {}, { limit: 10, after: null })).toHaveLength(1);
      expect(await storage.listDeliveries(account.id, {}, { limit: 10, after: null })).toHaveLength(
        1,
      );
    });

    it('forgets an idempotency key once the window has passed', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      const first = await publishOne(storage, account.id, 'call.ended', { idempotencyKey: 'k1' });
      const later = await publishOne(storage, account.id, 'call.ended', {
        idempotencyKey: 'k1',
        now: T + DAY,
      });
      expect(later.duplicate).toBe(false);
      expect(later.deliveries).toBe(1);
      expect(later.event.id).not.toBe(first.event.id);
      // The old event stays in the log; the key now names the new one.
      expect(await storage.getEvent(account.id, first.event.id)).toEqual(first.event);
      const third = await publishOne(storage, account.id, 'call.ended', {
        idempotencyKey: 'k1',
        now: T + DAY + HOUR,
      });
      expect(third).toEqual({ event: later.event, deliveries: 1, duplicate: true });
    });

    it('treats a key repeated inside one batch as the same event', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      const [a, b, c] = [nextId('evt'), nextId('evt'), nextId('evt')];
      const published = await storage.publish({
        accountId: account.id,
        events: [
          {
            id: a,
            type: 'call.ended',
            timestamp: 'x',
            payload: eventPayload(a, 'call.ended'),
            idempotencyKey: 'k',
          },
          {
            id: b,
            type: 'call.ended',
            timestamp: 'x',
            payload: eventPayload(b, 'call.ended'),
            idempotencyKey: 'k',
          },
          {
            id: c,
            type: 'call.ended',
            timestamp: 'x',
            payload: eventPayload(c, 'call.ended'),
            idempotencyKey: null,
          },
        ],
        newDeliveryId: () => nextId('dlv'),
        now: T,
        idempotencyWindowMs: DAY,
      });
      expect(published.map((p) => [p.event.id, p.deliveries, p.duplicate])).toEqual([
        [a, 1, false],
        [a, 1, true],
        [c, 1, false],
      ]);
      expect(await storage.getEvent(account.id, b)).toBeNull();
    });
  });

  describe('the event log', () => {
    it('lists newest first with type and time filters, a page at a time', async () => {
      const account = await makeAccount(storage);
      const other = await makeAccount(storage);
      const e1 = await publishOne(storage, account.id, 'call.started', { now: T });
      const e2 = await publishOne(storage, account.id, 'call.ended', { now: T + 1000 });
      const e3 = await publishOne(storage, account.id, 'call.ended', { now: T + 2000 });
      await publishOne(storage, other.id, 'call.ended', { now: T + 1500 });
      const ids = (list: { id: string }[]) => list.map((e) => e.id);
      const page = { limit: 10, after: null };

      expect(ids(await storage.listEvents(account.id, {}, page))).toEqual([
        e3.event.id,
        e2.event.id,
        e1.event.id,
      ]);
      expect(ids(await storage.listEvents(account.id, { eventType: 'call.ended' }, page))).toEqual([
        e3.event.id,
        e2.event.id,
      ]);
      expect(ids(await storage.listEvents(account.id, { since: T + 1000 }, page))).toEqual([
        e3.event.id,
        e2.event.id,
      ]);
      expect(ids(await storage.listEvents(account.id, { until: T + 1000 }, page))).toEqual([
        e1.event.id,
      ]);
      expect(
        ids(await storage.listEvents(account.id, { since: T, until: T + 2000 }, page)),
      ).toEqual([e2.event.id, e1.event.id]);
      expect(
        ids(await storage.listEvents(account.id, {}, { limit: 1, after: e3.event.id })),
      ).toEqual([e2.event.id]);
      expect(await storage.getEvent(account.id, e2.event.id)).toEqual(e2.event);
      expect(await storage.getEvent(other.id, e2.event.id)).toBeNull();
      expect(await storage.getEvent(account.id, 'evt_missing')).toBeNull();
    });
  });

  describe('delivery logs', () => {
    it('lists newest first with endpoint, status, type and time filters, a page at a time', async () => {
      const account = await makeAccount(storage);
      const a = await makeWebhook(storage, account.id, { events: ['*'] });
      const b = await makeWebhook(storage, account.id, { events: ['call.*'] });
      await publishOne(storage, account.id, 'agent.created', { now: T }); // a
      await publishOne(storage, account.id, 'call.ended', { now: T + 1000 }); // a, b
      const claimed = await claim(storage, T + 1000);
      const done = claimed.find((c) => c.eventType === 'agent.created')!;
      await complete(storage, done, { kind: 'succeeded' });
      const ids = (list: { id: string }[]) => list.map((d) => d.id);
      const page = { limit: 10, after: null };
      const all = await storage.listDeliveries(account.id, {}, page);
      expect(all).toHaveLength(3);
      expect(ids(all)).toEqual([...ids(all)].sort().reverse());

      expect(ids(await storage.listDeliveries(account.id, { webhookId: b.id }, page))).toEqual(
        ids(all.filter((d) => d.webhookId === b.id)),
      );
      expect(await storage.listDeliveries(account.id, { webhookId: a.id }, page)).toHaveLength(2);
      expect(ids(await storage.listDeliveries(account.id, { status: 'succeeded' }, page))).toEqual([
        done.deliveryId,
      ]);
      expect(await storage.listDeliveries(account.id, { status: 'pending' }, page)).toHaveLength(2);
      expect(await storage.listDeliveries(account.id, { status: 'failed' }, page)).toEqual([]);
      expect(
        ids(await storage.listDeliveries(account.id, { eventType: 'agent.created' }, page)),
      ).toEqual([done.deliveryId]);
      expect(await storage.listDeliveries(account.id, { since: T + 1000 }, page)).toHaveLength(2);
      expect(ids(await storage.listDeliveries(account.id, { until: T + 1000 }, page))).toEqual([
        done.deliveryId,
      ]);
      expect(
        await storage.listDeliveries(
          account.id,
          { webhookId: a.id, status: 'pending', eventType: 'call.ended' },
          page,
        ),
      ).toHaveLength(1);
      expect(ids(await storage.listDeliveries(account.id, {}, { limit: 2, after: null }))).toEqual(
        ids(all).slice(0, 2),
      );
      expect(
        ids(await storage.listDeliveries(account.id, {}, { limit: 2, after: all[1]!.id })),
      ).toEqual([all[2]!.id]);

      const other = await makeAccount(storage);
      expect(await storage.listDeliveries(other.id, {}, page)).toEqual([]);
      expect(await storage.getDelivery(other.id, done.deliveryId)).toBeNull();
      expect(await storage.getDelivery(account.id, 'dlv_missing')).toBeNull();
    });

    it('lists what tail asks for: deliveries made since a time, and those attempted after a cursor', async () => {
      const account = await makeAccount(storage);
      const other = await makeAccount(storage);
      const a = await makeWebhook(storage, account.id, { events: ['*'] });
      const b = await makeWebhook(storage, account.id, { events: ['call.*'] });
      await makeWebhook(storage, other.id, { events: ['*'] });
      const publishAt = (accountId: string, type: string, now: number) =>
        storage.publish({
          accountId,
          events: [newEvent(type)],
          newDeliveryId: () => newId('dlv', now),
          now,
          idempotencyWindowMs: DAY,
        });
      const changes = (at: number, after: number | null, filter = {}) =>
        storage.listDeliveryChanges(account.id, {
          ...filter,
          createdSince: at,
          createdFromId: idFloor('dlv', at),
          attemptsAfter: after,
        });
      const ids = (list: { id: string }[]) => list.map((d) => d.id).sort();
      await publishAt(account.id, 'agent.created', T); // a
      await publishAt(other.id, 'agent.created', T);
      // Without a cursor: only the cursor, and what was made since.
      const first = await changes(T + 1000, null);
      expect(first.deliveries).toEqual([]);
      const cursor = first.attemptCursor;
      await publishAt(account.id, 'call.ended', T + 1000); // a, b
      const made = await changes(T + 1000, cursor);
      expect(made.deliveries.map((d) => [d.eventType, d.status]).sort()).toEqual([
        ['call.ended', 'pending'],
        ['call.ended', 'pending'],
      ]);
      expect(made.attemptCursor).toBe(cursor);
      expect((await changes(T + 1000, cursor, { webhookId: b.id })).deliveries).toHaveLength(1);
      expect((await changes(T + 1001, cursor)).deliveries).toEqual([]);

      // The first delivery is attempted (and the other account's): found by its attempt.
      const claimed = await claim(storage, T + 2000);
      for (const c of claimed.filter((c) => c.eventType === 'agent.created')) {
        await complete(storage, c, { kind: 'succeeded' }, { now: T + 2000 });
      }
      const old = claimed.find(
        (c) => c.accountId === account.id && c.eventType === 'agent.created',
      )!;
      expect(old.webhookId).toBe(a.id);
      const tried = await changes(T + 2000, cursor);
      expect(ids(tried.deliveries)).toEqual([old.deliveryId]);
      expect(tried.deliveries[0]).toMatchObject({ status: 'succeeded', attemptCount: 1 });
      expect(tried.attemptCursor).toBeGreaterThan(cursor);
      expect((await changes(T + 2000, tried.attemptCursor)).deliveries).toEqual([]);
      // Both ways at once, each delivery once, with the filters of the log.
      const both = await changes(T + 1000, cursor);
      expect(both.deliveries).toHaveLength(3);
      expect(ids(both.deliveries)).toEqual(ids(made.deliveries.concat(tried.deliveries)));
      expect(ids((await changes(T + 1000, cursor, { status: 'succeeded' })).deliveries)).toEqual([
        old.deliveryId,
      ]);
      expect((await changes(T + 1000, cursor, { webhookId: b.id })).deliveries).toHaveLength(1);
      // A deleted endpoint's deliveries are gone from it, as from the log.
      await storage.deleteWebhook(account.id, a.id);
      expect(ids((await changes(T + 1000, cursor)).deliveries)).toEqual(
        made.deliveries.filter((d) => d.webhookId === b.id).map((d) => d.id),
      );
    });

    it('shows a delivery with its request body and every attempt, oldest first', async () => {
      const { account, delivery, event } = await oneDelivery();
      const [first] = await claim(storage, T);
      await complete(
        storage,
        first!,
        { kind: 'retry', nextAttemptAt: T + MINUTE },
        {
          now: T + 100,
          startedAt: T + 50,
          durationMs: 40,
          statusCode: null,
          error: 'connection refused',
        },
      );
      const [second] = await claim(storage, T + MINUTE);
      await complete(
        storage,
        second!,
        { kind: 'succeeded' },
        { now: T + MINUTE + 10, startedAt: T + MINUTE, durationMs: 7 },
      );

      const detail = await deliveryOf(account.id, delivery.id);
      expect(detail).toMatchObject({
        id: delivery.id,
        status: 'succeeded',
        attemptCount: 2,
        lastStatusCode: 200,
        lastDurationMs: 7,
        lastError: null,
        nextAttemptAt: null,
        updatedAt: T + MINUTE + 10,
        payload: event.payload,
      });
      expect(detail.attempts).toEqual([
        {
          deliveryId: delivery.id,
          attempt: 1,
          trigger: 'auto',
          url: 'https://example.com/hooks',
          startedAt: T + 50,
          durationMs: 40,
          statusCode: null,
          responseBody: 'boom',
          error: 'connection refused',
          requestHeaders: {
            'content-type': 'application/json',
            'x-rizler-attempt': '1',
            'x-rizler-delivery': delivery.id,
          },
        },
        {
          deliveryId: delivery.id,
          attempt: 2,
          trigger: 'auto',
          url: 'https://example.com/hooks',
          startedAt: T + MINUTE,
          durationMs: 7,
          statusCode: 200,
          responseBody: 'ok',
          error: null,
          requestHeaders: {
            'content-type': 'application/json',
            'x-rizler-attempt': '2',
            'x-rizler-delivery': delivery.id,
          },
        },
      ]);
    });

    it('keeps the headers each attempt was sent with, packed or whole, name for name', async () => {
      const { account, delivery, event } = await oneDelivery();
      const [first] = await claim(storage, T);
      const sent = signedHeaders(
        {
          url: first!.url,
          eventId: event.id,
          eventType: event.type,
          deliveryId: first!.deliveryId,
          attempt: first!.attempt,
          payload: event.payload,
          secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
          headers: { 'X-Team': 'sales' },
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
          orderingKey: 'call_42',
        },
        Math.floor((T + 5) / 1000),
      );
      const facts = { deliveryId: first!.deliveryId, attempt: first!.attempt, startedAt: T + 5 };
      const packed = storedHeaders(sent, facts);
      expect(packed.startsWith('[')).toBe(true);
      await complete(
        storage,
        first!,
        { kind: 'retry', nextAttemptAt: T + MINUTE },
        { now: T + 10, startedAt: T + 5, statusCode: 500, requestHeaders: packed },
      );
      // One kept whole: headers that are not the sender's own for the attempt.
      const [second] = await claim(storage, T + MINUTE);
      const other = { 'content-type': 'application/json', 'x-forwarded-by': 'listen' };
      await complete(
        storage,
        second!,
        { kind: 'succeeded' },
        { now: T + MINUTE + 10, startedAt: T + MINUTE, requestHeaders: storedHeaders(other) },
      );
      const { attempts } = await deliveryOf(account.id, delivery.id);
      expect(attempts.map((a) => Object.entries(a.requestHeaders))).toEqual([
        Object.entries(sent),
        Object.entries(other),
      ]);
    });
  });

  describe('claiming due deliveries', () => {
    it('leases a due delivery with everything needed to send it', async () => {
      const { account, webhook, delivery, event } = await oneDelivery();
      expect(await storage.nextDueAt()).toBe(T);
      expect(await claim(storage, T - 1)).toEqual([]);
      const claimed = await claim(storage, T, { leaseToken: 'worker-1:1' });
      expect(claimed).toEqual([
        {
          deliveryId: delivery.id,
          leaseToken: 'worker-1:1',
          accountId: account.id,
          webhookId: webhook.id,
          eventId: event.id,
          eventType: 'call.ended',
          orderingKey: null,
          url: 'https://example.com/hooks',
          payload: event.payload,
          payloadBytes: Buffer.byteLength(event.payload),
          attempt: 1,
          autoAttempts: 0,
          trigger: 'auto',
          ordered: false,
          createdAt: T,
          sealedSecrets: ['sealed:secret-1'],
          headers: {},
          traceparent: null,
          // SQLite's rowid, for the completion's seek; PostgreSQL has none.
          rowKey: engine.name === 'sqlite' ? expect.any(Number) : undefined,
        },
      ]);
      // A lease is not an attempt.
      expect(await deliveryOf(account.id, delivery.id)).toMatchObject({
        status: 'pending',
        attemptCount: 0,
        attempts: [],
      });
    });

    it('does not hand a leased delivery out again until the lease expires', async () => {
      const { delivery } = await oneDelivery();
      expect(await claim(storage, T)).toHaveLength(1);
      expect(await storage.nextDueAt()).toBe(T + LEASE_MS);
      expect(await claim(storage, T + 1)).toEqual([]);
      expect(await claim(storage, T + LEASE_MS - 1)).toEqual([]);
      // The worker died: after the lease another takes the delivery, as the same attempt.
      const again = await claim(storage, T + LEASE_MS, { leaseToken: 'second' });
      expect(again.map((c) => [c.deliveryId, c.leaseToken, c.attempt])).toEqual([
        [delivery.id, 'second', 1],
      ]);
    });

    it('takes the longest-due first, up to the limit', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      const events = [];
      for (let i = 0; i < 5; i++)
        events.push(
          await publishOne(storage, account.id, 'call.ended', { now: T + (5 - i) * 1000 }),
        );
      const first = await claim(storage, T + 10_000, { limit: 2 });
      expect(first.map((c) => c.eventId)).toEqual([events[4]!.event.id, events[3]!.event.id]);
      const rest = await claim(storage, T + 10_000, { limit: 10 });
      expect(rest.map((c) => c.eventId)).toEqual([
        events[2]!.event.id,
        events[1]!.event.id,
        events[0]!.event.id,
      ]);
    });

    it('caps the deliveries in flight per endpoint, across claims', async () => {
      const account = await makeAccount(storage);
      const busy = await makeWebhook(storage, account.id, { events: ['call.*'] });
      const quiet = await makeWebhook(storage, account.id, { events: ['agent.*'] });
      for (let i = 0; i < 5; i++) await publishOne(storage, account.id, 'call.ended');
      await publishOne(storage, account.id, 'agent.created');

      const first = await claim(storage, T, { maxInFlightPerEndpoint: 2 });
      const perEndpoint = (list: ClaimedDelivery[], id: string) =>
        list.filter((c) => c.webhookId === id).length;
      expect(perEndpoint(first, busy.id)).toBe(2);
      expect(perEndpoint(first, quiet.id)).toBe(1);
      expect(await claim(storage, T + 1, { maxInFlightPerEndpoint: 2 })).toEqual([]);
      // The capped ones are held, not due, and not attempts: nothing is due before the leases end.
      expect(await storage.nextDueAt()).toBe(T + LEASE_MS);
      const deliveries = await storage.listDeliveries(
        account.id,
        { webhookId: busy.id },
        { limit: 10, after: null },
      );
      expect(deliveries.map((d) => [d.status, d.attemptCount])).toEqual(
        Array(5).fill(['pending', 0]),
      );

      // Each finished attempt brings one back, at once, and says so.
      const woke = vi.fn();
      const off = storage.onWake(woke);
      await complete(
        storage,
        first.find((c) => c.webhookId === busy.id)!,
        { kind: 'succeeded' },
        { now: T + 2 },
      );
      await vi.waitFor(() => expect(woke).toHaveBeenCalled());
      off();
      expect(await storage.nextDueAt()).toBeLessThanOrEqual(T + 2);
      const next = await claim(storage, T + 2, { maxInFlightPerEndpoint: 2 });
      expect(next.map((c) => c.webhookId)).toEqual([busy.id]);
      expect(await claim(storage, T + 3, { maxInFlightPerEndpoint: 2 })).toEqual([]);
    });

    it('delivers a capped backlog completely as attempts finish', async () => {
      const account = await makeAccount(storage);
      const webhook = await makeWebhook(storage, account.id);
      const ids = [];
      for (let i = 0; i < 6; i++)
        ids.push((await publishOne(storage, account.id, 'call.ended')).event.id);
      const sent: string[] = [];
      let now = T;
      for (let round = 0; round < 20 && sent.length < 6; round++) {
        const claimed = await claim(storage, now, { maxInFlightPerEndpoint: 2 });
        expect(claimed.length).toBeLessThanOrEqual(2);
        for (const c of claimed) {
          sent.push(c.eventId);
          await complete(storage, c, { kind: 'succeeded' }, { now: now + 1 });
        }
        now += 10;
      }
      expect(sent.sort()).toEqual(ids.sort());
      const left = await storage.listDeliveries(
        account.id,
        { webhookId: webhook.id, status: 'pending' },
        { limit: 10, after: null },
      );
      expect(left).toEqual([]);
    });

    it('claims for the slots a completion frees in the same call', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      const ids = [];
      for (let i = 0; i < 5; i++)
        ids.push((await publishOne(storage, account.id, 'call.ended')).event.id);
      const request = (now: number, leaseToken: string) =>
        claimRequest(now, { leaseToken, limit: 10, maxInFlightPerEndpoint: 2 });
      let inFlight = await claim(storage, T, { maxInFlightPerEndpoint: 2 });
      expect(inFlight).toHaveLength(2);
      const sent = inFlight.map((c) => c.eventId);
      let now = T;
      while (inFlight.length > 0) {
        now += 10;
        const [done, ...rest] = inFlight;
        const next = await complete(
          storage,
          done!,
          { kind: 'succeeded' },
          { now, next: request(now, `refill-${now}`) },
        );
        // The freed slot is refilled at once, under the new lease, and nothing beyond the cap:
        // a claim of its own finds the endpoint full, or nothing left.
        expect(next.length).toBe(sent.length < ids.length ? 1 : 0);
        for (const c of next) expect(c.leaseToken).toBe(`refill-${now}`);
        expect(await claim(storage, now, { maxInFlightPerEndpoint: 2 })).toEqual([]);
        sent.push(...next.map((c) => c.eventId));
        inFlight = [...rest, ...next];
      }
      expect(sent.sort()).toEqual(ids.sort());
      const pending = await storage.listDeliveries(
        account.id,
        { status: 'pending' },
        { limit: 10, after: null },
      );
      expect(pending).toEqual([]);
    });

    it("brings held deliveries back after a dead worker's lease runs out", async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      for (let i = 0; i < 3; i++) await publishOne(storage, account.id, 'call.ended');
      const [dead] = await claim(storage, T, { maxInFlightPerEndpoint: 1 });
      expect(dead).toBeDefined();
      expect(await claim(storage, T + LEASE_MS - 1, { maxInFlightPerEndpoint: 1 })).toEqual([]);
      // Its worker never completes: once the lease is over the endpoint has room again.
      const after = await claim(storage, T + LEASE_MS, { maxInFlightPerEndpoint: 1 });
      expect(after).toHaveLength(1);
      await complete(storage, after[0]!, { kind: 'succeeded' }, { now: T + LEASE_MS + 1 });
      const sent = new Set([after[0]!.deliveryId]);
      for (let round = 1; round < 10; round++) {
        for (const c of await claim(storage, T + LEASE_MS + round * 10, {
          maxInFlightPerEndpoint: 1,
        })) {
          sent.add(c.deliveryId);
          await complete(storage, c, { kind: 'succeeded' }, { now: T + LEASE_MS + round * 10 + 1 });
        }
      }
      expect(sent.size).toBe(3);
    });

    it('holds deliveries beyond the rate limit back, without counting them as attempts', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id, { rateLimitPerMinute: 2 });
      for (let i = 0; i < 5; i++) await publishOne(storage, account.id, 'call.ended');

      const first = await claim(storage, T);
      expect(first).toHaveLength(2);
      // Two tokens a minute: the waiting ones are due as each token comes.
      expect(await storage.nextDueAt()).toBe(T + 30 * SECOND);
      const deliveries = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
      expect(deliveries.map((d) => [d.status, d.attemptCount])).toEqual(
        Array(5).fill(['pending', 0]),
      );

      const finish = async (list: ClaimedDelivery[], now: number) => {
        for (const c of list) await complete(storage, c, { kind: 'succeeded' }, { now });
        return list.length;
      };
      await finish(first, T + 1);
      expect(await claim(storage, T + 30 * SECOND - 1)).toEqual([]);
      expect(await finish(await claim(storage, T + 30 * SECOND), T + 30 * SECOND)).toBe(1);
      expect(await finish(await claim(storage, T + 60 * SECOND), T + 60 * SECOND)).toBe(1);
      expect(await finish(await claim(storage, T + 90 * SECOND), T + 90 * SECOND)).toBe(1);
      expect(await claim(storage, T + HOUR)).toEqual([]);
    });

    it('uses the default rate for an endpoint that sets none', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      for (let i = 0; i < 3; i++) await publishOne(storage, account.id, 'call.ended');
      expect(await claim(storage, T, { defaultRateLimitPerMinute: 1 })).toHaveLength(1);
      expect(await storage.nextDueAt()).toBe(T + MINUTE);
    });

    it('never hands out the deliveries of a disabled endpoint', async () => {
      const account = await makeAccount(storage);
      const on = await makeWebhook(storage, account.id);
      const off = await makeWebhook(storage, account.id);
      await publishOne(storage, account.id, 'call.ended');
      await storage.updateWebhook(account.id, off.id, { status: 'disabled' }, T);
      const claimed = await claim(storage, T + 1);
      expect(claimed.map((c) => c.webhookId)).toEqual([on.id]);
    });

    it('parks a delivery whose lease ran out while its endpoint was disabled', async () => {
      const { account, webhook, delivery } = await oneDelivery();
      await claim(storage, T);
      // Disabled mid-flight: the leased delivery keeps its lease, then its worker dies.
      await storage.updateWebhook(account.id, webhook.id, { status: 'disabled' }, T + 1);
      expect(await claim(storage, T + LEASE_MS)).toEqual([]);
      expect(await storage.nextDueAt()).toBeNull();
      await storage.updateWebhook(account.id, webhook.id, { status: 'enabled' }, T + 2 * LEASE_MS);
      const again = await claim(storage, T + 2 * LEASE_MS);
      expect(again.map((c) => [c.deliveryId, c.attempt, c.trigger])).toEqual([
        [delivery.id, 1, 'auto'],
      ]);
    });
  });

  describe('event bodies in the claim', () => {
    /** An event with `text` in its body, due at `now`. */
    async function publishBody(accountId: string, text: string, now = T) {
      const id = nextId('evt');
      const timestamp = '2023-11-14T22:13:20Z';
      const payload = JSON.stringify({ id, event: 'transcript.ready', timestamp, data: { text } });
      await storage.publish({
        accountId,
        events: [{ id, type: 'transcript.ready', timestamp, payload, idempotencyKey: null }],
        newDeliveryId: () => nextId('dlv'),
        now,
        idempotencyWindowMs: DAY,
      });
      return { id, payload };
    }

    it('leaves a body over inlinePayloadBytes out, with its size in bytes, for readPayloads', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      const small = await publishBody(account.id, 'short');
      // Multi-byte characters: the size is in UTF-8 bytes, not characters.
      const large = await publishBody(account.id, 'é🎧 '.repeat(3000));
      const claimed = await claim(storage, T, { inlinePayloadBytes: 4096 });
      const byEvent = new Map(claimed.map((c) => [c.eventId, c]));
      expect(byEvent.get(small.id)).toMatchObject({
        payload: small.payload,
        payloadBytes: Buffer.byteLength(small.payload),
      });
      expect(byEvent.get(large.id)).toMatchObject({
        payload: null,
        payloadBytes: Buffer.byteLength(large.payload),
      });
      const read = await storage.readPayloads([large.id, small.id, 'evt_purged']);
      expect(read.get(large.id)).toBe(large.payload);
      expect(read.get(small.id)).toBe(small.payload);
      expect(read.has('evt_purged')).toBe(false);
    });

    it('leases only the bodies that fit maxPayloadBytes, each event counted once; the rest stays due', async () => {
      const account = await makeAccount(storage);
      for (let i = 0; i < 3; i++) await makeWebhook(storage, account.id);
      const events = [];
      for (let i = 0; i < 4; i++)
        events.push(await publishBody(account.id, 'x'.repeat(10_000), T + i * SECOND));
      const size = Buffer.byteLength(events[0]!.payload);
      const first = await claim(storage, T + 10 * SECOND, { maxPayloadBytes: 2.5 * size });
      // The two oldest events to all three endpoints: six deliveries, two bodies.
      expect(first).toHaveLength(6);
      expect(new Set(first.map((c) => c.eventId))).toEqual(new Set([events[0]!.id, events[1]!.id]));
      expect(await claim(storage, T + 10 * SECOND, { maxPayloadBytes: size - 1 })).toEqual([]);
      const rest = await claim(storage, T + 10 * SECOND);
      expect(rest).toHaveLength(6);
      expect(new Set(rest.map((c) => c.eventId))).toEqual(new Set([events[2]!.id, events[3]!.id]));
    });
  });

  describe('fair share and adaptive endpoint concurrency', () => {
    it("claims another account's new delivery at once, behind a backlog of 300 in due order", async () => {
      const a = await makeAccount(storage, 'a');
      const aHook = await makeWebhook(storage, a.id);
      await publishMany(storage, a.id, 300);
      const b = await makeAccount(storage, 'b');
      const bHook = await makeWebhook(storage, b.id);
      await publishOne(storage, b.id, 'call.ended', { now: T + 1 });

      // The claim takes from each account in turn, not the head of one due order: B's
      // delivery, published after all of A's 300, goes out with A's first.
      const first = await claim(storage, T + 2, { limit: 10, maxInFlightPerEndpoint: 5 });
      expect(first.filter((c) => c.webhookId === aHook.id)).toHaveLength(5);
      expect(first.filter((c) => c.webhookId === bHook.id)).toHaveLength(1);
      // A's endpoint is at its cap: nothing of its backlog is leased, and it counts as held.
      expect(await claim(storage, T + 3, { limit: 10, maxInFlightPerEndpoint: 5 })).toEqual([]);
      const queue = await storage.queueStats(T + 3, { maxInFlightPerEndpoint: 5 });
      expect(queue.held).toBeGreaterThan(100);
      // Nothing of A's is lost: it comes back as A's attempts finish.
      let inFlight = first.filter((c) => c.webhookId === aHook.id);
      let sent = inFlight.length;
      let now = T + 10;
      while (inFlight.length > 0) {
        for (const c of inFlight) await complete(storage, c, { kind: 'succeeded' }, { now });
        now += 10;
        inFlight = await claim(storage, now, { limit: 100, maxInFlightPerEndpoint: 50 });
        sent += inFlight.length;
        now += 10;
      }
      expect(sent).toBe(300);
    });

    it('takes in turn across accounts when more is due than the claim may take', async () => {
      const a = await makeAccount(storage, 'a');
      await makeWebhook(storage, a.id);
      await makeWebhook(storage, a.id);
      await publishMany(storage, a.id, 2);
      const b = await makeAccount(storage, 'b');
      const bHook = await makeWebhook(storage, b.id);
      await publishOne(storage, b.id, 'call.ended', { now: T + 1 });
      const claimed = await claim(storage, T + 2, { limit: 3, maxInFlightPerEndpoint: 100 });
      expect(claimed).toHaveLength(3);
      expect(claimed.filter((c) => c.webhookId === bHook.id)).toHaveLength(1);
      // A's turns went to both of its endpoints.
      expect(new Set(claimed.map((c) => c.webhookId)).size).toBe(3);
    });

    it('turns through every endpoint of an account with many, a few per claim', async () => {
      // More endpoints than one claim looks at (the PostgreSQL walk looks at 32 of an
      // account's at a time): each claim goes on from where the last one stopped, so every
      // endpoint's delivery goes out, once, in as few claims as the claim size allows.
      const account = await makeAccount(storage);
      for (let i = 0; i < 50; i++) await makeWebhook(storage, account.id);
      await publishOne(storage, account.id, 'call.ended', { now: T });
      const seen = new Map<string, number>();
      let claims = 0;
      for (let i = 0; i < 20; i++) {
        const claimed = await claim(storage, T + 1 + i, { limit: 4, maxInFlightPerEndpoint: 8 });
        if (claimed.length === 0) break;
        claims++;
        for (const c of claimed) seen.set(c.webhookId, (seen.get(c.webhookId) ?? 0) + 1);
      }
      expect(seen.size).toBe(50);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
      expect(claims).toBe(13);
    });

    it('goes on past the endpoints one claim looked at when they are all at their cap', async () => {
      const account = await makeAccount(storage);
      for (let i = 0; i < 50; i++) await makeWebhook(storage, account.id);
      await publishMany(storage, account.id, 2);
      const cap = { limit: 100, maxInFlightPerEndpoint: 1 };
      // A claim may look at fewer endpoints than there are; the next one goes on from there,
      // past those now at their cap, and none is left behind.
      const first = await claim(storage, T + 1, cap);
      const second = await claim(storage, T + 2, cap);
      const hooks = new Set([...first, ...second].map((c) => c.webhookId));
      expect(hooks.size).toBe(50);
      expect(first.length + second.length).toBe(50);
      expect(await claim(storage, T + 3, cap)).toEqual([]);
    });

    it('cuts an endpoint that stops answering down to its probes, and grows it back', async () => {
      const account = await makeAccount(storage);
      const webhook = await makeWebhook(storage, account.id);
      await publishMany(storage, account.id, 14);
      const throttle = { maxConcurrency: 8, probes: 2, errorStreak: 5 };
      const cap = { maxInFlightPerEndpoint: 8 };
      const first = await claim(storage, T, cap);
      expect(first).toHaveLength(8);
      const completion = (c: ClaimedDelivery, ok: boolean, now: number) => ({
        claim: c,
        outcome: ok
          ? ({ kind: 'succeeded' } as const)
          : ({ kind: 'retry', nextAttemptAt: now + HOUR } as const),
        endpointGone: false,
        attempt: {
          deliveryId: c.deliveryId,
          attempt: c.attempt,
          trigger: c.trigger,
          url: c.url,
          startedAt: now - 10,
          durationMs: 10,
          statusCode: ok ? 200 : null,
          responseBody: null,
          error: ok ? null : 'timeout after 10000 ms',
          requestHeaders: storedHeaders({}),
        },
      });
      // Three attempts time out: 8 → 4 → 2 → 2.
      await storage.completeAttempts(
        first.slice(0, 3).map((c) => completion(c, false, T + SECOND)),
        { now: T + SECOND, autoDisableAfterMs: DAY, throttle },
      );
      const cut = await storage.getWebhook(account.id, webhook.id);
      expect(cut!.throttle).toEqual({ limit: 2, streak: 3, reason: 'timeouts', since: T + SECOND });
      // Five still in flight, above the new limit of 2: nothing more is claimed.
      expect(await claim(storage, T + 2 * SECOND, cap)).toEqual([]);
      // Every engine process reads the limit from the store: once in flight drops to one,
      // one more (a probe) goes out, not the eight the service cap would allow.
      await storage.completeAttempts(
        first.slice(3, 7).map((c) => completion(c, false, T + 3 * SECOND)),
        { now: T + 3 * SECOND, autoDisableAfterMs: DAY, throttle },
      );
      const probe = await claim(storage, T + 4 * SECOND, cap);
      expect(probe).toHaveLength(1);
      // Answers again: each success adds one, and at the maximum it is no longer throttled.
      await storage.completeAttempts(
        [first[7]!, probe[0]!].map((c) => completion(c, true, T + 5 * SECOND)),
        { now: T + 5 * SECOND, autoDisableAfterMs: DAY, throttle },
      );
      const growing = await storage.getWebhook(account.id, webhook.id);
      expect(growing!.throttle).toEqual({
        limit: 4,
        streak: 0,
        reason: 'timeouts',
        since: T + SECOND,
      });
      const wider = await claim(storage, T + 6 * SECOND, cap);
      expect(wider).toHaveLength(4);
      await storage.completeAttempts(
        wider.map((c) => completion(c, true, T + 7 * SECOND)),
        { now: T + 7 * SECOND, autoDisableAfterMs: DAY, throttle },
      );
      const back = await storage.getWebhook(account.id, webhook.id);
      expect(back!.throttle).toEqual({ limit: null, streak: 0, reason: null, since: null });
    });
  });

  describe('ordering keys', () => {
    it('keeps the key with the event and its deliveries, filters by it, and hands it to the claim', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      await makeWebhook(storage, account.id);
      const ids = [nextId('evt'), nextId('evt'), nextId('evt')];
      const keys = ['call_1', 'call_2', null];
      await storage.publish({
        accountId: account.id,
        events: ids.map((id, i) => ({
          id,
          type: 'call.ended',
          timestamp: '2023-11-14T22:13:20Z',
          payload: eventPayload(id, 'call.ended'),
          idempotencyKey: null,
          orderingKey: keys[i],
        })),
        newDeliveryId: () => nextId('dlv'),
        now: T,
        idempotencyWindowMs: DAY,
      });
      expect((await storage.getEvent(account.id, ids[0]!))!.orderingKey).toBe('call_1');
      expect((await storage.getEvent(account.id, ids[2]!))!.orderingKey).toBeNull();
      const ofCall1 = await storage.listDeliveries(
        account.id,
        { orderingKey: 'call_1' },
        { limit: 10, after: null },
      );
      expect(ofCall1).toHaveLength(2);
      for (const d of ofCall1) expect(d).toMatchObject({ eventId: ids[0], orderingKey: 'call_1' });
      const claimed = await claim(storage, T);
      expect(claimed).toHaveLength(6);
      expect(claimed.filter((c) => c.orderingKey === 'call_2').map((c) => c.eventId)).toEqual([
        ids[1],
        ids[1],
      ]);
      expect(claimed.filter((c) => c.orderingKey === null)).toHaveLength(2);
    });
  });

  describe('completing attempts', () => {
    it('records a success: finished, nothing more due', async () => {
      const { account, delivery, webhook } = await oneDelivery();
      const [claimed] = await claim(storage, T);
      await complete(storage, claimed!, { kind: 'succeeded' }, { now: T + 20, durationMs: 15 });
      expect(await deliveryOf(account.id, delivery.id)).toMatchObject({
        status: 'succeeded',
        attemptCount: 1,
        lastStatusCode: 200,
        lastDurationMs: 15,
        nextAttemptAt: null,
        updatedAt: T + 20,
      });
      expect(await storage.nextDueAt()).toBeNull();
      expect(await claim(storage, T + DAY)).toEqual([]);
      expect((await storage.getWebhook(account.id, webhook.id))!.status).toBe('enabled');
    });

    it('schedules a retry: pending, due at the next attempt, counted as an automatic attempt', async () => {
      const { account, delivery } = await oneDelivery();
      const [claimed] = await claim(storage, T);
      await complete(
        storage,
        claimed!,
        { kind: 'retry', nextAttemptAt: T + 5 * MINUTE },
        {
          now: T + 20,
          statusCode: 503,
          error: 'HTTP 503',
        },
      );
      expect(await deliveryOf(account.id, delivery.id)).toMatchObject({
        status: 'pending',
        attemptCount: 1,
        lastStatusCode: 503,
        lastError: 'HTTP 503',
        nextAttemptAt: T + 5 * MINUTE,
      });
      expect(await storage.nextDueAt()).toBe(T + 5 * MINUTE);
      expect(await claim(storage, T + 5 * MINUTE - 1)).toEqual([]);
      const [retry] = await claim(storage, T + 5 * MINUTE);
      expect(retry).toMatchObject({
        deliveryId: delivery.id,
        attempt: 2,
        autoAttempts: 1,
        trigger: 'auto',
      });
    });

    it('records a final failure: failed, nothing more due', async () => {
      const { account, delivery } = await oneDelivery();
      const [claimed] = await claim(storage, T);
      await complete(storage, claimed!, { kind: 'failed' }, { now: T + 20 });
      expect(await deliveryOf(account.id, delivery.id)).toMatchObject({
        status: 'failed',
        attemptCount: 1,
        lastStatusCode: 500,
        nextAttemptAt: null,
      });
      expect(await storage.nextDueAt()).toBeNull();
    });

    it('ignores a completion whose lease was taken over, but keeps its attempt in the log', async () => {
      const { account, delivery } = await oneDelivery();
      const [stale] = await claim(storage, T, { leaseToken: 'slow-worker' });
      const [fresh] = await claim(storage, T + LEASE_MS, { leaseToken: 'new-worker' });
      await complete(storage, stale!, { kind: 'failed' }, { now: T + LEASE_MS + 1 });
      const afterStale = await deliveryOf(account.id, delivery.id);
      expect(afterStale).toMatchObject({ status: 'pending', attemptCount: 0 });
      expect(afterStale.attempts).toHaveLength(1);
      // The current lease holder's outcome counts.
      await complete(storage, fresh!, { kind: 'succeeded' }, { now: T + LEASE_MS + 2 });
      expect(await deliveryOf(account.id, delivery.id)).toMatchObject({
        status: 'succeeded',
        attemptCount: 1,
      });
      // …and once released, the stale worker cannot overwrite it either.
      await complete(storage, stale!, { kind: 'failed' }, { now: T + LEASE_MS + 3 });
      expect((await deliveryOf(account.id, delivery.id)).status).toBe('succeeded');
    });

    // A claim may hold a delivery whose lease ran out; the late completion of that first
    // lease must clear the hold, or its own unhold would send a succeeded delivery again.
    it('never sends again a delivery that a slow worker completed after its lease ran out', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      const first = await publishOne(storage, account.id, 'call.ended');
      await publishOne(storage, account.id, 'call.ended');
      const [slow] = await claim(storage, T, { maxInFlightPerEndpoint: 1, leaseToken: 'slow' });
      expect(slow!.eventId).toBe(first.event.id);
      // The lease runs out; the next claim takes the other delivery and holds this one.
      const [other] = await claim(storage, T + LEASE_MS, { maxInFlightPerEndpoint: 1 });
      expect(other!.eventId).not.toBe(first.event.id);
      // The slow worker's attempt did succeed, and its lease was not taken over: it counts.
      await complete(storage, slow!, { kind: 'succeeded' }, { now: T + LEASE_MS + 1 });
      await complete(storage, other!, { kind: 'succeeded' }, { now: T + LEASE_MS + 2 });
      const deliveries = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
      expect(deliveries.map((d) => [d.status, d.attemptCount])).toEqual([
        ['succeeded', 1],
        ['succeeded', 1],
      ]);
      expect(await claim(storage, T + LEASE_MS + 3, { maxInFlightPerEndpoint: 1 })).toEqual([]);
      expect(await claim(storage, T + DAY, { maxInFlightPerEndpoint: 1 })).toEqual([]);
    });

    it('records several completions in one call', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      await makeWebhook(storage, account.id);
      await publishOne(storage, account.id, 'call.ended');
      const claimed = await claim(storage, T);
      expect(claimed).toHaveLength(2);
      await storage.completeAttempts(
        claimed.map((c, i) => ({
          claim: c,
          outcome: i === 0 ? { kind: 'succeeded' } : { kind: 'retry', nextAttemptAt: T + MINUTE },
          endpointGone: false,
          attempt: {
            deliveryId: c.deliveryId,
            attempt: c.attempt,
            trigger: c.trigger,
            url: c.url,
            startedAt: T,
            durationMs: 5,
            statusCode: i === 0 ? 200 : 500,
            responseBody: null,
            error: null,
            requestHeaders: storedHeaders({}),
          },
        })),
        { now: T + 1, autoDisableAfterMs: DAY },
      );
      const byId = new Map(
        (await storage.listDeliveries(account.id, {}, { limit: 10, after: null })).map((d) => [
          d.id,
          d,
        ]),
      );
      expect(byId.get(claimed[0]!.deliveryId)).toMatchObject({
        status: 'succeeded',
        attemptCount: 1,
      });
      expect(byId.get(claimed[1]!.deliveryId)).toMatchObject({
        status: 'pending',
        attemptCount: 1,
        nextAttemptAt: T + MINUTE,
      });
      await storage.completeAttempts([], { now: T, autoDisableAfterMs: DAY });
    });

    it('gives a manual retry asked for during an automatic attempt its own attempt', async () => {
      const { account, delivery } = await oneDelivery();
      const [auto] = await claim(storage, T);
      const requested = await storage.requestRetry(account.id, delivery.id, T + 10);
      expect(requested).toMatchObject({ id: delivery.id, status: 'pending' });
      // The lease still holds: no second send while the first is in flight.
      expect(await claim(storage, T + 20)).toEqual([]);

      const woke = vi.fn();
      const off = storage.onWake(woke);
      await complete(storage, auto!, { kind: 'retry', nextAttemptAt: T + HOUR }, { now: T + 30 });
      await vi.waitFor(() => expect(woke).toHaveBeenCalled());
      off();
      const [manual] = await claim(storage, T + 30);
      expect(manual).toMatchObject({
        deliveryId: delivery.id,
        trigger: 'manual',
        attempt: 2,
        autoAttempts: 1,
      });

      // A failed manual attempt leaves the delivery as it was: the automatic retry stays due.
      await complete(storage, manual!, { kind: 'unchanged' }, { now: T + 40 });
      expect(await deliveryOf(account.id, delivery.id)).toMatchObject({
        status: 'pending',
        attemptCount: 2,
        nextAttemptAt: T + HOUR,
      });
      expect(await storage.nextDueAt()).toBe(T + HOUR);
      const [resumed] = await claim(storage, T + HOUR);
      expect(resumed).toMatchObject({ trigger: 'auto', attempt: 3, autoAttempts: 1 });
    });

    it('drops a manual retry asked for mid-flight when the automatic attempt succeeds', async () => {
      const { account, delivery } = await oneDelivery();
      const [auto] = await claim(storage, T);
      await storage.requestRetry(account.id, delivery.id, T + 10);
      await complete(storage, auto!, { kind: 'succeeded' }, { now: T + 30 });
      expect((await deliveryOf(account.id, delivery.id)).status).toBe('succeeded');
      expect(await storage.nextDueAt()).toBeNull();
    });

    it('disables an endpoint that answers 410 Gone at once and parks its deliveries', async () => {
      const account = await makeAccount(storage);
      const webhook = await makeWebhook(storage, account.id);
      await publishOne(storage, account.id, 'call.ended');
      await publishOne(storage, account.id, 'call.ended');
      const [first] = await claim(storage, T, { limit: 1 });
      await complete(
        storage,
        first!,
        { kind: 'retry', nextAttemptAt: T + MINUTE },
        { now: T + 5, statusCode: 410, gone: true },
      );
      expect(await storage.getWebhook(account.id, webhook.id)).toMatchObject({
        status: 'disabled',
        disabledReason: 'gone',
        updatedAt: T + 5,
      });
      expect(await storage.nextDueAt()).toBeNull();
      expect(await claim(storage, T + DAY)).toEqual([]);
      const pending = await storage.listDeliveries(
        account.id,
        { status: 'pending' },
        { limit: 10, after: null },
      );
      expect(pending).toHaveLength(2);

      await storage.updateWebhook(account.id, webhook.id, { status: 'enabled' }, T + 2 * DAY);
      expect(await claim(storage, T + 2 * DAY)).toHaveLength(2);
    });

    it('never disables on a failing mark older than a success (a failure that raced it)', async () => {
      const account = await makeAccount(storage);
      const webhook = await makeWebhook(storage, account.id);
      for (let i = 0; i < 3; i++) await publishOne(storage, account.id, 'call.ended');
      const [d1, d2, d3] = await claim(storage, T);
      const status = async () => (await storage.getWebhook(account.id, webhook.id))!;
      await complete(storage, d1!, { kind: 'retry', nextAttemptAt: T + HOUR }, { now: T });
      await complete(storage, d2!, { kind: 'succeeded' }, { now: T + 1 });
      // On PostgreSQL a success read the endpoint unlocked while that failure committed: the
      // mark stays, as if the failure had come after the success.
      await engine.exec(`UPDATE webhooks SET failing_since = ${T} WHERE id = '${webhook.id}'`);

      await complete(
        storage,
        d3!,
        { kind: 'retry', nextAttemptAt: T + DAY + HOUR },
        { now: T + DAY + 1 },
      );
      expect(await status()).toMatchObject({ status: 'enabled', disabledReason: null });
      // Failing again from that failure: the next failures disable it a full day later.
      const [d4] = await claim(storage, T + DAY + HOUR);
      await complete(
        storage,
        d4!,
        { kind: 'retry', nextAttemptAt: T + 2 * DAY + HOUR },
        { now: T + 2 * DAY },
      );
      expect((await status()).status).toBe('enabled');
      const [d5] = await claim(storage, T + 2 * DAY + HOUR);
      await complete(
        storage,
        d5!,
        { kind: 'retry', nextAttemptAt: T + 3 * DAY },
        { now: T + 2 * DAY + 1 },
      );
      expect(await status()).toMatchObject({ status: 'disabled', disabledReason: 'failing' });
    });

    it('disables an endpoint whose every delivery has failed for longer than the limit', async () => {
      const account = await makeAccount(storage);
      const webhook = await makeWebhook(storage, account.id);
      for (let i = 0; i < 4; i++) await publishOne(storage, account.id, 'call.ended');
      const [d1, d2, d3, d4] = await claim(storage, T);
      const status = async () => (await storage.getWebhook(account.id, webhook.id))!;

      await complete(storage, d1!, { kind: 'retry', nextAttemptAt: T + HOUR }, { now: T });
      await complete(
        storage,
        d2!,
        { kind: 'retry', nextAttemptAt: T + HOUR },
        { now: T + DAY - 1 },
      );
      expect((await status()).status).toBe('enabled');
      await complete(
        storage,
        d3!,
        { kind: 'retry', nextAttemptAt: T + DAY + HOUR },
        { now: T + DAY },
      );
      expect(await status()).toMatchObject({
        status: 'disabled',
        disabledReason: 'failing',
        updatedAt: T + DAY,
      });
      // Parked: only the lease of the attempt still in flight (d4) remains to run out.
      expect(await storage.nextDueAt()).toBe(T + LEASE_MS);
      expect(await claim(storage, T + DAY + 2 * HOUR)).toEqual([]);

      // Enabled again, it gets a fresh 24 hours.
      await storage.updateWebhook(account.id, webhook.id, { status: 'enabled' }, T + 2 * DAY);
      await complete(
        storage,
        d4!,
        { kind: 'retry', nextAttemptAt: T + 3 * DAY },
        { now: T + 2 * DAY + 1 },
      );
      expect((await status()).status).toBe('enabled');
    });

    it('starts counting again after a success', async () => {
      const account = await makeAccount(storage);
      const webhook = await makeWebhook(storage, account.id);
      for (let i = 0; i < 3; i++) await publishOne(storage, account.id, 'call.ended');
      const [d1, d2, d3] = await claim(storage, T);
      await complete(storage, d1!, { kind: 'retry', nextAttemptAt: T + HOUR }, { now: T });
      await complete(storage, d2!, { kind: 'succeeded' }, { now: T + HOUR });
      await complete(storage, d3!, { kind: 'failed' }, { now: T + DAY + HOUR });
      expect((await storage.getWebhook(account.id, webhook.id))!.status).toBe('enabled');
    });

    it('does not disable an endpoint disabled by its owner for failing', async () => {
      const { account, webhook } = await oneDelivery();
      const [claimed] = await claim(storage, T);
      await storage.updateWebhook(account.id, webhook.id, { status: 'disabled' }, T + 1);
      await complete(
        storage,
        claimed!,
        { kind: 'failed' },
        { now: T + 2, gone: true, statusCode: 410 },
      );
      expect(await storage.getWebhook(account.id, webhook.id)).toMatchObject({
        status: 'disabled',
        disabledReason: 'manual',
        updatedAt: T + 1,
      });
    });

    it('records an attempt for a delivery whose endpoint was deleted meanwhile without failing', async () => {
      const { account, webhook } = await oneDelivery();
      const [claimed] = await claim(storage, T);
      await storage.deleteWebhook(account.id, webhook.id);
      await complete(storage, claimed!, { kind: 'succeeded' }, { now: T + 1 });
      expect(await storage.listDeliveries(account.id, {}, { limit: 10, after: null })).toEqual([]);
    });
  });

  describe('manual retries', () => {
    async function failedDelivery() {
      const setup = await oneDelivery();
      const [claimed] = await claim(storage, T);
      await complete(storage, claimed!, { kind: 'failed' }, { now: T + 10 });
      return setup;
    }

    it('queues one manual attempt now for a failed delivery; its failure leaves it failed', async () => {
      const { account, delivery } = await failedDelivery();
      const woke = vi.fn();
      const off = storage.onWake(woke);
      const requested = await storage.requestRetry(account.id, delivery.id, T + HOUR);
      expect(requested).toMatchObject({
        id: delivery.id,
        status: 'failed',
        attemptCount: 1,
        updatedAt: T + HOUR,
      });
      await vi.waitFor(() => expect(woke).toHaveBeenCalled());
      off();
      expect(await storage.nextDueAt()).toBe(T + HOUR);
      const [manual] = await claim(storage, T + HOUR);
      expect(manual).toMatchObject({
        deliveryId: delivery.id,
        trigger: 'manual',
        attempt: 2,
        autoAttempts: 1,
      });
      await complete(storage, manual!, { kind: 'unchanged' }, { now: T + HOUR + 1 });
      expect(await deliveryOf(account.id, delivery.id)).toMatchObject({
        status: 'failed',
        attemptCount: 2,
        nextAttemptAt: null,
      });
      expect(await storage.nextDueAt()).toBeNull();
      const detail = await deliveryOf(account.id, delivery.id);
      expect(detail.attempts.map((a) => a.trigger)).toEqual(['auto', 'manual']);
    });

    it('marks a failed delivery succeeded when the manual attempt succeeds', async () => {
      const { account, delivery } = await failedDelivery();
      await storage.requestRetry(account.id, delivery.id, T + HOUR);
      const [manual] = await claim(storage, T + HOUR);
      await complete(storage, manual!, { kind: 'succeeded' }, { now: T + HOUR + 1 });
      expect(await deliveryOf(account.id, delivery.id)).toMatchObject({
        status: 'succeeded',
        attemptCount: 2,
      });
    });

    it('answers null for an unknown delivery, another account, or one without an endpoint', async () => {
      const { account, delivery } = await failedDelivery();
      const other = await makeAccount(storage);
      expect(await storage.requestRetry(other.id, delivery.id, T)).toBeNull();
      expect(await storage.requestRetry(account.id, 'dlv_missing', T)).toBeNull();
      const deliveryId = nextId('dlv');
      const eventId = nextId('evt');
      await storage.recordTestSend({
        accountId: account.id,
        webhookId: null,
        event: {
          id: eventId,
          type: 'call.ended',
          timestamp: 'x',
          payload: eventPayload(eventId, 'call.ended'),
          idempotencyKey: null,
        },
        deliveryId,
        attempt: {
          deliveryId,
          attempt: 1,
          trigger: 'test',
          url: 'https://unsaved.example',
          startedAt: T,
          durationMs: 3,
          statusCode: 500,
          responseBody: null,
          error: null,
          requestHeaders: storedHeaders({}),
        },
        succeeded: false,
        now: T,
      });
      expect(await storage.requestRetry(account.id, deliveryId, T)).toBeNull();
    });

    it('holds a manual retry of a disabled endpoint until it is enabled', async () => {
      const { account, webhook, delivery } = await failedDelivery();
      await storage.updateWebhook(account.id, webhook.id, { status: 'disabled' }, T + 20);
      expect(await storage.requestRetry(account.id, delivery.id, T + HOUR)).toMatchObject({
        id: delivery.id,
      });
      expect(await storage.nextDueAt()).toBeNull();
      expect(await claim(storage, T + HOUR)).toEqual([]);
      await storage.updateWebhook(account.id, webhook.id, { status: 'enabled' }, T + 2 * HOUR);
      const [manual] = await claim(storage, T + 2 * HOUR);
      expect(manual).toMatchObject({ deliveryId: delivery.id, trigger: 'manual' });
    });

    it('recovers every failed delivery of an endpoint created since a time', async () => {
      const account = await makeAccount(storage);
      const webhook = await makeWebhook(storage, account.id);
      const other = await makeWebhook(storage, account.id, { events: ['agent.*'] });
      await publishOne(storage, account.id, 'call.ended', { now: T }); // old failure
      await publishOne(storage, account.id, 'call.ended', { now: T + HOUR }); // failure
      await publishOne(storage, account.id, 'call.ended', { now: T + HOUR + 1 }); // success
      await publishOne(storage, account.id, 'agent.created', { now: T + HOUR + 2 }); // both endpoints, failing
      const claimed = await claim(storage, T + 2 * HOUR);
      const events = await storage.listEvents(account.id, {}, { limit: 10, after: null });
      const succeedEvent = events.find((e) => e.createdAt === T + HOUR + 1)!.id;
      for (const c of claimed) {
        await complete(
          storage,
          c,
          c.eventId === succeedEvent ? { kind: 'succeeded' } : { kind: 'failed' },
          {
            now: T + 2 * HOUR,
          },
        );
      }
      await publishOne(storage, account.id, 'call.ended', { now: T + 3 * HOUR }); // pending

      const woke = vi.fn();
      const off = storage.onWake(woke);
      expect(await storage.recoverFailed(account.id, webhook.id, T + HOUR, T + 4 * HOUR)).toBe(2);
      await vi.waitFor(() => expect(woke).toHaveBeenCalled());
      off();
      // Already queued: not counted twice.
      expect(await storage.recoverFailed(account.id, webhook.id, T + HOUR, T + 4 * HOUR)).toBe(0);
      const queued = await claim(storage, T + 4 * HOUR);
      const manual = queued.filter((c) => c.trigger === 'manual');
      expect(manual).toHaveLength(2);
      expect(manual.every((c) => c.webhookId === webhook.id)).toBe(true);
      // The other endpoint's failure and the older failure stay as they were.
      expect(await storage.recoverFailed(account.id, other.id, T + 5 * HOUR, T + 5 * HOUR)).toBe(0);
      const stranger = await makeAccount(storage);
      expect(await storage.recoverFailed(stranger.id, other.id, T, T + 5 * HOUR)).toBe(0);
      expect(await storage.recoverFailed(account.id, other.id, T, T + 5 * HOUR)).toBe(1);
    });

    it('recovers the failures of a disabled endpoint when it is enabled again', async () => {
      const { account, webhook, delivery } = await failedDelivery();
      await storage.updateWebhook(account.id, webhook.id, { status: 'disabled' }, T + 20);
      expect(await storage.recoverFailed(account.id, webhook.id, T, T + HOUR)).toBe(1);
      expect(await claim(storage, T + HOUR)).toEqual([]);
      await storage.updateWebhook(account.id, webhook.id, { status: 'enabled' }, T + 2 * HOUR);
      expect((await claim(storage, T + 2 * HOUR)).map((c) => [c.deliveryId, c.trigger])).toEqual([
        [delivery.id, 'manual'],
      ]);
    });
  });

  describe('test sends', () => {
    it('logs a test send as a finished delivery with one attempt, never due', async () => {
      const account = await makeAccount(storage);
      const webhook = await makeWebhook(storage, account.id);
      const eventId = nextId('evt');
      const deliveryId = nextId('dlv');
      const payload = eventPayload(eventId, 'call.ended');
      await storage.recordTestSend({
        accountId: account.id,
        webhookId: webhook.id,
        event: {
          id: eventId,
          type: 'call.ended',
          timestamp: '2023-11-14T22:13:20Z',
          payload,
          idempotencyKey: null,
        },
        deliveryId,
        attempt: {
          deliveryId,
          attempt: 1,
          trigger: 'test',
          url: 'https://example.com/hooks',
          startedAt: T + 1,
          durationMs: 33,
          statusCode: 204,
          responseBody: '',
          error: null,
          requestHeaders: storedHeaders({ 'x-rizler-event': 'call.ended' }),
        },
        succeeded: true,
        now: T + 2,
      });
      expect(await storage.getEvent(account.id, eventId)).toEqual({
        id: eventId,
        accountId: account.id,
        type: 'call.ended',
        timestamp: '2023-11-14T22:13:20Z',
        payload,
        // a test send is outside any order (SPEC §10)
        orderingKey: null,
        test: true,
        traceparent: null,
        createdAt: T + 2,
      });
      const detail = await deliveryOf(account.id, deliveryId);
      expect(detail).toMatchObject({
        webhookId: webhook.id,
        eventId,
        status: 'succeeded',
        attemptCount: 1,
        lastStatusCode: 204,
        lastDurationMs: 33,
        nextAttemptAt: null,
        test: true,
        createdAt: T + 2,
        payload,
      });
      expect(detail.attempts).toEqual([
        {
          deliveryId,
          attempt: 1,
          trigger: 'test',
          url: 'https://example.com/hooks',
          startedAt: T + 1,
          durationMs: 33,
          statusCode: 204,
          responseBody: '',
          error: null,
          requestHeaders: { 'x-rizler-event': 'call.ended' },
        },
      ]);
      expect(
        (
          await storage.listDeliveries(
            account.id,
            { webhookId: webhook.id },
            { limit: 10, after: null },
          )
        )[0],
      ).toMatchObject({
        id: deliveryId,
        test: true,
      });
      expect(await storage.nextDueAt()).toBeNull();
      expect(await claim(storage, T + DAY)).toEqual([]);
    });
  });

  describe('stats', () => {
    /** Stats with each bucket's histogram as its stored counts, for toEqual. */
    function plain(stats: WebhookStats) {
      return {
        ...stats,
        buckets: stats.buckets.map((b) => ({ ...b, durations: b.durations.toJSON() })),
      };
    }
    function histogram(...durations: number[]) {
      const h = new DurationHistogram();
      for (const ms of durations) h.add(ms);
      return h.toJSON();
    }

    it('counts deliveries by status and attempt times in buckets from `since`', async () => {
      // Windows start on the hour (the API aligns them); rollups are kept per 5 minutes.
      const S = Math.ceil(T / HOUR) * HOUR;
      const account = await makeAccount(storage);
      const webhook = await makeWebhook(storage, account.id);
      const before = await publishOne(storage, account.id, 'call.ended', { now: S - HOUR });
      const ok = await publishOne(storage, account.id, 'call.ended', { now: S + 10 * MINUTE });
      const bad = await publishOne(storage, account.id, 'call.ended', { now: S + 20 * MINUTE });
      const waiting = await publishOne(storage, account.id, 'call.ended', { now: S + 70 * MINUTE });
      const claimed = await claim(storage, S + 70 * MINUTE);
      const of = (event: { event: { id: string } }) =>
        claimed.find((c) => c.eventId === event.event.id)!;
      await complete(
        storage,
        of(before),
        { kind: 'succeeded' },
        { now: S + 71 * MINUTE, startedAt: S - 100, durationMs: 5 },
      );
      await complete(
        storage,
        of(ok),
        { kind: 'succeeded' },
        { now: S + 71 * MINUTE, startedAt: S + 17 * MINUTE, durationMs: 30 },
      );
      await complete(
        storage,
        of(bad),
        { kind: 'failed' },
        { now: S + 71 * MINUTE, startedAt: S + 22 * MINUTE, durationMs: 10 },
      );
      await complete(
        storage,
        of(waiting),
        { kind: 'retry', nextAttemptAt: S + DAY },
        {
          now: S + 72 * MINUTE,
          startedAt: S + 72 * MINUTE,
          durationMs: 20,
        },
      );

      const stats = await storage.webhookStats({
        accountId: account.id,
        webhookId: webhook.id,
        since: S,
        bucketMs: HOUR,
      });
      expect(plain(stats)).toEqual({
        succeeded: 1,
        failed: 1,
        pending: 1,
        lastDeliveryAt: S + 72 * MINUTE,
        buckets: [
          { start: S, succeeded: 1, failed: 1, pending: 0, durations: histogram(10, 30) },
          { start: S + HOUR, succeeded: 0, failed: 0, pending: 1, durations: histogram(20) },
        ],
      });
      const other = await makeAccount(storage);
      expect(
        await storage.webhookStats({
          accountId: other.id,
          webhookId: webhook.id,
          since: S,
          bucketMs: HOUR,
        }),
      ).toEqual({
        succeeded: 0,
        failed: 0,
        pending: 0,
        lastDeliveryAt: null,
        buckets: [],
      });
    });
    it('moves a delivery between the counts as its status changes, and counts test sends', async () => {
      const S = Math.ceil(T / HOUR) * HOUR;
      const account = await makeAccount(storage);
      const webhook = await makeWebhook(storage, account.id);
      const one = await publishOne(storage, account.id, 'call.ended', { now: S });
      const two = await publishOne(storage, account.id, 'call.ended', { now: S });
      const stats = async () => {
        const s = await storage.webhookStats({
          accountId: account.id,
          webhookId: webhook.id,
          since: S,
          bucketMs: HOUR,
        });
        const all = new DurationHistogram();
        for (const b of s.buckets) all.merge(b.durations);
        return {
          succeeded: s.succeeded,
          failed: s.failed,
          pending: s.pending,
          attempts: all.total,
        };
      };
      expect(await stats()).toEqual({ succeeded: 0, failed: 0, pending: 2, attempts: 0 });
      const claimed = await claim(storage, S);
      const first = claimed.find((c) => c.eventId === one.event.id)!;
      const second = claimed.find((c) => c.eventId === two.event.id)!;
      await complete(storage, first, { kind: 'failed' }, { now: S + 1 });
      // A completion whose lease was lost changes no status, but its attempt was made.
      await complete(
        storage,
        { ...second, leaseToken: 'lost' },
        { kind: 'succeeded' },
        {
          now: S + 2,
        },
      );
      expect(await stats()).toEqual({ succeeded: 0, failed: 1, pending: 1, attempts: 2 });
      // A manual retry of the failed delivery that succeeds moves it from failed to succeeded.
      await storage.requestRetry(account.id, first.deliveryId, S + MINUTE);
      const mine = async (now: number) =>
        (await claim(storage, now)).find((c) => c.deliveryId === first.deliveryId);
      const manual = await mine(S + MINUTE);
      expect(manual!.trigger).toBe('manual');
      await complete(storage, manual!, { kind: 'unchanged' }, { now: S + MINUTE });
      expect(await stats()).toEqual({ succeeded: 0, failed: 1, pending: 1, attempts: 3 });
      await storage.requestRetry(account.id, first.deliveryId, S + 2 * MINUTE);
      const again = await mine(S + 2 * MINUTE);
      await complete(storage, again!, { kind: 'succeeded' }, { now: S + 2 * MINUTE });
      expect(await stats()).toEqual({ succeeded: 1, failed: 0, pending: 1, attempts: 4 });
      // Another manual success of a succeeded delivery counts its attempt only.
      await storage.requestRetry(account.id, first.deliveryId, S + 3 * MINUTE);
      const repeat = await mine(S + 3 * MINUTE);
      await complete(storage, repeat!, { kind: 'succeeded' }, { now: S + 3 * MINUTE });
      expect(await stats()).toEqual({ succeeded: 1, failed: 0, pending: 1, attempts: 5 });
      // A test send to the endpoint counts as a delivery, as it is listed as one.
      const eventId = nextId('evt');
      const deliveryId = nextId('dlv');
      await storage.recordTestSend({
        accountId: account.id,
        webhookId: webhook.id,
        event: {
          id: eventId,
          type: 'call.ended',
          timestamp: 'x',
          payload: eventPayload(eventId, 'call.ended'),
          idempotencyKey: null,
        },
        deliveryId,
        attempt: {
          deliveryId,
          attempt: 1,
          trigger: 'test',
          url: webhook.url,
          startedAt: S + 4 * MINUTE,
          durationMs: 7,
          statusCode: 500,
          responseBody: null,
          error: null,
          requestHeaders: storedHeaders({}),
        },
        succeeded: false,
        now: S + 4 * MINUTE,
      });
      expect(await stats()).toEqual({ succeeded: 1, failed: 1, pending: 1, attempts: 6 });
    });

    it('keeps stats for slots whose attempts retention purged, until the slots expire too', async () => {
      const S = Math.ceil(T / HOUR) * HOUR;
      const account = await makeAccount(storage);
      const webhook = await makeWebhook(storage, account.id);
      await publishOne(storage, account.id, 'call.ended', { now: S });
      const [first] = await claim(storage, S);
      await complete(
        storage,
        first!,
        { kind: 'retry', nextAttemptAt: S + 2 * HOUR },
        {
          now: S,
          durationMs: 40,
        },
      );
      const [second] = await claim(storage, S + 2 * HOUR);
      await complete(
        storage,
        second!,
        { kind: 'succeeded' },
        {
          now: S + 2 * HOUR,
          durationMs: 20,
        },
      );
      const read = (since: number) =>
        storage.webhookStats({
          accountId: account.id,
          webhookId: webhook.id,
          since,
          bucketMs: HOUR,
        });
      expect((await read(S)).succeeded).toBe(1);
      // The delivery was created before the cutoff: it goes with both its attempts, and so does
      // the rollup of its creation's slot; the slot of its second attempt is newer and stays.
      const purged = await storage.purge(S + HOUR, 100);
      expect(purged).toMatchObject({ deliveries: 1, attempts: 2, rollups: 1 });
      expect(await storage.listDeliveries(account.id, {}, { limit: 10, after: null })).toEqual([]);
      const kept = await read(S);
      expect(kept.succeeded).toBe(0);
      expect(kept.lastDeliveryAt).toBe(S + 2 * HOUR);
      expect(kept.buckets.map((b) => [b.start, b.durations.percentile(50)])).toEqual([
        [S + 2 * HOUR, 20],
      ]);
      expect(await storage.purge(S + 3 * HOUR, 100)).toMatchObject({ rollups: 1 });
      expect(await read(S)).toEqual({
        succeeded: 0,
        failed: 0,
        pending: 0,
        lastDeliveryAt: null,
        buckets: [],
      });
    });
  });

  describe('hand-off at publish', () => {
    /** A worker's offer, as DeliveryWorker.offer makes it, recording what it is given. */
    function offer(options: Partial<Omit<ClaimRequest, 'now'>> & { now?: number } = {}) {
      const taken: ClaimedDelivery[][] = [];
      const handoff: Handoff = {
        request: claimRequest(options.now ?? T, {
          leaseToken: options.leaseToken ?? 'handoff-1',
          limit: options.limit ?? 10,
          maxInFlightPerEndpoint: options.maxInFlightPerEndpoint ?? 100,
        }),
        take: (leased) => taken.push(leased),
        release: () => {},
      };
      return { handoff, taken };
    }

    it('leases the fresh deliveries for the worker that offered, by the claim rules', async () => {
      const account = await makeAccount(storage);
      const capped = await makeWebhook(storage, account.id);
      const woke = vi.fn();
      const off = storage.onWake(woke);
      const { handoff, taken } = offer({ maxInFlightPerEndpoint: 2 });
      const published = await publishMany(storage, account.id, 3, { handoff });
      // Once, after the commit: the cap's two, in publish order, under the offer's lease.
      expect(taken).toHaveLength(1);
      expect(taken[0]!.map((c) => [c.eventId, c.leaseToken, c.attempt, c.webhookId])).toEqual(
        published.slice(0, 2).map((p) => [p.event.id, 'handoff-1', 1, capped.id]),
      );
      expect(taken[0]![0]!.payload).toBe(published[0]!.event.payload);
      // The third stays due, and the workers hear of it; the two are leased, not due.
      await vi.waitFor(() => expect(woke).toHaveBeenCalledWith(true));
      off();
      expect(await claim(storage, T + 1, { maxInFlightPerEndpoint: 2 })).toEqual([]);
      const third = await claim(storage, T + 1, { maxInFlightPerEndpoint: 3 });
      expect(third.map((c) => c.eventId)).toEqual([published[2]!.event.id]);
      expect(await claim(storage, T + LEASE_MS - 1)).toEqual([]);
    });

    it('wakes no worker when it took every fresh delivery, but tells the streams', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      const woke = vi.fn();
      const off = storage.onWake(woke);
      const { handoff, taken } = offer();
      await publishOne(storage, account.id, 'call.ended', { handoff });
      expect(taken.flat()).toHaveLength(1);
      await vi.waitFor(() => expect(woke).toHaveBeenCalled());
      off();
      expect(woke.mock.calls).toEqual([[false]]);
    });

    it("keeps an endpoint's older deliveries due first, and reads no other endpoint's", async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id, { events: ['call.*'] });
      const idle = await makeWebhook(storage, account.id, { events: ['agent.*'] });
      const other = await makeAccount(storage);
      await makeWebhook(storage, other.id);
      const otherBacklog = await publishOne(storage, other.id, 'call.ended', { now: T - 20 });
      const backlog = await publishOne(storage, account.id, 'call.ended', { now: T - 10 });
      const first = offer();
      const fresh = await publishOne(storage, account.id, 'call.ended', {
        handoff: first.handoff,
      });
      const second = offer({ leaseToken: 'handoff-2' });
      const agent = await publishOne(storage, account.id, 'agent.created', {
        handoff: second.handoff,
      });
      if (engine.name === 'sqlite') {
        // Behind a backlog, the fresh delivery waits its turn in due order: nothing is taken;
        // the worker, at its cap or on its way, has the backlog in hand.
        expect(first.taken).toEqual([[]]);
      } else {
        // PostgreSQL's hand-off takes the backlog first, then the fresh delivery: one left due
        // while a claim held its endpoint would otherwise hold back every publish after it.
        expect(first.taken.flat().map((c) => c.eventId)).toEqual([
          backlog.event.id,
          fresh.event.id,
        ]);
      }
      // An endpoint with nothing older due has its fresh delivery taken.
      expect(second.taken.flat().map((c) => [c.eventId, c.webhookId])).toEqual([
        [agent.event.id, idle.id],
      ]);
      // Another account's backlog is not read.
      const rest = await claim(storage, T);
      expect(rest.map((c) => c.eventId).sort()).toEqual(
        (engine.name === 'sqlite'
          ? [otherBacklog.event.id, backlog.event.id, fresh.event.id]
          : [otherBacklog.event.id]
        ).sort(),
      );
    });

    it('takes nothing for a duplicate publish', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      await publishOne(storage, account.id, 'call.ended', { idempotencyKey: 'k-1' });
      const { handoff, taken } = offer();
      const again = await publishOne(storage, account.id, 'call.ended', {
        idempotencyKey: 'k-1',
        handoff,
      });
      expect(again.duplicate).toBe(true);
      expect(taken.flat()).toEqual([]);
    });
  });

  describe('wake-ups', () => {
    it('calls listeners after a publish that made deliveries, until they unsubscribe', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      const woke = vi.fn();
      // A listener that stays subscribed is the signal that a wake-up went out: by the time it
      // is called, the one that unsubscribed would have been too. (Subscribed from the start,
      // so the engine keeps listening throughout.)
      const witness = vi.fn();
      const offWitness = storage.onWake(witness);
      const off = storage.onWake(woke);
      await publishOne(storage, account.id, 'call.ended');
      await vi.waitFor(() => expect(woke).toHaveBeenCalled());
      await vi.waitFor(() => expect(witness).toHaveBeenCalled());
      off();
      const calls = woke.mock.calls.length;
      const witnessed = witness.mock.calls.length;
      await publishOne(storage, account.id, 'call.ended');
      await vi.waitFor(() => expect(witness.mock.calls.length).toBeGreaterThan(witnessed));
      offWitness();
      expect(woke.mock.calls.length).toBe(calls);
    });

    it('tells the earliest due time, or null', async () => {
      expect(await storage.nextDueAt()).toBeNull();
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      await publishOne(storage, account.id, 'call.ended', { now: T + 50 });
      await publishOne(storage, account.id, 'call.ended', { now: T + 20 });
      expect(await storage.nextDueAt()).toBe(T + 20);
    });
  });

  describe('purge', () => {
    it('deletes finished deliveries, their attempts and their events older than the cutoff', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id);
      const done = await publishOne(storage, account.id, 'call.ended', { now: T });
      const failed = await publishOne(storage, account.id, 'call.ended', { now: T });
      const pending = await publishOne(storage, account.id, 'call.ended', { now: T });
      const empty = await publishOne(storage, account.id, 'call.ended', {
        now: T,
        id: nextId('evt'),
      });
      const claimed = await claim(storage, T);
      const of = (event: { event: { id: string } }) =>
        claimed.find((c) => c.eventId === event.event.id)!;
      await complete(storage, of(done), { kind: 'succeeded' }, { now: T });
      await complete(storage, of(failed), { kind: 'retry', nextAttemptAt: T + 1 }, { now: T });
      const [again] = await claim(storage, T + 1);
      await complete(storage, again!, { kind: 'failed' }, { now: T + 1 });
      await complete(
        storage,
        of(pending),
        { kind: 'retry', nextAttemptAt: T + 40 * DAY },
        { now: T },
      );
      await complete(storage, of(empty), { kind: 'succeeded' }, { now: T });
      const recent = await publishOne(storage, account.id, 'call.ended', { now: T + 20 * DAY });
      const [recentClaim] = await claim(storage, T + 20 * DAY);
      await complete(storage, recentClaim!, { kind: 'succeeded' }, { now: T + 20 * DAY });

      // The failed delivery was exhausted: its delivery.exhausted (SPEC §11) is an event of the
      // account too, with no delivery (nothing subscribes to it), and as old as the failure.
      const [exhausted, ...more] = await storage.listEvents(
        account.id,
        { eventType: 'delivery.exhausted' },
        { limit: 10, after: null },
      );
      expect(more).toEqual([]);
      expect(exhausted!.createdAt).toBe(T + 1);

      const cutoff = T + 10 * DAY;
      let total = { events: 0, deliveries: 0, attempts: 0, rollups: 0 };
      for (let round = 0; round < 20; round++) {
        const result = await storage.purge(cutoff, 1);
        expect(result.events).toBeLessThanOrEqual(1);
        expect(result.deliveries).toBeLessThanOrEqual(1);
        expect(result.attempts).toBeLessThanOrEqual(1);
        expect(result.rollups).toBeLessThanOrEqual(1);
        total = {
          events: total.events + result.events,
          deliveries: total.deliveries + result.deliveries,
          attempts: total.attempts + result.attempts,
          rollups: total.rollups + result.rollups,
        };
        if (result.events + result.deliveries + result.attempts + result.rollups === 0) break;
      }
      // One stats rollup row: the endpoint's 5 minutes at T; four events with delivery.exhausted.
      expect(total).toEqual({ events: 4, deliveries: 3, attempts: 4, rollups: 1 });
      expect(await storage.getEvent(account.id, exhausted!.id)).toBeNull();
      expect(await storage.getEvent(account.id, done.event.id)).toBeNull();
      expect(await storage.getEvent(account.id, failed.event.id)).toBeNull();
      expect(await storage.getEvent(account.id, pending.event.id)).not.toBeNull();
      expect(await storage.getEvent(account.id, recent.event.id)).not.toBeNull();
      const left = await storage.listDeliveries(account.id, {}, { limit: 10, after: null });
      expect(left.map((d) => d.eventId).sort()).toEqual([pending.event.id, recent.event.id].sort());
      expect(await storage.purge(cutoff, 100)).toEqual({
        events: 0,
        deliveries: 0,
        attempts: 0,
        rollups: 0,
      });
    });
  });

  describe('endpoint controls', () => {
    /** Publishes one call.ended with this `data` (and a trace context), as the API would. */
    async function publishData(accountId: string, data: unknown, now = T) {
      const id = nextId('evt');
      const [published] = await storage.publish({
        accountId,
        events: [
          {
            id,
            type: 'call.ended',
            timestamp: '2023-11-14T22:13:20Z',
            payload: JSON.stringify({ id, event: 'call.ended', timestamp: 'x', data }),
            idempotencyKey: null,
            traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
          },
        ],
        newDeliveryId: () => nextId('dlv'),
        now,
        idempotencyWindowMs: DAY,
      });
      return published!;
    }

    it('stores custom headers and a filter with the webhook; a patch changes only what it names', async () => {
      const account = await makeAccount(storage);
      const created = await makeWebhook(storage, account.id, {
        headers: { 'X-Team': 'sales', Authorization: 'Bearer abc' },
        filter: { data: { direction: 'inbound', duration: { $gte: 60 } } },
      });
      expect(created.headers).toEqual({ 'X-Team': 'sales', Authorization: 'Bearer abc' });
      expect(Object.keys(created.headers)).toEqual(['X-Team', 'Authorization']);
      expect(created.filter).toEqual({ data: { direction: 'inbound', duration: { $gte: 60 } } });
      const plain = await makeWebhook(storage, account.id);
      expect(plain.headers).toEqual({});
      expect(plain.filter).toBeNull();

      const described = await storage.updateWebhook(
        account.id,
        created.id,
        { description: 'sales' },
        T + 1,
      );
      expect(described!.headers).toEqual(created.headers);
      expect(described!.filter).toEqual(created.filter);
      const cleared = await storage.updateWebhook(
        account.id,
        created.id,
        { headers: {}, filter: null },
        T + 2,
      );
      expect(cleared!.headers).toEqual({});
      expect(cleared!.filter).toBeNull();
    });

    it('fans an event out only to the endpoints whose filter holds, and counts only those', async () => {
      const account = await makeAccount(storage);
      const long = await makeWebhook(storage, account.id, {
        filter: { data: { duration: { $gte: 60 } } },
      });
      const sales = await makeWebhook(storage, account.id, {
        filter: { data: { queue_id: { $startsWith: 'queue_sales' } } },
      });
      const all = await makeWebhook(storage, account.id);

      const short = await publishData(account.id, { duration: 5, queue_id: 'queue_sales' });
      expect(short.deliveries).toBe(2);
      const longCall = await publishData(account.id, { duration: 90, queue_id: 'queue_support' });
      expect(longCall.deliveries).toBe(2);
      const byEvent = async (eventId: string) =>
        (await storage.listDeliveries(account.id, {}, { limit: 50, after: null }))
          .filter((d) => d.eventId === eventId)
          .map((d) => d.webhookId)
          .sort();
      expect(await byEvent(short.event.id)).toEqual([sales.id, all.id].sort());
      expect(await byEvent(longCall.event.id)).toEqual([long.id, all.id].sort());

      // A changed filter applies from the next publish on.
      await storage.updateWebhook(account.id, long.id, { filter: null }, T + 1);
      const after = await publishData(account.id, { duration: 5, queue_id: 'queue_x' }, T + 2);
      expect(await byEvent(after.event.id)).toEqual([long.id, all.id].sort());
    });

    it('claims a delivery with its endpoint headers and its event trace context', async () => {
      const account = await makeAccount(storage);
      await makeWebhook(storage, account.id, { headers: { 'X-Team': 'sales' } });
      const published = await publishData(account.id, { duration: 1 });
      expect(published.event.traceparent).toBe(
        '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      );
      expect((await storage.getEvent(account.id, published.event.id))!.traceparent).toBe(
        published.event.traceparent,
      );
      const [claimed] = await claim(storage, T);
      expect(claimed!.headers).toEqual({ 'X-Team': 'sales' });
      expect(claimed!.traceparent).toBe(published.event.traceparent);
    });
  });

  describe('operational events', () => {
    async function eventsOf(accountId: string, type: string) {
      const events = await storage.listEvents(
        accountId,
        { eventType: type },
        { limit: 50, after: null },
      );
      return events.map((e) => ({ ...e, body: JSON.parse(e.payload) }));
    }
    async function deliveriesOf(accountId: string, eventId: string) {
      return (await storage.listDeliveries(accountId, {}, { limit: 100, after: null })).filter(
        (d) => d.eventId === eventId,
      );
    }

    it('publishes webhook.disabled and webhook.enabled with the change, to subscribers only (not *)', async () => {
      const account = await makeAccount(storage);
      const watched = await makeWebhook(storage, account.id, { events: ['call.*'] });
      const ops = await makeWebhook(storage, account.id, { events: ['webhook.*'] });
      await makeWebhook(storage, account.id, { events: ['*'] });

      await storage.updateWebhook(account.id, watched.id, { status: 'disabled' }, T + 1);
      const [disabled] = await eventsOf(account.id, 'webhook.disabled');
      expect(disabled!.body.data).toEqual({
        webhook_id: watched.id,
        url: watched.url,
        reason: 'manual',
      });
      expect((await deliveriesOf(account.id, disabled!.id)).map((d) => d.webhookId)).toEqual([
        ops.id,
      ]);
      // A patch that leaves the status alone publishes nothing.
      await storage.updateWebhook(account.id, watched.id, { description: 'x' }, T + 2);
      await storage.updateWebhook(account.id, watched.id, { status: 'enabled' }, T + 3);
      expect(await eventsOf(account.id, 'webhook.disabled')).toHaveLength(1);
      const [enabled] = await eventsOf(account.id, 'webhook.enabled');
      expect(enabled!.body.data).toEqual({ webhook_id: watched.id, url: watched.url });
      expect((await deliveriesOf(account.id, enabled!.id)).map((d) => d.webhookId)).toEqual([
        ops.id,
      ]);
      const claimed = await claim(storage, T + 3);
      expect(claimed.map((c) => c.eventType)).toEqual(['webhook.disabled', 'webhook.enabled']);
    });

    it('publishes one webhook.disabled when an endpoint is disabled automatically', async () => {
      const account = await makeAccount(storage);
      const failing = await makeWebhook(storage, account.id, { events: ['call.ended'] });
      const ops = await makeWebhook(storage, account.id, { events: ['webhook.disabled'] });
      await publishOne(storage, account.id, 'call.ended');
      await publishOne(storage, account.id, 'call.ended');
      const claimed = await claim(storage, T);
      expect(claimed).toHaveLength(2);
      // Both attempts answer 410: one disable, one event.
      for (const c of claimed) {
        await complete(
          storage,
          c,
          { kind: 'retry', nextAttemptAt: T + MINUTE },
          { gone: true, statusCode: 410 },
        );
      }
      const events = await eventsOf(account.id, 'webhook.disabled');
      expect(events).toHaveLength(1);
      expect(events[0]!.body.data).toEqual({
        webhook_id: failing.id,
        url: failing.url,
        reason: 'gone',
      });
      const deliveries = await deliveriesOf(account.id, events[0]!.id);
      expect(deliveries.map((d) => d.webhookId)).toEqual([ops.id]);
    });

    it('publishes one delivery.exhausted when a delivery fails for good, never about its own delivery', async () => {
      const account = await makeAccount(storage);
      const target = await makeWebhook(storage, account.id, { events: ['call.ended'] });
      const ops = await makeWebhook(storage, account.id, {
        events: ['delivery.exhausted'],
        url: 'https://ops.example.com/',
      });
      await publishOne(storage, account.id, 'call.ended');
      const [first] = await claim(storage, T);
      await complete(storage, first!, { kind: 'retry', nextAttemptAt: T + 1 }, { statusCode: 503 });
      expect(await eventsOf(account.id, 'delivery.exhausted')).toHaveLength(0);
      const [second] = await claim(storage, T + 1);
      await complete(
        storage,
        second!,
        { kind: 'failed' },
        { now: T + 1, statusCode: 503, error: 'the receiver answered HTTP 503' },
      );
      const [exhausted] = await eventsOf(account.id, 'delivery.exhausted');
      expect(exhausted!.body.data).toEqual({
        delivery_id: first!.deliveryId,
        webhook_id: target.id,
        event_id: first!.eventId,
        event: 'call.ended',
        attempts: 2,
        last_status_code: 503,
        last_error: 'the receiver answered HTTP 503',
      });
      // A repeated completion of the same lease changes nothing and publishes nothing.
      await complete(storage, second!, { kind: 'failed' }, { now: T + 1 });
      expect(await eventsOf(account.id, 'delivery.exhausted')).toHaveLength(1);

      // The operational event's own delivery fails for good: no event about it.
      const [opsClaim] = await claim(storage, T + 1);
      expect(opsClaim!.webhookId).toBe(ops.id);
      expect(opsClaim!.eventType).toBe('delivery.exhausted');
      await complete(storage, opsClaim!, { kind: 'failed' }, { now: T + 2 });
      expect(await eventsOf(account.id, 'delivery.exhausted')).toHaveLength(1);
    });

    it("copies every account's operational events to the operator's endpoint, with account_id", async () => {
      const a = await makeAccount(storage, 'a');
      const b = await makeAccount(storage, 'b');
      const wa = await makeWebhook(storage, a.id, { events: ['call.ended'] });
      const wb = await makeWebhook(storage, b.id, { events: ['call.ended'] });
      await storage.configureOperatorWebhook(
        { url: 'https://operator.example.com/hooks', sealedSecret: 'sealed:op' },
        T,
      );
      await storage.updateWebhook(a.id, wa.id, { status: 'disabled' }, T + 1);
      await storage.updateWebhook(b.id, wb.id, { status: 'disabled' }, T + 2);
      const copies = await eventsOf('acc_operator', 'webhook.disabled');
      expect(copies.map((e) => e.body.data.account_id).sort()).toEqual([a.id, b.id].sort());
      expect(copies.find((e) => e.body.data.account_id === a.id)!.body.data).toEqual({
        webhook_id: wa.id,
        url: wa.url,
        reason: 'manual',
        account_id: a.id,
      });
      const claimed = await claim(storage, T + 2);
      expect(claimed.map((c) => c.webhookId)).toEqual(['wh_operator', 'wh_operator']);
      expect(claimed[0]!.url).toBe('https://operator.example.com/hooks');
      expect(claimed[0]!.sealedSecrets).toEqual(['sealed:op']);
      // The accounts' own events carry no account_id, and no endpoint of theirs subscribed.
      const [own] = await eventsOf(a.id, 'webhook.disabled');
      expect(own!.body.data.account_id).toBeUndefined();

      // Turned off: no more copies; on again at another URL: what waited goes there.
      await storage.configureOperatorWebhook(null, T + 3);
      await storage.updateWebhook(a.id, wa.id, { status: 'enabled' }, T + 4);
      expect(await eventsOf('acc_operator', 'webhook.enabled')).toHaveLength(0);
      await storage.configureOperatorWebhook(
        { url: 'https://operator2.example.com/', sealedSecret: 'sealed:op2' },
        T + 5,
      );
      const later = await claim(storage, T + 5);
      expect(later.map((c) => [c.webhookId, c.url])).toEqual([]);
      const waiting = await storage.listDeliveries(
        'acc_operator',
        { status: 'pending' },
        { limit: 10, after: null },
      );
      expect(waiting).toHaveLength(2);
      expect(waiting.every((d) => d.url === 'https://operator2.example.com/')).toBe(true);
    });
  });

  describe('throttled backlog', () => {
    it('tells when the longest-throttled delivery fell due: held at the cap or put off by the rate', async () => {
      const account = await makeAccount(storage);
      const limited = await makeWebhook(storage, account.id, {
        events: ['call.ended'],
        rateLimitPerMinute: 1,
      });
      const capped = await makeWebhook(storage, account.id, { events: ['call.missed'] });
      expect((await storage.queueStats(T)).oldestThrottledAt).toBeNull();

      // Three events for the rate-limited endpoint (one a minute): one leased, two put off.
      for (let i = 0; i < 3; i++)
        await publishOne(storage, account.id, 'call.ended', { now: T + 5 * SECOND });
      const first = await claim(storage, T + 5 * SECOND, { maxInFlightPerEndpoint: 10 });
      expect(first.map((c) => c.webhookId)).toEqual([limited.id]);
      let stats = await storage.queueStats(T + 10 * SECOND);
      expect(stats.due).toBe(0);
      expect(stats.oldestThrottledAt).toBe(T + 5 * SECOND);

      // Two for the capped endpoint, published earlier in effect (T), with a cap of one.
      await publishOne(storage, account.id, 'call.missed', { now: T });
      await publishOne(storage, account.id, 'call.missed', { now: T });
      const second = await claim(storage, T + 10 * SECOND, { maxInFlightPerEndpoint: 1 });
      expect(second.map((c) => c.webhookId)).toEqual([capped.id]);
      stats = await storage.queueStats(T + 10 * SECOND, { maxInFlightPerEndpoint: 1 });
      expect(stats.held).toBe(1);
      expect(stats.due).toBe(0);
      expect(stats.oldestThrottledAt).toBe(T);
    });
  });

  describe('accounts, keys, portal sessions and the audit log (SPEC §9)', () => {
    accessContract(() => storage);
  });
});
