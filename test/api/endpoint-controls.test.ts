// SPEC §11 endpoint controls through the API, against a real server and receiver: custom
// headers (checked, sent on every attempt, masked where listed) and content filters (checked
// when saved, applied when publishing, ignored by test sends).
import { findEventType } from '../../src/core/event-catalogue.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('endpoint controls', () => {
  let server: TestServer;
  let receiver: Receiver;
  beforeAll(async () => {
    server = await startTestServer({ RIZLER_MAX_ENDPOINTS: '50' });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await server.close();
    await receiver.close();
  });

  const create = (body: Record<string, unknown>) =>
    server.api('/v1/webhooks', { body: { url: receiver.url, events: ['call.ended'], ...body } });

  describe('custom headers', () => {
    it('refuses reserved names, CR or LF, bad names and more than 20, naming the header', async () => {
      for (const name of [
        'Content-Type',
        'content-length',
        'user-agent',
        'Connection',
        'Transfer-Encoding',
        'traceparent',
        'X-Rizler-Event',
        'X-RIZLER-SIGNATURE',
        'webhook-id',
        'Webhook-Signature',
        'Host',
      ]) {
        const res = await create({ headers: { [name]: 'x' } });
        expect(res.status).toBe(422);
        expect(res.body.error.code).toBe('validation_error');
        expect(res.body.error.message).toContain(`headers["${name}"]`);
      }
      const crlf = await create({ headers: { 'X-Team': 'sales\r\nX-Evil: 1' } });
      expect(crlf.status).toBe(422);
      expect(crlf.body.error.message).toMatch(/headers\["X-Team"\].*CR or LF/);
      const badName = await create({ headers: { 'X Team': 'a' } });
      expect(badName.status).toBe(422);
      const long = await create({ headers: { 'X-Big': 'a'.repeat(1025) } });
      expect(long.status).toBe(422);
      expect(long.body.error.message).toMatch(/1 KiB/);
      const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, 'v']));
      const tooMany = await create({ headers: many });
      expect(tooMany.status).toBe(422);
      expect(tooMany.body.error.message).toMatch(/at most 20/);
    });

    it('takes them only as the strict schema says: declared, strings, no NUL, no control characters', async () => {
      const before = (await server.api('/v1/webhooks?limit=100')).body.data.length;
      // The edge's NUL guard covers header names and values (400, as for any field).
      const nulValue = await create({ headers: { 'X-Team': 'sa\u0000les' } });
      expect(nulValue.status).toBe(400);
      expect(nulValue.body.error.code).toBe('validation_error');
      expect(nulValue.body.error.message).toMatch(/NUL/);
      const nulName = await create({ headers: { 'X-Te\u0000am': 'sales' } });
      expect(nulName.status).toBe(400);
      expect(nulName.body.error.message).toMatch(/NUL/);
      // Bodies are not coerced: a number is not a header value.
      const numeric = await create({ headers: { 'X-Count': 3 } });
      expect(numeric.status).toBe(400);
      expect(numeric.body.error.code).toBe('validation_error');
      // Other control characters than CR and LF are refused too; a tab is allowed.
      for (const value of ['a\u0001b', 'a\u007fb', 'caf\u00e9']) {
        const res = await create({ headers: { 'X-Team': value } });
        expect(res.status, JSON.stringify(value)).toBe(422);
        expect(res.body.error.message).toContain('headers["X-Team"]');
      }
      expect((await create({ headers: { 'X-Team': 'a\tb' } })).status).toBe(201);
      // The body stays closed to unknown fields next to the new ones.
      const typo = await create({ header: { 'X-Team': 'sales' } });
      expect(typo.status).toBe(400);
      expect(typo.body.error.message).toMatch(/Unknown field "header"/);
      const after = (await server.api('/v1/webhooks?limit=100')).body.data.length;
      expect(after).toBe(before + 1);
    });

    it('sends them with every attempt, shows them in the delivery, masks credentials in lists', async () => {
      const token = 'Bearer sk_live_0123456789abcdef';
      const created = await create({
        headers: { 'X-Team': 'sales', Authorization: token },
        events: ['call.missed'],
      });
      expect(created.status).toBe(201);
      expect(created.body.headers).toEqual({ 'X-Team': 'sales', Authorization: token });
      const id = created.body.id;
      const read = await server.api(`/v1/webhooks/${id}`);
      expect(read.body.headers.Authorization).toBe(token);
      const list = await server.api('/v1/webhooks?limit=100');
      const listed = list.body.data.find((w: any) => w.id === id);
      expect(listed.headers['X-Team']).toBe('sales');
      expect(listed.headers.Authorization).not.toContain('0123456789abcdef');
      expect(listed.headers.Authorization).toMatch(/^Bear•+$/);

      receiver.requests.length = 0;
      const published = await server.api('/v1/events', {
        body: { event: 'call.missed', data: findEventType('call.missed')!.example },
      });
      expect(published.status).toBe(202);
      const [request] = await receiver.waitFor(1);
      expect(request!.headers['x-team']).toBe('sales');
      expect(request!.headers.authorization).toBe(token);
      expect(request!.headers['x-rizler-event']).toBe('call.missed');

      // Received is not recorded: the detail shows the attempt's headers once it is stored.
      const deliveries = await server.api(`/v1/deliveries?webhook_id=${id}`);
      const detail = await vi.waitFor(async () => {
        const read = await server.api(`/v1/deliveries/${deliveries.body.data[0].id}`);
        expect(read.body.attempts).toHaveLength(1);
        return read;
      }, 10_000);
      expect(detail.body.request.headers['x-team']).toBe('sales');
      expect(detail.body.request.headers.authorization).toMatch(/^Bear•+$/);
      expect(detail.body.request.headers['x-rizler-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);

      // A test send is a real attempt: the headers go with it too.
      receiver.requests.length = 0;
      const test = await server.api(`/v1/webhooks/${id}/test`, { body: {} });
      expect(test.body.success).toBe(true);
      expect(receiver.requests[0]!.headers['x-team']).toBe('sales');
    });

    it('changes them with PATCH, and stores nothing of a PATCH with a bad one', async () => {
      const created = await create({ headers: { 'X-Team': 'sales' } });
      const id = created.body.id;
      const refused = await server.api(`/v1/webhooks/${id}`, {
        method: 'PATCH',
        body: { description: 'changed', headers: { 'X-Rizler-Attempt': '9' } },
      });
      expect(refused.status).toBe(422);
      const unchanged = await server.api(`/v1/webhooks/${id}`);
      expect(unchanged.body.description).toBeNull();
      expect(unchanged.body.headers).toEqual({ 'X-Team': 'sales' });
      const patched = await server.api(`/v1/webhooks/${id}`, {
        method: 'PATCH',
        body: { headers: { 'X-Region': 'eu' } },
      });
      expect(patched.status).toBe(200);
      expect(patched.body.headers).toEqual({ 'X-Region': 'eu' });
    });
  });

  describe('content filters', () => {
    it('refuses an invalid filter with 422 naming the operator or the limit', async () => {
      const unknown = await create({ filter: { data: { duration: { $gtx: 60 } } } });
      expect(unknown.status).toBe(422);
      expect(unknown.body.error.code).toBe('validation_error');
      expect(unknown.body.error.message).toContain('filter.data.duration');
      expect(unknown.body.error.message).toContain('$gtx');
      let deep: unknown = { $exists: true };
      for (let i = 0; i < 9; i++) deep = { a: deep };
      const tooDeep = await create({ filter: deep });
      expect(tooDeep.status).toBe(422);
      expect(tooDeep.body.error.message).toMatch(/nested more than 8 levels/);
      const big = await create({
        filter: { data: { x: { $in: Array.from({ length: 600 }, (_, i) => `value_${i}`) } } },
      });
      expect(big.status).toBe(422);
      expect(big.body.error.message).toMatch(/4096 bytes/);
      const notObject = await create({ filter: [1, 2] });
      expect(notObject.status).toBe(400);
      // Deep enough to overflow a recursive walk: refused for its depth, never a 500.
      const abyss = `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
      const overflow = await server.api('/v1/webhooks', {
        body: `{"url":${JSON.stringify(receiver.url)},"events":["call.ended"],"filter":${abyss}}`,
      });
      expect(overflow.status).toBe(422);
      expect(overflow.body.error.message).toMatch(/nested more than 8 levels/);
    });

    it('refuses a NUL anywhere in a filter, as the edge does for every other field', async () => {
      for (const filter of [
        { data: { queue_id: 'queue\u0000sales' } },
        { data: { queue_id: { $in: ['a', 'b\u0000'] } } },
        { data: { 'queue\u0000id': 'x' } },
        { 'da\u0000ta': { x: 1 } },
      ]) {
        const res = await create({ filter });
        expect(res.status, JSON.stringify(filter)).toBe(400);
        expect(res.body.error.code).toBe('validation_error');
        expect(res.body.error.message).toMatch(/NUL/);
      }
      const named = await create({ filter: { data: { queue_id: { $in: ['a', 'b\u0000'] } } } });
      expect(named.body.error.message).toContain('filter.data.queue_id.$in[1]');
    });

    it('delivers only the events the filter lets through, counts only those, ignores it in tests', async () => {
      const filter = {
        data: { direction: 'inbound', duration: { $gte: 60 }, queue_id: 'queue_sales' },
      };
      const created = await create({ events: ['call.ended'], filter });
      expect(created.status).toBe(201);
      expect(created.body.filter).toEqual(filter);
      const id = created.body.id;
      // Other endpoints of this account (from the tests above) subscribe to call.ended too:
      // count this one's deliveries by difference.
      const base = {
        call_id: 'call_f1',
        agent_id: 'agent_1',
        status: 'completed',
        direction: 'inbound',
        queue_id: 'queue_sales',
      };
      const short = await server.api('/v1/events', {
        body: { event: 'call.ended', data: { ...base, duration: 30 } },
      });
      const long = await server.api('/v1/events', {
        body: { event: 'call.ended', data: { ...base, duration: 90 } },
      });
      expect(long.body.deliveries - short.body.deliveries).toBe(1);
      const deliveries = await server.api(`/v1/deliveries?webhook_id=${id}`);
      expect(deliveries.body.data.map((d: any) => d.event_id)).toEqual([long.body.id]);

      const test = await server.api(`/v1/webhooks/${id}/test`, { body: { event: 'call.missed' } });
      expect(test.body.success).toBe(true);

      const cleared = await server.api(`/v1/webhooks/${id}`, {
        method: 'PATCH',
        body: { filter: null },
      });
      expect(cleared.body.filter).toBeNull();
      const again = await server.api('/v1/events', {
        body: { event: 'call.ended', data: { ...base, duration: 30 } },
      });
      expect(again.body.deliveries - short.body.deliveries).toBe(1);
    });
  });
});
