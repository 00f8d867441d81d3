// SPEC §9 over HTTP: scoped API keys, the operator's API (accounts, suspension, deletion,
// publish on behalf), portal sessions and the audit log, against a real server and a real
// receiver, with the bad input each answers with a clear 4xx.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const DATA = findEventType('call.ended')!.example;
const EVENT = { event: 'call.ended', data: DATA };

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.message.length).toBeGreaterThan(10);
}

describe('platform integration', () => {
  let server: TestServer;
  let receiver: Receiver;
  let admin: Record<string, string>;
  beforeAll(async () => {
    server = await startTestServer({
      RIZLER_PUBLIC_URL: 'https://hooks.example.com',
      RIZLER_RETRY_SCHEDULE: '300ms,300ms,300ms',
    });
    receiver = await startReceiver();
    admin = { authorization: `Bearer ${server.adminToken}` };
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  describe('API keys', () => {
    it('creates a key shown once, lists it without the key, and revokes it at once', async () => {
      const created = await server.api('/v1/api-keys', {
        body: { name: 'CI publisher', scopes: ['publish', 'read'] },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        name: 'CI publisher',
        scopes: ['publish', 'read'],
        expires_at: null,
        last_used_at: null,
      });
      expect(created.body.key).toMatch(/^rzk_/);
      expect(created.body.key.startsWith(created.body.prefix)).toBe(true);
      const key = created.body.key as string;

      expect((await server.api('/v1/events', { body: EVENT, apiKey: key })).status).toBe(202);
      const list = await server.api('/v1/api-keys');
      const listed = list.body.data.find((k: { id: string }) => k.id === created.body.id);
      expect(listed.key).toBeUndefined();
      expect(JSON.stringify(list.body)).not.toContain(key);
      expect(Date.parse(listed.last_used_at)).toBeGreaterThan(Date.now() - 60_000);
      // The first key of the account has every scope.
      expect(list.body.data.at(-1).scopes).toEqual(['publish', 'read', 'manage', 'keys']);

      const revoked = await server.api(`/v1/api-keys/${created.body.id}`, { method: 'DELETE' });
      expect(revoked.status).toBe(204);
      expectError(
        await server.api('/v1/events', { body: EVENT, apiKey: key }),
        401,
        'unauthorized',
      );
      expectError(
        await server.api(`/v1/api-keys/${created.body.id}`, { method: 'DELETE' }),
        404,
        'not_found',
      );
    });

    it('refuses unknown scopes, a past expiry and unknown fields with 400', async () => {
      expectError(
        await server.api('/v1/api-keys', { body: { name: 'x', scopes: ['admin'] } }),
        400,
        'validation_error',
      );
      expectError(
        await server.api('/v1/api-keys', { body: { name: 'x', scopes: [] } }),
        400,
        'validation_error',
      );
      const past = await server.api('/v1/api-keys', {
        body: { name: 'x', scopes: ['read'], expires_at: '2020-01-01T00:00:00Z' },
      });
      expectError(past, 400, 'validation_error');
      expect(past.body.error.message).toMatch(/expires_at/);
      expectError(
        await server.api('/v1/api-keys', { body: { name: 'x', scopes: ['read'], owner: 'me' } }),
        400,
        'validation_error',
      );
    });

    it('answers 401 for a key once it has expired', async () => {
      const created = await server.api('/v1/api-keys', {
        body: {
          name: 'short',
          scopes: ['read'],
          expires_at: new Date(Date.now() + 1500).toISOString(),
        },
      });
      expect(created.status).toBe(201);
      expect((await server.api('/v1/webhooks', { apiKey: created.body.key })).status).toBe(200);
      await vi.waitFor(
        async () =>
          expectError(
            await server.api('/v1/webhooks', { apiKey: created.body.key }),
            401,
            'unauthorized',
          ),
        { timeout: 5000, interval: 200 },
      );
    });

    it('names the missing scope in the 403', async () => {
      const reader = await server.api('/v1/api-keys', { body: { name: 'r', scopes: ['read'] } });
      const res = await server.api('/v1/events', { body: EVENT, apiKey: reader.body.key });
      expectError(res, 403, 'forbidden');
      expect(res.body.error.message).toContain('"publish"');
    });
  });

  describe("the operator's API", () => {
    it('lists, reads and updates accounts; a null limit falls back to the default', async () => {
      const { accountId } = await server.newAccount('listed');
      const page = await server.api('/v1/accounts?limit=1', { headers: admin });
      expect(page.status).toBe(200);
      expect(page.body.data).toHaveLength(1);
      expect(page.body.data[0].id).toBe(accountId);
      expect(page.body.next_cursor).toEqual(expect.any(String));
      const next = await server.api(`/v1/accounts?cursor=${page.body.next_cursor}`, {
        headers: admin,
      });
      expect(next.body.data.map((a: { id: string }) => a.id)).toContain(server.accountId);

      const patched = await server.api(`/v1/accounts/${accountId}`, {
        method: 'PATCH',
        headers: admin,
        body: { name: 'Renamed', limits: { max_endpoints: 1, api_rate_limit_per_minute: 50 } },
      });
      expect(patched.body).toMatchObject({
        id: accountId,
        name: 'Renamed',
        status: 'active',
        limits: { max_endpoints: 1, api_rate_limit_per_minute: 50 },
        usage: { endpoints: 0 },
      });
      const reset = await server.api(`/v1/accounts/${accountId}`, {
        method: 'PATCH',
        headers: admin,
        body: { limits: { api_rate_limit_per_minute: null } },
      });
      expect(reset.body.limits).toEqual({
        max_endpoints: 1,
        api_rate_limit_per_minute: 1000,
        endpoint_rate_limit_per_minute: 1000,
        publish_rate_limit_per_minute: null,
      });
      expectError(
        await server.api(`/v1/accounts/${accountId}`, {
          method: 'PATCH',
          headers: admin,
          body: { status: 'paused' },
        }),
        400,
        'validation_error',
      );
      expectError(
        await server.api('/v1/accounts/acc_missing', { headers: admin }),
        404,
        'not_found',
      );
    });

    it("enforces an account's own endpoint limit", async () => {
      const { accountId, apiKey } = await server.newAccount('small');
      await server.api(`/v1/accounts/${accountId}`, {
        method: 'PATCH',
        headers: admin,
        body: { limits: { max_endpoints: 1 } },
      });
      const hook = { url: `${receiver.url}/small`, events: ['*'] };
      expect((await server.api('/v1/webhooks', { body: hook, apiKey })).status).toBe(201);
      expectError(
        await server.api('/v1/webhooks', { body: hook, apiKey }),
        409,
        'endpoint_limit_reached',
      );
    });

    it('publishes on behalf of an account, with the answer of POST /v1/events', async () => {
      const { accountId, apiKey } = await server.newAccount('behalf');
      await server.api('/v1/webhooks', {
        body: { url: `${receiver.url}/behalf`, events: ['call.*'] },
        apiKey,
      });
      const res = await server.api(`/v1/accounts/${accountId}/events`, {
        headers: { ...admin, 'idempotency-key': 'k-1' },
        body: EVENT,
      });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ event: 'call.ended', deliveries: 1 });
      const again = await server.api(`/v1/accounts/${accountId}/events`, {
        headers: { ...admin, 'idempotency-key': 'k-1' },
        body: EVENT,
      });
      expect(again.body.id).toBe(res.body.id);
      const batch = await server.api(`/v1/accounts/${accountId}/events/batch`, {
        headers: admin,
        body: { events: [EVENT, EVENT] },
      });
      expect(batch.status).toBe(202);
      expect(batch.body.data).toHaveLength(2);
      const events = await server.api('/v1/events', { apiKey });
      expect(events.body.data).toHaveLength(3);
      expectError(
        await server.api('/v1/accounts/acc_missing/events', { headers: admin, body: EVENT }),
        404,
        'not_found',
      );
      // An account's key is not the admin token.
      expectError(
        await server.api(`/v1/accounts/${accountId}/events`, { apiKey, body: EVENT }),
        401,
        'unauthorized',
      );
      // Nor is the admin token an account's key: it is told where the account's routes are.
      const asAccount = await server.api('/v1/events', { headers: admin, body: EVENT });
      expectError(asAccount, 401, 'unauthorized');
      expect(asAccount.body.error.message).toMatch(/does not act as an account/);
      // A wrong token is told nothing of the kind.
      const wrong = await server.api('/v1/events', {
        headers: { authorization: 'Bearer not-the-admin-token-and-not-a-key' },
        body: EVENT,
      });
      expectError(wrong, 401, 'unauthorized');
      expect(wrong.body.error.message).not.toMatch(/admin/);
    });

    it('suspends an account: publishing answers 403, pending deliveries wait, and resume delivers them', async () => {
      const { accountId, apiKey } = await server.newAccount('suspended');
      receiver.respondWith((req) => ({ status: req.url.endsWith('/suspended') ? 500 : 200 }));
      await server.api('/v1/webhooks', {
        body: { url: `${receiver.url}/suspended`, events: ['*'] },
        apiKey,
      });
      const published = await server.api('/v1/events', { body: EVENT, apiKey });
      expect(published.body).toMatchObject({ deliveries: 1 });
      const attempts = () => receiver.requests.filter((r) => r.url.endsWith('/suspended')).length;
      await vi.waitFor(() => expect(attempts()).toBeGreaterThanOrEqual(1), { timeout: 5000 });
      const suspended = await server.api(`/v1/accounts/${accountId}`, {
        method: 'PATCH',
        headers: admin,
        body: { status: 'suspended' },
      });
      expect(suspended.body.status).toBe('suspended');
      const seen = attempts();
      expectError(
        await server.api('/v1/events', { body: EVENT, apiKey }),
        403,
        'account_suspended',
      );
      expectError(
        await server.api(`/v1/accounts/${accountId}/events`, { headers: admin, body: EVENT }),
        403,
        'account_suspended',
      );
      expect((await server.api('/v1/webhooks', { apiKey })).status).toBe(200);
      // Retries were due every 300 ms: none is attempted while suspended (one in flight at
      // the moment of suspension may finish).
      await sleep(1500);
      expect(attempts()).toBeLessThanOrEqual(seen + 1);
      const parked = attempts();
      await sleep(700);
      expect(attempts()).toBe(parked);

      receiver.respondWith(() => ({ status: 200 }));
      await server.api(`/v1/accounts/${accountId}`, {
        method: 'PATCH',
        headers: admin,
        body: { status: 'active' },
      });
      await vi.waitFor(
        async () => {
          const list = await server.api('/v1/deliveries', { apiKey });
          expect(list.body.data[0].status).toBe('succeeded');
        },
        { timeout: 5000, interval: 100 },
      );
    });

    it('deletes an account: its keys answer 401, it is gone, and a second delete is 404', async () => {
      const { accountId, apiKey } = await server.newAccount('doomed');
      await server.api('/v1/webhooks', {
        body: { url: `${receiver.url}/doomed`, events: ['*'] },
        apiKey,
      });
      await server.api('/v1/events', { body: EVENT, apiKey });
      const del = await server.api(`/v1/accounts/${accountId}`, {
        method: 'DELETE',
        headers: admin,
      });
      expect(del.status).toBe(204);
      expectError(await server.api('/v1/webhooks', { apiKey }), 401, 'unauthorized');
      expectError(
        await server.api(`/v1/accounts/${accountId}`, { headers: admin }),
        404,
        'not_found',
      );
      expectError(
        await server.api(`/v1/accounts/${accountId}`, { method: 'DELETE', headers: admin }),
        404,
        'not_found',
      );
      // The rows go in the background: the worker's retention job looks for deleted accounts
      // and webhooks every 5 s, and purges them batch after batch.
      await vi.waitFor(
        async () => {
          expect(
            await server.service.storage.listEvents(accountId, {}, { limit: 1, after: null }),
          ).toEqual([]);
        },
        { timeout: 20_000, interval: 200 },
      );
    });
  });

  describe('portal sessions', () => {
    it('opens a link for one account whose token reads and manages but never publishes', async () => {
      const res = await server.api(`/v1/accounts/${server.accountId}/portal-sessions`, {
        headers: admin,
        body: { expires_in: 600 },
      });
      expect(res.status).toBe(201);
      expect(res.body.url).toBe(`https://hooks.example.com/portal#token=${res.body.token}`);
      expect(Date.parse(res.body.expires_at) - Date.now()).toBeGreaterThan(590_000);
      const token = res.body.token as string;
      expect((await server.api('/v1/webhooks', { apiKey: token })).status).toBe(200);
      const created = await server.api('/v1/webhooks', {
        apiKey: token,
        body: { url: `${receiver.url}/portal`, events: ['*'] },
      });
      expect(created.status).toBe(201);
      expectError(await server.api('/v1/events', { apiKey: token, body: EVENT }), 403, 'forbidden');
      expectError(await server.api('/v1/api-keys', { apiKey: token }), 403, 'forbidden');

      const log = await server.api('/v1/audit-log');
      const entry = log.body.data.find(
        (e: { target_id: string; action: string }) =>
          e.target_id === created.body.id && e.action === 'webhook.created',
      );
      expect(entry.actor).toEqual({ type: 'portal_session', id: expect.stringMatching(/^ps_/) });
      expect(JSON.stringify(log.body)).not.toContain(created.body.secret);
      const viaAdmin = await server.api(`/v1/accounts/${server.accountId}/audit-log?limit=100`, {
        headers: admin,
      });
      expect(viaAdmin.body.data.map((e: { id: string }) => e.id)).toContain(entry.id);
    });

    it('gives read-only sessions the read scope alone', async () => {
      const res = await server.api(`/v1/accounts/${server.accountId}/portal-sessions`, {
        headers: admin,
        body: { read_only: true },
      });
      const token = res.body.token as string;
      expect((await server.api('/v1/deliveries', { apiKey: token })).status).toBe(200);
      expectError(
        await server.api('/v1/webhooks', {
          apiKey: token,
          body: { url: `${receiver.url}/ro`, events: ['*'] },
        }),
        403,
        'forbidden',
      );
    });

    it('refuses expires_in outside 60–86400 and sessions for unknown accounts', async () => {
      for (const expires_in of [59, 86_401, 'soon']) {
        expectError(
          await server.api(`/v1/accounts/${server.accountId}/portal-sessions`, {
            headers: admin,
            body: { expires_in },
          }),
          400,
          'validation_error',
        );
      }
      expectError(
        await server.api('/v1/accounts/acc_missing/portal-sessions', { headers: admin, body: {} }),
        404,
        'not_found',
      );
      expectError(
        await server.api(`/v1/accounts/${server.accountId}/portal-sessions`, { body: {} }),
        401,
        'unauthorized',
      );
    });
  });
});
