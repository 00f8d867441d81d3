// Accounts are walled off from each other: every route that takes an id answers 404 for another
// account's object (the same 404 as for an id that never existed, so existence does not leak),
// every list and filter shows only the caller's rows, and a cross-account write, rotation, test
// send, recovery or retry changes nothing for the owner.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { expectErrorShape, waitUntil } from './support.js';

const DATA = findEventType('call.ended')!.example;

interface Owned {
  apiKey: string;
  accountId: string;
  okHook: string;
  failHook: string;
  event: string;
  okDelivery: string;
  failedDelivery: string;
  testDelivery: string;
}

describe('account isolation', () => {
  let server: TestServer;
  let receiver: Receiver;
  let a: Owned;
  let b: { apiKey: string; accountId: string; hook: string; event: string };

  const as = (apiKey: string) => ({
    get: (path: string) => server.api(path, { apiKey }),
    send: (method: string, path: string, body?: unknown) =>
      server.api(path, { apiKey, method, body: body ?? {} }),
  });

  /** Everything account A can see, to compare before and after B's attempts. */
  async function snapshot(owner: Owned) {
    const api = as(owner.apiKey);
    const read = async (path: string) => {
      const res = await api.get(path);
      expect(res.status, path).toBe(200);
      return res.body;
    };
    const stats = await read(`/v1/webhooks/${owner.okHook}/stats?window=1h`);
    return {
      account: await read('/v1/account'),
      webhooks: await read('/v1/webhooks'),
      okHook: await read(`/v1/webhooks/${owner.okHook}`),
      failHook: await read(`/v1/webhooks/${owner.failHook}`),
      okSecret: await read(`/v1/webhooks/${owner.okHook}/secret`),
      failSecret: await read(`/v1/webhooks/${owner.failHook}/secret`),
      events: await read('/v1/events'),
      event: await read(`/v1/events/${owner.event}`),
      deliveries: await read('/v1/deliveries'),
      okDelivery: await read(`/v1/deliveries/${owner.okDelivery}`),
      failedDelivery: await read(`/v1/deliveries/${owner.failedDelivery}`),
      testDelivery: await read(`/v1/deliveries/${owner.testDelivery}`),
      // The time series moves with the clock; the counts must not move.
      stats: { ...stats, series: undefined, last_delivery_at: undefined },
    };
  }

  beforeAll(async () => {
    server = await startTestServer({ RIZLER_RETRY_SCHEDULE: '100ms,100ms' });
    receiver = await startReceiver();
    receiver.respondWith((req) => (req.url.includes('fail') ? { status: 500 } : { status: 200 }));

    const owner = await server.newAccount('owner');
    const api = as(owner.apiKey);
    const okHook = await api.send('POST', '/v1/webhooks', {
      url: receiver.url,
      events: ['call.ended'],
      description: 'owner ok',
    });
    const failHook = await api.send('POST', '/v1/webhooks', {
      url: receiver.url + '?fail',
      events: ['call.ended'],
      description: 'owner failing',
    });
    const event = await api.send('POST', '/v1/events', { event: 'call.ended', data: DATA });
    expect(event.body.deliveries).toBe(2);
    const test = await api.send('POST', `/v1/webhooks/${okHook.body.id}/test`, {});
    expect(test.body.success).toBe(true);
    // 1 + 3 attempts (first try and two retries) + 1 test send.
    await receiver.waitFor(5);
    let failed: { id: string } | undefined;
    let ok: { id: string } | undefined;
    await waitUntil(async () => {
      const list = await api.get(`/v1/deliveries?event=call.ended`);
      ok = list.body.data.find(
        (d: any) => d.webhook_id === okHook.body.id && d.status === 'succeeded' && !d.test,
      );
      failed = list.body.data.find(
        (d: any) => d.webhook_id === failHook.body.id && d.status === 'failed',
      );
      return Boolean(ok && failed);
    }, 'the owner deliveries to finish');
    a = {
      ...owner,
      okHook: okHook.body.id,
      failHook: failHook.body.id,
      event: event.body.id,
      okDelivery: ok!.id,
      failedDelivery: failed!.id,
      testDelivery: test.body.delivery_id,
    };

    const other = await server.newAccount('intruder');
    const otherHook = await as(other.apiKey).send('POST', '/v1/webhooks', {
      url: receiver.url,
      events: ['agent.*'],
    });
    const otherEvent = await as(other.apiKey).send('POST', '/v1/events', {
      event: 'agent.created',
      data: findEventType('agent.created')!.example,
    });
    b = { ...other, hook: otherHook.body.id, event: otherEvent.body.id };
    await receiver.waitFor(6);
  });

  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  it("answers 404, exactly as for an unknown id, for every route given another account's id", async () => {
    const before = await snapshot(a);
    const receivedBefore = receiver.requests.length;
    const intruder = as(b.apiKey);
    const routes: { method: string; path: (id: string) => string; body?: unknown; id: string }[] = [
      { method: 'GET', path: (id) => `/v1/webhooks/${id}`, id: a.okHook },
      {
        method: 'PATCH',
        path: (id) => `/v1/webhooks/${id}`,
        id: a.okHook,
        body: {
          url: receiver.url + '?stolen',
          events: ['*'],
          status: 'disabled',
          secret: 'intruder-secret-0123456789',
          description: 'owned',
        },
      },
      { method: 'GET', path: (id) => `/v1/webhooks/${id}/secret`, id: a.okHook },
      {
        method: 'POST',
        path: (id) => `/v1/webhooks/${id}/secret/rotate`,
        id: a.okHook,
        body: { secret: 'intruder-secret-0123456789' },
      },
      { method: 'POST', path: (id) => `/v1/webhooks/${id}/secret/rotate`, id: a.failHook },
      {
        method: 'POST',
        path: (id) => `/v1/webhooks/${id}/test`,
        id: a.okHook,
        body: { event: 'call.ended' },
      },
      { method: 'GET', path: (id) => `/v1/webhooks/${id}/stats?window=7d`, id: a.okHook },
      {
        method: 'POST',
        path: (id) => `/v1/webhooks/${id}/recover`,
        id: a.failHook,
        body: { since: '2000-01-01T00:00:00Z' },
      },
      { method: 'GET', path: (id) => `/v1/events/${id}`, id: a.event },
      { method: 'GET', path: (id) => `/v1/deliveries/${id}`, id: a.okDelivery },
      { method: 'GET', path: (id) => `/v1/deliveries/${id}`, id: a.testDelivery },
      { method: 'POST', path: (id) => `/v1/deliveries/${id}/retry`, id: a.failedDelivery },
      { method: 'POST', path: (id) => `/v1/deliveries/${id}/retry`, id: a.okDelivery },
      { method: 'DELETE', path: (id) => `/v1/webhooks/${id}`, id: a.okHook },
      { method: 'DELETE', path: (id) => `/v1/webhooks/${id}`, id: a.failHook },
    ];
    for (const route of routes) {
      const where = `${route.method} ${route.path(route.id)} with the other account's key`;
      const res =
        route.method === 'GET'
          ? await intruder.get(route.path(route.id))
          : await intruder.send(route.method, route.path(route.id), route.body);
      expect(res.status, where).toBe(404);
      expectErrorShape(
        { status: res.status, headers: res.headers, text: '', json: res.body, ms: 0 },
        where,
      );
      expect(res.body.error.code).toBe('not_found');
      // The same answer as for an id that never existed: nothing tells "exists elsewhere".
      const unknownId = route.id.slice(0, -4) + 'ZZZZ';
      const unknown =
        route.method === 'GET'
          ? await intruder.get(route.path(unknownId))
          : await intruder.send(route.method, route.path(unknownId), route.body);
      expect(unknown.status, where).toBe(404);
      expect(unknown.body, where).toEqual(res.body);
    }

    // A retry or recovery let through would be due by now. An event published after it (by a
    // third account) is claimed no earlier: once its delivery has arrived and no attempt is in
    // flight, anything let through would have arrived as well.
    const third = as((await server.newAccount('canary')).apiKey);
    await third.send('POST', '/v1/webhooks', { url: receiver.url, events: ['agent.*'] });
    const canary = await third.send('POST', '/v1/events', {
      event: 'agent.created',
      data: findEventType('agent.created')!.example,
    });
    expect(canary.status).toBe(202);
    await receiver.waitFor(receivedBefore + 1);
    await waitUntil(async () => {
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      return /^rizler_delivery_in_flight 0$/m.test(metrics);
    }, 'no attempt in flight');
    expect(receiver.requests.length, 'the receiver got a request').toBe(receivedBefore + 1);
    expect(receiver.requests.at(-1)!.headers['webhook-id']).toBe(canary.body.id);
    expect(receiver.requests.some((r) => r.url.includes('stolen'))).toBe(false);
    const after = await snapshot(a);
    expect(after).toEqual(before);
  });

  it("never lists another account's rows, whatever the filter or cursor", async () => {
    const intruder = as(b.apiKey);
    const ids = (res: { body: { data: { id: string }[] } }) => res.body.data.map((r) => r.id);

    const hooks = await intruder.get('/v1/webhooks?limit=100');
    expect(ids(hooks)).toEqual([b.hook]);
    const events = await intruder.get('/v1/events?limit=100');
    expect(ids(events)).toEqual([b.event]);
    const deliveries = await intruder.get('/v1/deliveries?limit=100');
    for (const d of deliveries.body.data) expect(d.event_id).toBe(b.event);

    // The owner's webhook id as a filter finds nothing, alone or with other filters.
    for (const filter of [
      `webhook_id=${a.okHook}`,
      `webhook_id=${a.failHook}`,
      `webhook_id=${a.failHook}&status=failed`,
      `webhook_id=${a.okHook}&status=succeeded&event=call.ended`,
      `webhook_id=${a.okHook}&since=2000-01-01T00:00:00Z`,
      'event=call.ended',
      'status=failed',
    ]) {
      const res = await intruder.get(`/v1/deliveries?${filter}`);
      expect(res.status, filter).toBe(200);
      expect(res.body.data, filter).toEqual([]);
    }
    // Broad filters show B's own rows only.
    for (const filter of ['since=2000-01-01T00:00:00Z', 'status=succeeded', 'limit=100']) {
      const res = await intruder.get(`/v1/deliveries?${filter}`);
      expect(res.body.data.length, filter).toBeGreaterThan(0);
      for (const d of res.body.data) expect(d.webhook_id, filter).toBe(b.hook);
    }
    expect((await intruder.get('/v1/events?event=call.ended')).body.data).toEqual([]);

    // A cursor is an opaque id: one made from the owner's newest id pages B's rows only.
    for (const id of [a.event, a.okDelivery, a.okHook, 'zzz_ZZZZZZZZZZZZZZZZZZZZZZZZZZ']) {
      const cursor = Buffer.from(id, 'utf8').toString('base64url');
      for (const path of ['/v1/events', '/v1/deliveries', '/v1/webhooks']) {
        const res = await intruder.get(`${path}?cursor=${cursor}`);
        expect(res.status, `${path} cursor of ${id}`).toBe(200);
        for (const row of res.body.data) {
          expect([a.event, a.okHook, a.failHook, a.okDelivery, a.failedDelivery]).not.toContain(
            row.id,
          );
        }
      }
    }

    const account = await intruder.get('/v1/account');
    expect(account.body).toMatchObject({ id: b.accountId, usage: { endpoints: 1 } });
  });

  it("does not replay another account's event for the same Idempotency-Key", async () => {
    const key = `shared-${Date.now()}`;
    const first = await server.api('/v1/events', {
      apiKey: a.apiKey,
      body: { event: 'call.ended', data: DATA },
      headers: { 'idempotency-key': key },
    });
    const other = await server.api('/v1/events', {
      apiKey: b.apiKey,
      body: { event: 'agent.created', data: findEventType('agent.created')!.example },
      headers: { 'idempotency-key': key },
    });
    expect(first.status).toBe(202);
    expect(other.status).toBe(202);
    expect(other.body.id).not.toBe(first.body.id);
    expect(other.body.event).toBe('agent.created');
    expect(other.headers.get('idempotent-replayed')).toBeNull();
    // B's own replay returns B's event; A's event is still only A's.
    const replay = await server.api('/v1/events', {
      apiKey: b.apiKey,
      body: { event: 'agent.created', data: findEventType('agent.created')!.example },
      headers: { 'idempotency-key': key },
    });
    expect(replay.body.id).toBe(other.body.id);
    expect((await server.api(`/v1/events/${first.body.id}`, { apiKey: b.apiKey })).status).toBe(
      404,
    );
  });

  it('keeps the admin token and API keys apart', async () => {
    // The admin token is not an account key, and no account key opens the admin API.
    for (const path of ['/v1/account', '/v1/webhooks', '/v1/events', '/v1/deliveries']) {
      const res = await server.api(path, { apiKey: server.adminToken });
      expect(res.status, path).toBe(401);
    }
    for (const apiKey of [a.apiKey, b.apiKey]) {
      const res = await server.api('/v1/accounts', { apiKey, body: { name: 'escalated' } });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
    // A new account created by the admin starts empty.
    const created = await server.api('/v1/accounts', {
      apiKey: server.adminToken,
      body: { name: 'fresh' },
    });
    for (const path of ['/v1/webhooks', '/v1/events', '/v1/deliveries']) {
      const res = await server.api(path, { apiKey: created.body.api_key });
      expect(res.body.data, path).toEqual([]);
    }
  });

  it('still lets the owner do everything afterwards', async () => {
    const api = as(a.apiKey);
    const before = receiver.requests.length;
    const retry = await api.send('POST', `/v1/deliveries/${a.failedDelivery}/retry`);
    expect(retry.status).toBe(202);
    const test = await api.send('POST', `/v1/webhooks/${a.okHook}/test`, { event: 'call.ended' });
    expect(test.body.success).toBe(true);
    const received = await receiver.waitFor(before + 2);
    // Not rotated by the intruder: one signature, made with the owner's own secret.
    const testSend = received.slice(before).find((r) => !r.url.includes('fail'))!;
    expect(String(testSend.headers['webhook-signature']).split(' ')).toHaveLength(1);
    const secret = (await api.get(`/v1/webhooks/${a.okHook}/secret`)).body.secret;
    expect(secret).not.toBe('intruder-secret-0123456789');
    const del = await api.send('DELETE', `/v1/webhooks/${a.failHook}`);
    expect(del.status).toBe(204);
  });
});
