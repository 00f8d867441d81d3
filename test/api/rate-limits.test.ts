// The publish limit counts events, not requests (a batch of N takes N tokens, all or nothing);
// every answer carries X-RateLimit-* headers; failed authentications are limited per address,
// whichever credential failed (API key, portal session, admin token); an account's own limits,
// set by the operator, replace the service's in the same buckets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const DATA = findEventType('call.ended')!.example;
const event = () => ({ event: 'call.ended', data: DATA });
const batch = (n: number) => ({ events: Array.from({ length: n }, event) });

function expectLimitHeaders(headers: Headers, where: string, limit?: number): void {
  expect(headers.get('x-ratelimit-limit'), where).toMatch(/^\d+$/);
  expect(headers.get('x-ratelimit-remaining'), where).toMatch(/^\d+$/);
  expect(headers.get('x-ratelimit-reset'), where).toMatch(/^\d+$/);
  if (limit !== undefined) expect(headers.get('x-ratelimit-limit'), where).toBe(String(limit));
}

describe('RIZLER_PUBLISH_RATE_LIMIT=3: one token per event', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ RIZLER_RUN_WORKER: 'false', RIZLER_PUBLISH_RATE_LIMIT: '3' });
  });
  afterAll(async () => server?.close());

  const stored = async () => (await server.api('/v1/events?limit=100')).body.data.length;

  it('refuses a batch larger than the limit, and stores nothing of it', async () => {
    const res = await server.api('/v1/events/batch', { body: batch(1000) });
    expect(res.status).toBe(429);
    expect(res.body.error.code).toBe('rate_limited');
    expect(res.body.error.message).toMatch(/at most 3 at a time/);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expectLimitHeaders(res.headers, 'batch of 1000', 3);
    expect(await stored()).toBe(0);
  });

  it('takes N tokens for a batch of N, all or nothing, with Retry-After', async () => {
    const two = await server.api('/v1/events/batch', { body: batch(2) });
    expect(two.status).toBe(202);
    expectLimitHeaders(two.headers, 'batch of 2', 3);
    expect(two.headers.get('x-ratelimit-remaining')).toBe('1');

    const again = await server.api('/v1/events/batch', { body: batch(2) });
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(again.headers.get('x-ratelimit-remaining')).toBe('1');
    expect(await stored()).toBe(2);

    const one = await server.api('/v1/events', { body: event() });
    expect(one.status).toBe(202);
    expectLimitHeaders(one.headers, 'single publish', 3);
    expect(one.headers.get('x-ratelimit-remaining')).toBe('0');
    const over = await server.api('/v1/events', { body: event() });
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await stored()).toBe(3);
  });

  it('describes the publish bucket on a refused publish body too', async () => {
    const res = await server.api('/v1/events', { body: { event: 'call.ended' } });
    expect(res.status).toBe(400);
    expectLimitHeaders(res.headers, 'invalid publish', 3);
  });
});

describe('X-RateLimit-* on every answer', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ RIZLER_RUN_WORKER: 'false', RIZLER_API_RATE_LIMIT: '50' });
  });
  afterAll(async () => server?.close());

  it('on publishing without a publish limit: the API bucket, untouched', async () => {
    const before = await server.api('/v1/webhooks');
    const remaining = Number(before.headers.get('x-ratelimit-remaining'));
    const res = await server.api('/v1/events', { body: event() });
    expect(res.status).toBe(202);
    expectLimitHeaders(res.headers, 'publish', 50);
    expect(Number(res.headers.get('x-ratelimit-remaining'))).toBeGreaterThanOrEqual(remaining);
  });

  it('on routes without a limit, without an account, and on errors', async () => {
    const answers = [
      await server.api('/v1/event-types'),
      await server.api('/healthz'),
      await server.api('/v1/nothing'),
      await server.api('/v1/webhooks', { apiKey: 'rzk_wrong' }),
      await server.api('/v1/accounts', { body: { name: 'x' }, apiKey: server.adminToken }),
      await server.api('/v1/webhooks', { body: { url: 'x' } }),
    ];
    for (const res of answers) expectLimitHeaders(res.headers, `answer ${res.status}`);
  });

  it('on an event stream, which opening counts against the API limit', async () => {
    const controller = new AbortController();
    const res = await fetch(`${server.url}/v1/stream/events`, {
      headers: { authorization: `Bearer ${server.apiKey}` },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expectLimitHeaders(res.headers, 'stream', 50);
    controller.abort();
  });
});

describe('RIZLER_AUTH_FAILURE_LIMIT=3: failed authentications per client address', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      RIZLER_RUN_WORKER: 'false',
      RIZLER_AUTH_FAILURE_LIMIT: '3',
      // So that the test can speak from a second address.
      RIZLER_TRUST_PROXY: '127.0.0.1',
    });
  });
  afterAll(async () => server?.close());

  it('answers 429 after 3 failures, even to the right key, from that address only', async () => {
    const from = (address: string) => ({ 'x-forwarded-for': address });
    for (const key of ['rzk_a', 'rzk_b']) {
      const res = await server.api('/v1/webhooks', { apiKey: key, headers: from('10.0.0.1') });
      expect(res.status).toBe(401);
    }
    const admin = await server.api('/v1/accounts', {
      body: { name: 'x' },
      apiKey: 'not-the-admin-token-but-long-enough-x',
      headers: from('10.0.0.1'),
    });
    expect(admin.status).toBe(401);
    expect(admin.headers.get('x-ratelimit-remaining')).toBe('0');

    const blocked = await server.api('/v1/webhooks', {
      apiKey: 'rzk_c',
      headers: from('10.0.0.1'),
    });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('rate_limited');
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const right = await server.api('/v1/webhooks', { headers: from('10.0.0.1') });
    expect(right.status).toBe(429);
    const adminRight = await server.api('/v1/accounts', {
      body: { name: 'x' },
      apiKey: server.adminToken,
      headers: from('10.0.0.1'),
    });
    expect(adminRight.status).toBe(429);

    // Another address is not held back, and success does not spend the budget.
    for (let i = 0; i < 5; i++) {
      expect((await server.api('/v1/webhooks', { headers: from('10.0.0.2') })).status).toBe(200);
    }
  });

  it('counts a revoked key, an unknown portal session and the admin token on an account route, not a missing scope', async () => {
    const from = { 'x-forwarded-for': '10.0.0.3' };
    const create = (name: string, scopes: string[]) =>
      server.api('/v1/api-keys', { body: { name, scopes } });
    const readOnly = (await create('read only', ['read'])).body.key as string;
    const revoked = await create('revoked', ['read']);
    expect((await server.api(`/v1/api-keys/${revoked.body.id}`, { method: 'DELETE' })).status).toBe(
      204,
    );

    // A key without the scope is a credential that worked: 403, and nothing spent.
    for (let i = 0; i < 4; i++) {
      const res = await server.api('/v1/webhooks', {
        body: { url: 'http://127.0.0.1:9/x', events: ['*'] },
        apiKey: readOnly,
        headers: from,
      });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    }

    const failures = [
      await server.api('/v1/webhooks', { apiKey: revoked.body.key, headers: from }),
      await server.api('/v1/webhooks', { apiKey: 'rzp_no-such-portal-session', headers: from }),
      await server.api('/v1/webhooks', { apiKey: server.adminToken, headers: from }),
    ];
    expect(failures.map((r) => r.status)).toEqual([401, 401, 401]);
    expect(failures.map((r) => r.headers.get('x-ratelimit-remaining'))).toEqual(['2', '1', '0']);

    const blocked = await server.api('/v1/webhooks', { apiKey: readOnly, headers: from });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('rate_limited');
  });
});

describe("an account's own limits (PATCH /v1/accounts/:id) in the same buckets", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ RIZLER_RUN_WORKER: 'false', RIZLER_API_RATE_LIMIT: '50' });
  });
  afterAll(async () => server?.close());

  it('counts its publish limit per event, on its own routes and on behalf alike, and its API limit', async () => {
    const admin = { apiKey: server.adminToken };
    const limited = await server.api(`/v1/accounts/${server.accountId}`, {
      ...admin,
      method: 'PATCH',
      body: { limits: { publish_rate_limit_per_minute: 3, api_rate_limit_per_minute: 20 } },
    });
    expect(limited.status).toBe(200);

    const tooBig = await server.api('/v1/events/batch', { body: batch(4) });
    expect(tooBig.status).toBe(429);
    expect(tooBig.body.error.message).toMatch(/at most 3 at a time/);
    const two = await server.api('/v1/events/batch', { body: batch(2) });
    expect(two.status).toBe(202);
    expectLimitHeaders(two.headers, 'own batch', 3);
    expect(two.headers.get('x-ratelimit-remaining')).toBe('1');
    const forIt = await server.api(`/v1/accounts/${server.accountId}/events`, {
      ...admin,
      body: event(),
    });
    expect(forIt.status).toBe(202);
    expect(forIt.headers.get('x-ratelimit-remaining')).toBe('0');
    const over = await server.api(`/v1/accounts/${server.accountId}/events/batch`, {
      ...admin,
      body: batch(1),
    });
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    expectLimitHeaders((await server.api('/v1/webhooks')).headers, 'own API limit', 20);
    // Another account keeps the service's limits: no publish limit, the API's 50.
    const other = await server.newAccount();
    const theirs = await server.api('/v1/events/batch', { body: batch(4), apiKey: other.apiKey });
    expect(theirs.status).toBe(202);
    expectLimitHeaders(theirs.headers, 'default limits', 50);
  });
});
