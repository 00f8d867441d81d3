// The API's contract at its edges: authentication, the admin API, the endpoint limit,
// account isolation on every route, malformed input on every route, pagination, rate limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { SPEC_EVENT_TYPES } from '../helpers/spec.js';

const DATA = findEventType('call.ended')!.example;

/** Every route that takes an id, with a body that would be valid for it. */
const ID_ROUTES = (ids: { webhook: string; event: string; delivery: string }) => [
  { method: 'GET', path: `/v1/webhooks/${ids.webhook}` },
  { method: 'PATCH', path: `/v1/webhooks/${ids.webhook}`, body: { description: 'x' } },
  { method: 'GET', path: `/v1/webhooks/${ids.webhook}/secret` },
  { method: 'POST', path: `/v1/webhooks/${ids.webhook}/secret/rotate`, body: {} },
  { method: 'POST', path: `/v1/webhooks/${ids.webhook}/test`, body: {} },
  { method: 'GET', path: `/v1/webhooks/${ids.webhook}/stats` },
  {
    method: 'POST',
    path: `/v1/webhooks/${ids.webhook}/recover`,
    body: { since: '2024-01-01T00:00:00Z' },
  },
  { method: 'GET', path: `/v1/events/${ids.event}` },
  { method: 'GET', path: `/v1/deliveries/${ids.delivery}` },
  { method: 'POST', path: `/v1/deliveries/${ids.delivery}/retry`, body: {} },
  { method: 'DELETE', path: `/v1/webhooks/${ids.webhook}` },
];

const ALL_ROUTES = [
  { method: 'GET', path: '/v1/account' },
  { method: 'POST', path: '/v1/webhooks', body: { url: 'http://127.0.0.1:9/x', events: ['*'] } },
  { method: 'GET', path: '/v1/webhooks' },
  { method: 'GET', path: '/v1/webhooks/stats' },
  { method: 'POST', path: '/v1/webhooks/test', body: { url: 'http://127.0.0.1:9/x' } },
  { method: 'POST', path: '/v1/events', body: { event: 'call.ended', data: DATA } },
  {
    method: 'POST',
    path: '/v1/events/batch',
    body: { events: [{ event: 'call.ended', data: DATA }] },
  },
  { method: 'GET', path: '/v1/events' },
  { method: 'GET', path: '/v1/deliveries' },
  ...ID_ROUTES({ webhook: 'wh_X', event: 'evt_X', delivery: 'dlv_X' }),
];

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
  expect(res.body.error.message.length).toBeGreaterThan(10);
}

describe('API edges', () => {
  let server: TestServer;
  let receiver: Receiver;
  beforeAll(async () => {
    server = await startTestServer({ RIZLER_MAX_ENDPOINTS: '3' });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await server.close();
    await receiver.close();
  });

  it('answers 401 unauthorized on every account route without a valid key', async () => {
    for (const route of ALL_ROUTES) {
      const none = await fetch(server.url + route.path, {
        method: route.method,
        headers: { 'content-type': 'application/json' },
        body: route.body ? JSON.stringify(route.body) : undefined,
      });
      expect(none.status, `${route.method} ${route.path}`).toBe(401);
      const wrong = await server.api(route.path, {
        method: route.method,
        body: route.body,
        apiKey: 'rzk_wrong',
      });
      expectError(wrong, 401, 'unauthorized');
    }
  });

  it('guards the admin API with RIZLER_ADMIN_TOKEN', async () => {
    expectError(await server.api('/v1/accounts', { body: { name: 'x' } }), 401, 'unauthorized');
    const created = await server.api('/v1/accounts', {
      body: { name: 'acme' },
      apiKey: server.adminToken,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'acme' });
    expect(created.body.id).toMatch(/^acc_/);
    expect(created.body.api_key).toMatch(/^rzk_/);
    const me = await server.api('/v1/account', { apiKey: created.body.api_key });
    expect(me.body).toMatchObject({ id: created.body.id, name: 'acme', usage: { endpoints: 0 } });
  });

  it('lists the catalogue', async () => {
    const res = await fetch(server.url + '/v1/event-types');
    const body = (await res.json()) as {
      data: { name: string; description: string; example: unknown }[];
    };
    const names = body.data.map((t) => t.name);
    for (const name of SPEC_EVENT_TYPES) {
      expect(names).toContain(name);
    }
    for (const t of body.data) {
      expect(t.description.length).toBeGreaterThan(0);
      expect(typeof t.example).toBe('object');
    }
  });

  it('enforces the endpoint limit with 409 endpoint_limit_reached', async () => {
    const other = await server.newAccount('limit');
    for (let i = 0; i < 3; i++) {
      const ok = await server.api('/v1/webhooks', {
        apiKey: other.apiKey,
        body: { url: receiver.url, events: ['*'] },
      });
      expect(ok.status).toBe(201);
    }
    expectError(
      await server.api('/v1/webhooks', {
        apiKey: other.apiKey,
        body: { url: receiver.url, events: ['*'] },
      }),
      409,
      'endpoint_limit_reached',
    );
    // Another account is not affected.
    const mine = await server.api('/v1/webhooks', {
      body: { url: receiver.url, events: ['call.*'] },
    });
    expect(mine.status).toBe(201);
    await server.api(`/v1/webhooks/${mine.body.id}`, { method: 'DELETE' });
  });

  it("answers 404 for another account's objects on every route that takes an id", async () => {
    const owner = await server.newAccount('owner');
    const hook = await server.api('/v1/webhooks', {
      apiKey: owner.apiKey,
      body: { url: receiver.url, events: ['*'] },
    });
    const event = await server.api('/v1/events', {
      apiKey: owner.apiKey,
      body: { event: 'call.ended', data: DATA },
    });
    await receiver.waitFor(1);
    const deliveries = await server.api(`/v1/deliveries?webhook_id=${hook.body.id}`, {
      apiKey: owner.apiKey,
    });
    const ids = {
      webhook: hook.body.id,
      event: event.body.id,
      delivery: deliveries.body.data[0].id,
    };
    for (const route of ID_ROUTES(ids)) {
      const res = await server.api(route.path, { method: route.method, body: route.body });
      expectError(res, 404, 'not_found');
    }
    // Lists never show them either.
    expect((await server.api(`/v1/deliveries?webhook_id=${ids.webhook}`)).body.data).toEqual([]);
    expect(
      (await server.api('/v1/events')).body.data.map((e: { id: string }) => e.id),
    ).not.toContain(ids.event);
    // And the owner still has everything.
    for (const route of ID_ROUTES(ids).filter((r) => r.method === 'GET')) {
      expect((await server.api(route.path, { apiKey: owner.apiKey })).status).toBe(200);
    }
  });

  it('answers malformed input on every route with a 4xx error body, never a 5xx', async () => {
    const bad: { body?: unknown; raw?: string }[] = [
      { raw: '{not json' },
      { raw: '[]' },
      { raw: '"text"' },
      { raw: 'null' },
      { body: { url: 42, events: 'x', event: [], data: 'x', since: 'yesterday', name: {} } },
      { body: { events: [{ event: 7 }] } },
    ];
    for (const route of ALL_ROUTES.filter((r) => r.method !== 'GET' && r.method !== 'DELETE')) {
      for (const b of bad) {
        const res = await server.api(route.path, { method: route.method, body: b.raw ?? b.body });
        expect(
          res.status,
          `${route.method} ${route.path} ${b.raw ?? JSON.stringify(b.body)}`,
        ).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(res.body.error.code).toMatch(/^[a-z_]+$/);
      }
    }
    for (const route of ALL_ROUTES.filter((r) => r.method === 'GET')) {
      const res = await server.api(
        `${route.path}?limit=0&cursor=%%%&status=nope&since=never&window=9y`,
      );
      expect(res.status, route.path).toBeLessThan(500);
      // Lists and stats read these parameters and refuse them; other routes ignore them.
      if (/^\/v1\/(webhooks|events|deliveries)$|stats$/.test(route.path)) {
        expectError(res, 400, 'validation_error');
      }
    }
  });

  it('names the problem: invalid JSON, validation, unknown types, bad URLs, bad data, size', async () => {
    expectError(await server.api('/v1/webhooks', { body: '{"url":' }), 400, 'invalid_json');
    expectError(
      await server.api('/v1/webhooks', { body: { events: ['*'] } }),
      400,
      'validation_error',
    );
    expectError(
      await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['call.exploded'] } }),
      422,
      'unknown_event_type',
    );
    expectError(
      await server.api('/v1/webhooks', { body: { url: 'ftp://example.com/x', events: ['*'] } }),
      422,
      'invalid_url',
    );
    expectError(
      await server.api('/v1/webhooks', { body: { url: 'not a url', events: ['*'] } }),
      422,
      'invalid_url',
    );
    expectError(
      await server.api('/v1/webhooks', {
        body: { url: receiver.url, events: ['*'], secret: 'short' },
      }),
      400,
      'validation_error',
    );
    expectError(
      await server.api('/v1/events', { body: { event: 'call.exploded', data: {} } }),
      422,
      'unknown_event_type',
    );
    expectError(
      await server.api('/v1/events', { body: { event: 'call.ended', data: [1, 2] } }),
      422,
      'invalid_event_data',
    );
    expectError(
      await server.api('/v1/events', { body: { event: 'call.ended', data: 'x' } }),
      422,
      'invalid_event_data',
    );
    const wrongField = await server.api('/v1/events', {
      body: { event: 'call.ended', data: { ...DATA, duration: 'long' } },
    });
    expectError(wrongField, 422, 'invalid_event_data');
    expect(wrongField.body.error.message).toContain('data.duration');
    const big = { ...DATA, note: 'x'.repeat(300 * 1024) };
    expectError(
      await server.api('/v1/events', { body: { event: 'call.ended', data: big } }),
      413,
      'payload_too_large',
    );
    const batch = await server.api('/v1/events/batch', {
      body: {
        events: [
          { event: 'call.ended', data: DATA },
          { event: 'call.ended', data: { ...DATA, duration: -1 } },
        ],
      },
    });
    expectError(batch, 422, 'invalid_event_data');
    expect(batch.body.error.message).toContain('events[1]');
    expectError(
      await server.api('/v1/events/batch', { body: { events: [] } }),
      400,
      'validation_error',
    );
    expectError(await server.api('/v1/nothing-here'), 404, 'not_found');
    // ajv coerces "Infinity" to a number that passes `integer`; the page check refuses it.
    expectError(await server.api('/v1/events?limit=Infinity'), 400, 'validation_error');
  });

  it('publishes idempotently: the same key within 24 h returns the first event', async () => {
    const hook = await server.api('/v1/webhooks', {
      body: { url: receiver.url, events: ['call.ended'] },
    });
    const before = receiver.requests.length;
    const headers = { 'idempotency-key': 'order-42' };
    const first = await server.api('/v1/events', {
      body: { event: 'call.ended', data: DATA },
      headers,
    });
    const second = await server.api('/v1/events', {
      body: { event: 'call.ended', data: DATA },
      headers,
    });
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body).toEqual(first.body);
    await receiver.waitFor(before + 1);
    const events = await server.api('/v1/events?event=call.ended&limit=100');
    expect(events.body.data.filter((e: { id: string }) => e.id === first.body.id)).toHaveLength(1);
    await server.api(`/v1/webhooks/${hook.body.id}`, { method: 'DELETE' });
  });

  it('counts only enabled subscribed endpoints, and lets disabled ones wait', async () => {
    const a = await server.newAccount('fanout');
    const r2 = await startReceiver();
    try {
      const on = await server.api('/v1/webhooks', {
        apiKey: a.apiKey,
        body: { url: receiver.url, events: ['call.*'] },
      });
      const off = await server.api('/v1/webhooks', {
        apiKey: a.apiKey,
        body: { url: r2.url, events: ['*'], status: 'disabled' },
      });
      expect(off.body.status).toBe('disabled');
      const unrelated = await server.api('/v1/webhooks', {
        apiKey: a.apiKey,
        body: { url: r2.url, events: ['agent.*'] },
      });
      expect(unrelated.status).toBe(201);
      const res = await server.api('/v1/events', {
        apiKey: a.apiKey,
        body: { event: 'call.ended', data: DATA },
      });
      expect(res.body.deliveries).toBe(1);
      const got = await server.api(`/v1/webhooks/${on.body.id}`, { apiKey: a.apiKey });
      expect(got.body).not.toHaveProperty('secret');
    } finally {
      await r2.close();
    }
  });

  it('paginates lists newest first with an opaque cursor', async () => {
    const a = await server.newAccount('pages');
    for (let i = 0; i < 5; i++) {
      await server.api('/v1/events', {
        apiKey: a.apiKey,
        body: { event: 'call.ended', data: DATA },
      });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await server.api(`/v1/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`, {
        apiKey: a.apiKey,
      });
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((e: { id: string }) => e.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toHaveLength(5);
    expect([...seen].sort().reverse()).toEqual(seen);
  });
});

describe('management API rate limit', () => {
  it('answers 429 rate_limited with Retry-After and X-RateLimit-* headers, not counting publishing', async () => {
    const server = await startTestServer({ RIZLER_API_RATE_LIMIT: '5' });
    try {
      for (let i = 0; i < 5; i++) {
        const ok = await server.api('/v1/webhooks');
        expect(ok.status).toBe(200);
        expect(ok.headers.get('x-ratelimit-limit')).toBe('5');
        expect(Number(ok.headers.get('x-ratelimit-remaining'))).toBe(4 - i);
        expect(ok.headers.get('x-ratelimit-reset')).toMatch(/^\d+$/);
      }
      const limited = await server.api('/v1/webhooks');
      expectError(limited, 429, 'rate_limited');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const publish = await server.api('/v1/events', { body: { event: 'call.ended', data: DATA } });
      expect(publish.status).toBe(202);
    } finally {
      await server.close();
    }
  });
});
