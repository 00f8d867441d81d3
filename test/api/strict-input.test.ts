// What the edge refuses, on both engines: unknown fields and query parameters, values of the
// wrong type (never coerced), NUL characters anywhere, bytes that are not UTF-8, and an
// Idempotency-Key reused for another event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const DATA = findEventType('call.ended')!.example;

describe.each(['sqlite', 'postgres'] as const)('strict input on %s', (engine) => {
  let server: TestServer;
  let db: TestDatabase | undefined;
  let webhook: string;
  let delivery: string;
  beforeAll(async () => {
    const env: Record<string, string> = { RIZLER_RUN_WORKER: 'false' };
    if (engine === 'postgres') {
      db = await createTestDatabase();
      env.RIZLER_DATABASE_URL = db.url;
    }
    server = await startTestServer(env);
    const hook = await server.api('/v1/webhooks', {
      body: { url: 'http://127.0.0.1:9/x', events: ['*'] },
    });
    webhook = hook.body.id;
    await server.api('/v1/events', { body: { event: 'call.ended', data: DATA } });
    delivery = (await server.api('/v1/deliveries')).body.data[0].id;
  });
  afterAll(async () => {
    await server?.close();
    await db?.drop();
  });

  const expect400 = (res: { status: number; body: any }, pattern: RegExp) => {
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.code).toBe('validation_error');
    expect(res.body.error.message).toMatch(pattern);
  };

  it('refuses an unknown query parameter, naming it', async () => {
    expect400(await server.api('/v1/deliveries?stauts=failed'), /"stauts"/);
    expect400(await server.api('/v1/webhooks?limit=10&foo=1'), /"foo"/);
    // Numbers in a query still read as numbers.
    expect((await server.api('/v1/webhooks?limit=10')).status).toBe(200);
  });

  it('refuses an unknown body field, at any depth, naming it', async () => {
    expect400(
      await server.api('/v1/webhooks', {
        body: { url: 'http://127.0.0.1:9/x', evnts: ['*'], events: ['*'] },
      }),
      /"evnts"/,
    );
    expect400(
      await server.api('/v1/events/batch', {
        body: { events: [{ event: 'call.ended', data: DATA, extra: 1 }] },
      }),
      /"events\[0\]\.extra"/,
    );
    expect400(
      await server.api(`/v1/webhooks/${webhook}`, { method: 'PATCH', body: { staus: 'x' } }),
      /"staus"/,
    );
  });

  it('refuses a value of the wrong type instead of coercing it', async () => {
    const numeric = await server.api('/v1/webhooks', {
      body: { url: 'http://127.0.0.1:9/x', events: ['*'], secret: 1234567890123456 },
    });
    expect400(numeric, /secret/);
    expect400(
      await server.api('/v1/webhooks', {
        body: { url: 'http://127.0.0.1:9/x', events: ['*'], rate_limit_per_minute: '60' },
      }),
      /rate_limit_per_minute/,
    );
    expect400(
      await server.api('/v1/webhooks', { body: { url: 'http://127.0.0.1:9/x', events: 'call.*' } }),
      /events/,
    );
  });

  it('refuses NUL in ids, filters and fields with a 4xx, never a 500', async () => {
    const paths: [string, string, unknown?][] = [
      ['GET', `/v1/webhooks/wh_%00`],
      ['GET', `/v1/webhooks/${webhook}%00`],
      ['GET', '/v1/events/evt_%00'],
      ['GET', '/v1/deliveries/dlv_%00'],
      ['GET', '/v1/deliveries?event=call.ended%00'],
      ['GET', '/v1/deliveries?webhook_id=wh_%00'],
      ['GET', '/v1/events?event=call.ended%00'],
      ['GET', `/v1/events?cursor=%00`],
      ['POST', `/v1/deliveries/${delivery}%00/retry`, {}],
      ['POST', `/v1/webhooks/wh_%00/recover`, { since: '2024-01-01T00:00:00Z' }],
      ['POST', '/v1/events', { event: 'call.ended', data: DATA, idempotency_key: 'k\u0000' }],
      ['POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/\u0000', events: ['*'] }],
      ['POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/x', events: ['call.ended\u0000'] }],
      ['POST', `/v1/webhooks/${webhook}/test`, { event: 'call.ended\u0000' }],
    ];
    for (const [method, path, body] of paths) {
      const res = await server.api(path, { method, body });
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeGreaterThanOrEqual(
        400,
      );
      expect(res.status, `${method} ${path}`).toBeLessThan(500);
    }
    expect400(await server.api('/v1/deliveries?event=call.ended%00'), /NUL/);
  });

  it('holds on the platform routes too: keys, the operator API, publish on behalf', async () => {
    const admin = { apiKey: server.adminToken };
    const account = `/v1/accounts/${server.accountId}`;
    expect400(
      await server.api('/v1/api-keys', { body: { name: 'k', scopes: ['read'], scope: 'read' } }),
      /"scope"/,
    );
    expect400(
      await server.api('/v1/api-keys', { body: { name: 'k\u0000', scopes: ['read'] } }),
      /NUL/,
    );
    expect400(await server.api('/v1/audit-log?limt=5'), /"limt"/);
    expect400(
      await server.api(account, {
        ...admin,
        method: 'PATCH',
        body: { limits: { max_endpoint: 1 } },
      }),
      /"limits\.max_endpoint"/,
    );
    // Not coerced: "3600" is not a number of seconds.
    expect400(
      await server.api(`${account}/portal-sessions`, { ...admin, body: { expires_in: '3600' } }),
      /expires_in/,
    );
    expect400(
      await server.api(`${account}/events`, {
        ...admin,
        body: { event: 'call.ended', data: DATA, extra: 1 },
      }),
      /"extra"/,
    );
    expect400(
      await server.api(`${account}/events/batch`, {
        ...admin,
        body: { events: [{ event: 'call.ended', data: DATA, evnt: 'x' }] },
      }),
      /"events\[0\]\.evnt"/,
    );
    // The account of a publish on behalf is looked up only once its id is known to be clean.
    expect400(
      await server.api('/v1/accounts/acc_%00/events', {
        ...admin,
        body: { event: 'call.ended', data: DATA },
      }),
      /NUL/,
    );
  });

  it('refuses a body that is not UTF-8 instead of replacing its bytes', async () => {
    const head = Buffer.from('{"event":"call.ended","data":{"call_id":"');
    const tail = Buffer.from('","agent_id":"a","duration":1,"status":"completed"}}');
    const res = await fetch(`${server.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      body: Buffer.concat([head, Buffer.from([0xc3, 0x28, 0xff]), tail]),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('invalid_json');
    expect(body.error.message).toMatch(/UTF-8/);
  });

  it('answers 409 idempotency_conflict for a key reused with another event, single and batch', async () => {
    const publish = (data: unknown, type = 'call.ended') =>
      server.api('/v1/events', {
        body: { event: type, data },
        headers: { 'idempotency-key': `conflict-${engine}` },
      });
    const first = await publish(DATA);
    expect(first.status).toBe(202);
    const again = await publish({ ...DATA });
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    const other = await publish({ ...DATA, duration: 1 });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_conflict');
    expect((await publish(findEventType('call.started')!.example, 'call.started')).status).toBe(
      409,
    );

    const batch = await server.api('/v1/events/batch', {
      body: {
        events: [
          { event: 'call.ended', data: DATA, idempotency_key: `b-${engine}` },
          { event: 'call.ended', data: DATA, idempotency_key: `conflict-${engine}` },
        ],
      },
    });
    expect(batch.status).toBe(202);
    const conflicting = await server.api('/v1/events/batch', {
      body: {
        events: [
          { event: 'call.ended', data: DATA, idempotency_key: `new-${engine}` },
          { event: 'call.ended', data: { ...DATA, duration: 2 }, idempotency_key: `b-${engine}` },
        ],
      },
    });
    expect(conflicting.status).toBe(409);
    expect(conflicting.body.error.code).toBe('idempotency_conflict');
    // All or nothing: the first event of the refused batch was not stored.
    const again2 = await server.api('/v1/events/batch', {
      body: {
        events: [
          { event: 'call.ended', data: { ...DATA, duration: 3 }, idempotency_key: `new-${engine}` },
        ],
      },
    });
    expect(again2.status).toBe(202);
  });
});
