// The storage contract for SPEC §9, part of the shared suite (contract.test.ts calls it for
// each engine): accounts with status and limits, API keys, portal sessions, the audit log,
// suspension and deletion. Times are fixed offsets from T.
import { expect, it } from 'vitest';
import type { Actor, NewApiKey, Storage } from '../../src/storage/index.js';
import {
  DAY,
  HOUR,
  MINUTE,
  SECOND,
  T,
  claim,
  complete,
  makeAccount,
  makeWebhook,
  nextId,
  publishOne,
} from './fixtures.js';

const KEY_ACTOR: Actor = { type: 'api_key', id: 'key_actor' };
const ADMIN: Actor = { type: 'admin', id: null };

function newKey(overrides: Partial<NewApiKey> = {}): NewApiKey {
  return {
    id: nextId('key'),
    name: 'ci',
    scopes: ['read'],
    prefix: 'rzk_abcdefgh',
    keyHash: nextId('hash'),
    expiresAt: null,
    ...overrides,
  };
}

/** Claims what is due and returns the ids of one account's deliveries among it. */
async function dueIds(storage: Storage, now: number, accountId: string): Promise<string[]> {
  return (await claim(storage, now))
    .filter((c) => c.accountId === accountId)
    .map((c) => c.deliveryId);
}

export function accessContract(store: () => Storage): void {
  it('keeps many keys per account, each with its scopes, found by hash until revoked or expired', async () => {
    const storage = store();
    const account = await makeAccount(storage);
    const other = await makeAccount(storage, 'other');
    const reader = newKey({ name: 'reader', scopes: ['read'] });
    const expiring = newKey({ name: 'soon', scopes: ['publish'], expiresAt: T + HOUR });
    const created = await storage.createApiKey(account.id, reader, KEY_ACTOR, T);
    expect(created).toEqual({
      id: reader.id,
      accountId: account.id,
      name: 'reader',
      scopes: ['read'],
      prefix: 'rzk_abcdefgh',
      createdAt: T,
      expiresAt: null,
      lastUsedAt: null,
    });
    await storage.createApiKey(account.id, expiring, KEY_ACTOR, T + 1);

    const found = await storage.findApiKey(reader.keyHash, T);
    expect(found?.key.id).toBe(reader.id);
    expect(found?.account).toMatchObject({ id: account.id, status: 'active' });
    expect((await storage.findApiKey(expiring.keyHash, T + HOUR - 1))?.key.scopes).toEqual([
      'publish',
    ]);
    expect(await storage.findApiKey(expiring.keyHash, T + HOUR)).toBeNull();
    expect(await storage.findApiKey('unknown', T)).toBeNull();

    // The account's first key (a bare hash) has every scope.
    const [first] = (await storage.listApiKeys(other.id, { limit: 10, after: null })).slice(-1);
    expect(first!.scopes).toEqual(['publish', 'read', 'manage', 'keys']);

    const listed = await storage.listApiKeys(account.id, { limit: 10, after: null });
    expect(listed.map((k) => k.id)).toEqual([expiring.id, reader.id, listed[2]!.id]);
    expect(await storage.listApiKeys(account.id, { limit: 1, after: expiring.id })).toHaveLength(1);

    expect(await storage.revokeApiKey(other.id, reader.id, KEY_ACTOR, T)).toBe(false);
    expect(await storage.revokeApiKey(account.id, reader.id, KEY_ACTOR, T + 5)).toBe(true);
    expect(await storage.revokeApiKey(account.id, reader.id, KEY_ACTOR, T + 6)).toBe(false);
    expect(await storage.findApiKey(reader.keyHash, T + 5)).toBeNull();
    expect(
      (await storage.listApiKeys(account.id, { limit: 10, after: null })).map((k) => k.id),
    ).not.toContain(reader.id);

    const log = await storage.listAuditLog(account.id, { limit: 10, after: null });
    expect(log.map((e) => e.action)).toEqual([
      'api_key.revoked',
      'api_key.created',
      'api_key.created',
      'api_key.created',
      'account.created',
    ]);
    expect(log[0]).toMatchObject({ actor: KEY_ACTOR, targetId: reader.id, at: T + 5 });
    expect(log[2]!.changes).toEqual({
      name: { old: null, new: 'reader' },
      scopes: { old: null, new: ['read'] },
      prefix: { old: null, new: 'rzk_abcdefgh' },
    });
    expect(JSON.stringify(log)).not.toContain(reader.keyHash);
  });

  it('writes last_used_at in batches, never moving it back', async () => {
    const storage = store();
    const account = await makeAccount(storage);
    const key = newKey();
    await storage.createApiKey(account.id, key, KEY_ACTOR, T);
    await storage.touchApiKeys(new Map([[key.id, T + 10]]));
    await storage.touchApiKeys(new Map([[key.id, T + 5]]));
    const found = await storage.findApiKey(key.keyHash, T + 20);
    expect(found?.key.lastUsedAt).toBe(T + 10);
    await storage.touchApiKeys(new Map());
  });

  it('updates name, status and limits, records old and new values, and lists live accounts', async () => {
    const storage = store();
    const a = await makeAccount(storage, 'a');
    const b = await makeAccount(storage, 'b');
    const updated = await storage.updateAccount(
      a.id,
      { name: 'A2', limits: { maxEndpoints: 3, publishRateLimitPerMinute: 60 } },
      ADMIN,
      T + 1,
    );
    expect(updated).toMatchObject({
      name: 'A2',
      status: 'active',
      limits: {
        maxEndpoints: 3,
        apiRateLimitPerMinute: null,
        publishRateLimitPerMinute: 60,
        endpointRateLimitPerMinute: null,
      },
    });
    const back = await storage.updateAccount(
      a.id,
      { limits: { maxEndpoints: null } },
      ADMIN,
      T + 2,
    );
    expect(back?.limits.maxEndpoints).toBeNull();
    expect(back?.limits.publishRateLimitPerMinute).toBe(60);
    expect(await storage.updateAccount('acc_missing', { name: 'x' }, ADMIN, T)).toBeNull();

    const [latest, previous] = await storage.listAuditLog(a.id, { limit: 10, after: null });
    expect(latest).toMatchObject({
      action: 'account.updated',
      actor: ADMIN,
      targetId: a.id,
      changes: { max_endpoints: { old: 3, new: null } },
    });
    expect(previous!.changes).toEqual({
      name: { old: 'a', new: 'A2' },
      max_endpoints: { old: null, new: 3 },
      publish_rate_limit_per_minute: { old: null, new: 60 },
    });

    expect((await storage.listAccounts({ limit: 10, after: null })).map((x) => x.id)).toEqual([
      b.id,
      a.id,
    ]);
    expect((await storage.listAccounts({ limit: 10, after: b.id })).map((x) => x.id)).toEqual([
      a.id,
    ]);
  });

  it("applies the account's endpoint rate to its endpoints that set none", async () => {
    const storage = store();
    const account = await makeAccount(storage);
    const webhook = await makeWebhook(storage, account.id);
    await storage.updateAccount(
      account.id,
      { limits: { endpointRateLimitPerMinute: 1 } },
      ADMIN,
      T,
    );
    expect((await storage.getWebhook(account.id, webhook.id))?.accountRateLimitPerMinute).toBe(1);
    const later = await makeWebhook(storage, account.id);
    expect(later.accountRateLimitPerMinute).toBe(1);
    await storage.deleteWebhook(account.id, later.id);
    await publishOne(storage, account.id, 'call.ended');
    await publishOne(storage, account.id, 'call.ended');
    // One token a minute: the second delivery waits for the next one.
    expect(await dueIds(storage, T, account.id)).toHaveLength(1);
    expect(await dueIds(storage, T + SECOND, account.id)).toHaveLength(0);
  });

  it('parks a suspended account: no delivery is attempted or created until it resumes', async () => {
    const storage = store();
    const account = await makeAccount(storage);
    const other = await makeAccount(storage, 'other');
    await makeWebhook(storage, account.id);
    await makeWebhook(storage, other.id);
    const waiting = await publishOne(storage, account.id, 'call.ended');
    const inFlight = await publishOne(storage, account.id, 'call.ended');
    const [leased] = (await claim(storage, T, { limit: 1 })).filter(
      (c) => c.eventId === waiting.event.id || c.eventId === inFlight.event.id,
    );
    expect(leased).toBeDefined();

    const suspended = await storage.updateAccount(account.id, { status: 'suspended' }, ADMIN, T);
    expect(suspended?.status).toBe('suspended');
    // Suspended: objects stay readable, the key still authenticates.
    expect(await storage.getAccount(account.id)).toMatchObject({ status: 'suspended' });
    const later = await publishOne(storage, account.id, 'call.ended', { now: T + 1 });
    expect(later.deliveries).toBe(0);
    const otherEvent = await publishOne(storage, other.id, 'call.ended', { now: T + 1 });
    expect(otherEvent.deliveries).toBe(1);
    const due = await claim(storage, T + 2);
    expect(due.map((c) => c.accountId)).toEqual([other.id]);

    // The attempt in flight at suspension fails and is scheduled; the sweep parks it again.
    await complete(storage, leased!, { kind: 'retry', nextAttemptAt: T + MINUTE }, { now: T + 3 });
    expect(await storage.parkInactiveAccounts(T + 4)).toBe(1);
    expect(await dueIds(storage, T + 2 * MINUTE, account.id)).toEqual([]);
    // A manual retry waits too.
    const [failedOne] = await storage.listDeliveries(
      account.id,
      { status: 'pending' },
      { limit: 1, after: null },
    );
    await storage.requestRetry(account.id, failedOne!.id, T + 5);
    expect(await dueIds(storage, T + 2 * MINUTE, account.id)).toEqual([]);

    const resumed = await storage.updateAccount(account.id, { status: 'active' }, ADMIN, T + HOUR);
    expect(resumed?.status).toBe('active');
    const after = (await claim(storage, T + HOUR)).filter((c) => c.accountId === account.id);
    expect(after.map((c) => c.eventId).sort()).toEqual(
      [waiting.event.id, inFlight.event.id].sort(),
    );
    const log = await storage.listAuditLog(account.id, { limit: 2, after: null });
    expect(log.map((e) => e.changes.status)).toEqual([
      { old: 'suspended', new: 'active' },
      { old: 'active', new: 'suspended' },
    ]);
  });

  it('deletes an account at once and removes its rows in batches, leaving others alone', async () => {
    const storage = store();
    const doomed = await makeAccount(storage, 'doomed');
    const kept = await makeAccount(storage, 'kept');
    const key = newKey({ scopes: ['read', 'manage'] });
    await storage.createApiKey(doomed.id, key, KEY_ACTOR, T);
    await storage.createPortalSession(
      {
        id: nextId('ps'),
        accountId: doomed.id,
        tokenHash: 'portal-hash',
        readOnly: false,
        expiresAt: T + HOUR,
        now: T,
      },
      ADMIN,
    );
    await makeWebhook(storage, doomed.id);
    await makeWebhook(storage, kept.id);
    for (let i = 0; i < 3; i++) await publishOne(storage, doomed.id, 'call.ended');
    const keptEvent = await publishOne(storage, kept.id, 'call.ended');
    const [attempted] = (await claim(storage, T)).filter((c) => c.accountId === doomed.id);
    await complete(storage, attempted!, { kind: 'retry', nextAttemptAt: T + 1 });

    expect(await storage.deleteAccount(doomed.id, ADMIN, T + 2)).toBe(true);
    expect(await storage.deleteAccount(doomed.id, ADMIN, T + 3)).toBe(false);
    expect(await storage.getAccount(doomed.id)).toBeNull();
    expect(await storage.findApiKey(key.keyHash, T + 2)).toBeNull();
    expect(await storage.findPortalSession('portal-hash', T + 2)).toBeNull();
    expect(await storage.countAccounts()).toBe(1);
    expect((await storage.listAccounts({ limit: 10, after: null })).map((a) => a.id)).toEqual([
      kept.id,
    ]);
    // Its leases still running when it was deleted end; the sweep parks those rows.
    expect(await storage.parkInactiveAccounts(T + MINUTE)).toBe(2);
    expect(await dueIds(storage, T + MINUTE, doomed.id)).toEqual([]);

    let removed = 0;
    for (let round = 0; round < 50; round++) {
      const n = await storage.purgeDeletedAccounts(1);
      removed += n;
      if (n === 0) break;
    }
    expect(removed).toBeGreaterThan(8);
    expect(await storage.purgeDeletedAccounts(100)).toBe(0);
    expect(await storage.listDeliveries(doomed.id, {}, { limit: 10, after: null })).toEqual([]);
    expect(await storage.listEvents(doomed.id, {}, { limit: 10, after: null })).toEqual([]);
    expect(await storage.listWebhooks(doomed.id, { limit: 10, after: null })).toEqual([]);
    expect(await storage.listAuditLog(doomed.id, { limit: 10, after: null })).toEqual([]);
    expect(await storage.getEvent(kept.id, keptEvent.event.id)).not.toBeNull();
    expect(await storage.listDeliveries(kept.id, {}, { limit: 10, after: null })).toHaveLength(1);
  });

  it("removes a deleted account's rows with the deleted webhooks' history (purgeDeleted)", async () => {
    const storage = store();
    const doomed = await makeAccount(storage, 'doomed');
    const kept = await makeAccount(storage, 'kept');
    const key = newKey();
    await storage.createApiKey(doomed.id, key, KEY_ACTOR, T);
    const gone = await makeWebhook(storage, doomed.id);
    await makeWebhook(storage, doomed.id);
    await makeWebhook(storage, kept.id);
    for (let i = 0; i < 3; i++) await publishOne(storage, doomed.id, 'call.ended');
    await publishOne(storage, kept.id, 'call.ended');
    const [attempted] = (await claim(storage, T)).filter((c) => c.accountId === doomed.id);
    await complete(storage, attempted!, { kind: 'retry', nextAttemptAt: T + 1 });
    // A webhook deleted before its account: both marks are purged, one after the other.
    expect(await storage.deleteWebhook(doomed.id, gone.id, ADMIN)).toBe(true);
    expect(await storage.deleteAccount(doomed.id, ADMIN, T + 2)).toBe(true);

    const total = { events: 0, deliveries: 0, attempts: 0, rollups: 0 };
    for (let round = 0; ; round++) {
      expect(round).toBeLessThan(50);
      const r = await storage.purgeDeleted(1);
      for (const k of ['events', 'deliveries', 'attempts', 'rollups'] as const) total[k] += r[k];
      if (!r.remaining) break;
    }
    expect(total.events).toBe(3);
    expect(total.deliveries).toBe(6);
    expect(total.attempts).toBe(1);
    expect(await storage.purgeDeleted(100)).toEqual({
      events: 0,
      deliveries: 0,
      attempts: 0,
      rollups: 0,
      remaining: false,
    });
    expect(await storage.purgeDeletedAccounts(100)).toBe(0);
    expect(await storage.listWebhooks(doomed.id, { limit: 10, after: null })).toEqual([]);
    expect(await storage.listApiKeys(doomed.id, { limit: 10, after: null })).toEqual([]);
    expect(await storage.listAuditLog(doomed.id, { limit: 10, after: null })).toEqual([]);
    expect(await storage.listEvents(doomed.id, {}, { limit: 10, after: null })).toEqual([]);
    expect(await storage.listWebhooks(kept.id, { limit: 10, after: null })).toHaveLength(1);
    expect(await storage.listDeliveries(kept.id, {}, { limit: 10, after: null })).toHaveLength(1);
    expect(await storage.countAccounts()).toBe(1);
  });

  it('opens portal sessions that end at their expiry', async () => {
    const storage = store();
    const account = await makeAccount(storage);
    const id = nextId('ps');
    const session = await storage.createPortalSession(
      { id, accountId: account.id, tokenHash: 'tok', readOnly: true, expiresAt: T + HOUR, now: T },
      ADMIN,
    );
    expect(session).toEqual({
      id,
      accountId: account.id,
      readOnly: true,
      createdAt: T,
      expiresAt: T + HOUR,
    });
    expect((await storage.findPortalSession('tok', T + HOUR - 1))?.account.id).toBe(account.id);
    expect(await storage.findPortalSession('tok', T + HOUR)).toBeNull();
    expect(await storage.findPortalSession('other', T)).toBeNull();
    const [entry] = await storage.listAuditLog(account.id, { limit: 1, after: null });
    expect(entry).toMatchObject({ action: 'portal_session.created', actor: ADMIN, targetId: id });
  });

  it('records every change to a webhook and its secret, with the actor, never the secret', async () => {
    const storage = store();
    const account = await makeAccount(storage);
    const created = await storage.createWebhook(
      {
        id: nextId('wh'),
        accountId: account.id,
        url: 'https://example.com/a',
        description: null,
        events: ['call.*'],
        status: 'enabled',
        rateLimitPerMinute: null,
        sealedSecret: 'sealed:first-secret',
        now: T,
      },
      10,
      KEY_ACTOR,
    );
    if (created === 'limit_reached') throw new Error('limit');
    const portal: Actor = { type: 'portal_session', id: 'ps_1' };
    await storage.updateWebhook(
      account.id,
      created.id,
      { url: 'https://example.com/b', events: ['*'] },
      T + 1,
      portal,
    );
    await storage.updateWebhook(account.id, created.id, { status: 'disabled' }, T + 2, portal);
    await storage.updateWebhook(account.id, created.id, { status: 'enabled' }, T + 3, portal);
    await storage.updateWebhook(account.id, created.id, {}, T + 3, portal);
    await storage.rotateSecret(
      account.id,
      created.id,
      {
        sealedSecret: 'sealed:second-secret',
        sealedPreviousSecret: 'sealed:first-secret',
        previousExpiresAt: T + DAY,
      },
      T + 4,
      KEY_ACTOR,
    );
    await storage.updateWebhook(
      account.id,
      created.id,
      { sealedSecret: 'sealed:third-secret' },
      T + 5,
      KEY_ACTOR,
    );
    // Failing for longer than the auto-disable window: disabled by the system.
    await publishOne(storage, account.id, 'call.ended', { now: T + 6 });
    const [c1] = await claim(storage, T + 6);
    await complete(storage, c1!, { kind: 'retry', nextAttemptAt: T + 2 * DAY }, { now: T + 6 });
    const [c2] = await claim(storage, T + 2 * DAY);
    await complete(
      storage,
      c2!,
      { kind: 'retry', nextAttemptAt: T + 3 * DAY },
      {
        now: T + 2 * DAY,
      },
    );
    await storage.deleteWebhook(account.id, created.id, ADMIN);

    const log = (await storage.listAuditLog(account.id, { limit: 20, after: null })).reverse();
    expect(log.map((e) => [e.action, e.actor.type])).toEqual([
      ['account.created', 'system'],
      ['api_key.created', 'system'],
      ['webhook.created', 'api_key'],
      ['webhook.updated', 'portal_session'],
      ['webhook.disabled', 'portal_session'],
      ['webhook.enabled', 'portal_session'],
      ['secret.rotated', 'api_key'],
      ['webhook.updated', 'api_key'],
      ['webhook.disabled', 'system'],
      ['webhook.deleted', 'admin'],
    ]);
    expect(
      log.every(
        (e) =>
          e.targetId === created.id ||
          e.targetId.startsWith('acc_') ||
          e.targetId.startsWith('key_'),
      ),
    ).toBe(true);
    expect(log[3]!.changes).toEqual({
      url: { old: 'https://example.com/a', new: 'https://example.com/b' },
      events: { old: ['call.*'], new: ['*'] },
    });
    expect(log[4]!.changes).toEqual({
      status: { old: 'enabled', new: 'disabled' },
      disabled_reason: { old: null, new: 'manual' },
    });
    expect(log[7]!.changes).toEqual({ secret: { old: '[redacted]', new: '[redacted]' } });
    expect(log[8]!.changes).toEqual({
      status: { old: 'enabled', new: 'disabled' },
      disabled_reason: { old: null, new: 'failing' },
    });
    expect(log[9]!.changes.url).toEqual({ old: 'https://example.com/b', new: null });
    expect(JSON.stringify(log)).not.toMatch(/first-secret|second-secret|third-secret/);
  });

  it('purges audit records older than the cutoff, in batches', async () => {
    const storage = store();
    const account = await makeAccount(storage);
    await storage.updateAccount(account.id, { name: 'b' }, ADMIN, T + DAY);
    await storage.updateAccount(account.id, { name: 'c' }, ADMIN, T + 10 * DAY);
    // account.created and api_key.created at T, one update at T + 1 day: three before the cutoff.
    expect(await storage.purgeAuditLog(T + 5 * DAY, 2)).toBe(2);
    expect(await storage.purgeAuditLog(T + 5 * DAY, 2)).toBe(1);
    expect(await storage.purgeAuditLog(T + 5 * DAY, 2)).toBe(0);
    const left = await storage.listAuditLog(account.id, { limit: 10, after: null });
    expect(left.map((e) => e.changes.name)).toEqual([{ old: 'b', new: 'c' }]);
  });

  it('records a key name holding a lone UTF-16 surrogate, as U+FFFD, on either engine', async () => {
    const storage = store();
    const account = await makeAccount(storage);
    // JSON bodies may carry "\ud800"; PostgreSQL's jsonb refuses that escape.
    await storage.createApiKey(
      account.id,
      newKey({ name: 'a \ud800 \ud83d\ude00 \udc00' }),
      KEY_ACTOR,
      T,
    );
    const [created] = await storage.listAuditLog(account.id, { limit: 1, after: null });
    expect(created!.action).toBe('api_key.created');
    expect(created!.changes.name).toEqual({ old: null, new: 'a \ufffd \ud83d\ude00 \ufffd' });
  });
}
