// rizler-webhooks/client against a real server: typed calls, publish with an Idempotency-Key
// that makes a repeat return the first event, pagination over every page, errors with the
// API's code. Retries on 429 and 503 are checked against a real HTTP server that answers them.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRizlerClient, RizlerApiError, retryAfterMs } from '../../src/client/index.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const DATA = { call_id: 'call_1', duration: 180, status: 'completed' };

describe('the typed client', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ RIZLER_RUN_WORKER: 'false' });
  });
  afterAll(async () => server.close());

  it('calls every route typed, and publishes once per idempotency key', async () => {
    const client = createRizlerClient({ baseUrl: server.url, apiKey: server.apiKey });
    const created = await client.api.POST('/v1/webhooks', {
      body: { url: 'http://127.0.0.1:9/hooks', events: ['call.*'] },
    });
    expect(created.response.status).toBe(201);
    expect(created.data!.secret).toMatch(/^whsec_/);
    const read = await client.api.GET('/v1/webhooks/{id}', {
      params: { path: { id: created.data!.id } },
    });
    expect(read.data!.url).toBe('http://127.0.0.1:9/hooks');

    const first = await client.publish(
      { event: 'call.ended', data: DATA },
      { idempotencyKey: 'k1' },
    );
    const again = await client.publish(
      { event: 'call.ended', data: DATA },
      { idempotencyKey: 'k1' },
    );
    expect(first.deliveries).toBe(1);
    expect(again.id).toBe(first.id);
    // Without a key of the caller's, each publish gets its own.
    const other = await client.publish({ event: 'call.ended', data: DATA });
    expect(other.id).not.toBe(first.id);

    const batch = await client.publishBatch([
      { event: 'call.ended', data: DATA },
      { event: 'call.ended', data: DATA },
    ]);
    expect(batch.data).toHaveLength(2);
  });

  it('walks every page of a list', async () => {
    const client = createRizlerClient({ baseUrl: server.url, apiKey: server.apiKey });
    const ids: string[] = [];
    for await (const event of client.paginate('/v1/events', { limit: 1 })) ids.push(event.id);
    const all = await server.api('/v1/events?limit=100');
    expect(ids).toEqual(all.body.data.map((e: { id: string }) => e.id));
    expect(ids.length).toBeGreaterThanOrEqual(4);
    const failed: string[] = [];
    for await (const d of client.paginate('/v1/deliveries', { status: 'failed', limit: 2 })) {
      failed.push(d.id);
    }
    expect(failed).toEqual([]);
  });

  it('publishes for an account with the admin token, once per key, and walks its audit log', async () => {
    const operator = createRizlerClient({ baseUrl: server.url, apiKey: server.adminToken });
    const account = server.accountId;
    const first = await operator.publish(
      { event: 'call.ended', data: DATA },
      { idempotencyKey: 'on-behalf-1', accountId: account },
    );
    const again = await operator.publish(
      { event: 'call.ended', data: DATA },
      { idempotencyKey: 'on-behalf-1', accountId: account },
    );
    expect(again.id).toBe(first.id);
    const batch = await operator.publishBatch([{ event: 'call.ended', data: DATA }], {
      accountId: account,
    });
    expect(batch.data).toHaveLength(1);
    // Published into the account: its own key reads them.
    const mine = createRizlerClient({ baseUrl: server.url, apiKey: server.apiKey });
    const { data: read } = await mine.api.GET('/v1/events/{id}', {
      params: { path: { id: batch.data[0]!.id } },
    });
    expect(read!.id).toBe(batch.data[0]!.id);

    const accounts: string[] = [];
    for await (const a of operator.paginate('/v1/accounts', { limit: 1 })) accounts.push(a.id);
    expect(accounts).toContain(account);
    await mine.api.PATCH('/v1/webhooks/{id}', {
      params: { path: { id: (await mine.api.GET('/v1/webhooks')).data!.data[0]!.id } },
      body: { description: 'audited' },
    });
    const actions: string[] = [];
    for await (const entry of operator.paginate(
      '/v1/accounts/{id}/audit-log',
      { limit: 1 },
      { id: account },
    )) {
      actions.push(entry.action);
    }
    expect(actions).toContain('webhook.updated');
    expect(actions).toContain('webhook.created');
  });

  it('throws the API’s error code and message', async () => {
    const client = createRizlerClient({ baseUrl: server.url, apiKey: 'rzk_wrong' });
    const error = await client.publish({ event: 'call.ended', data: DATA }).catch((e) => e);
    expect(error).toBeInstanceOf(RizlerApiError);
    expect(error).toMatchObject({ status: 401, code: 'unauthorized' });
  });
});

describe('retries', () => {
  let answers: { status: number; retryAfter?: string }[] = [];
  const seen: { at: number; key: string | undefined; body: string }[] = [];
  const upstream = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ at: performance.now(), key: req.headers['idempotency-key'] as string, body });
      const next = answers.shift() ?? { status: 202 };
      res.writeHead(next.status, {
        'content-type': 'application/json',
        ...(next.retryAfter ? { 'retry-after': next.retryAfter } : {}),
      });
      res.end(
        next.status === 202
          ? JSON.stringify({ id: 'evt_1', event: 'call.ended', timestamp: 'x', deliveries: 0 })
          : JSON.stringify({
              error: {
                code: next.status === 429 ? 'rate_limited' : 'service_unavailable',
                message: 'later',
              },
            }),
      );
    });
  });
  let baseUrl = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    upstream.closeAllConnections();
    await new Promise((resolve) => upstream.close(resolve));
  });

  it('sends again after 429 and 503, waiting what Retry-After says, with the same key and body', async () => {
    seen.length = 0;
    answers = [
      { status: 429, retryAfter: '1' },
      { status: 503, retryAfter: '0' },
    ];
    const client = createRizlerClient({ baseUrl, apiKey: 'rzk_x' });
    const published = await client.publish({ event: 'call.ended', data: DATA });
    expect(published.id).toBe('evt_1');
    expect(seen).toHaveLength(3);
    expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(950);
    expect(new Set(seen.map((s) => s.key)).size).toBe(1);
    expect(new Set(seen.map((s) => s.body)).size).toBe(1);
  });

  it('gives up after its retries and reports the last answer', async () => {
    seen.length = 0;
    answers = [503, 503, 503].map((status) => ({ status, retryAfter: '0' }));
    const client = createRizlerClient({ baseUrl, apiKey: 'rzk_x', retries: 2 });
    const error = await client.publish({ event: 'call.ended', data: DATA }).catch((e) => e);
    expect(error).toMatchObject({ status: 503, code: 'service_unavailable' });
    expect(seen).toHaveLength(3);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    const now = Date.parse('2026-01-15T10:00:00Z');
    expect(retryAfterMs('Thu, 15 Jan 2026 10:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs(null)).toBeNull();
    expect(retryAfterMs('soon')).toBeNull();
  });
});
