// Ordered delivery end to end (SPEC §10): the webhook's `ordering` field in the API, and a real
// worker delivering each call's events in order to a receiver that fails every first attempt.
// The order rule itself is pinned on both engines by test/storage/ordering.test.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CALL_EVENTS = ['call.started', 'call.ringing', 'call.answered', 'call.ended'];

describe('ordered delivery', () => {
  let server: TestServer;
  let receiver: Receiver;
  beforeEach(async () => {
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await receiver.close();
    await server?.close();
  });

  it('ordering is none by default, per_key when asked for on create or PATCH, and validated', async () => {
    server = await startTestServer({ RIZLER_RUN_WORKER: 'false' });
    const plain = await server.api('/v1/webhooks', {
      body: { url: receiver.url, events: ['*'] },
    });
    expect(plain.status).toBe(201);
    expect(plain.body.ordering).toBe('none');
    const ordered = await server.api('/v1/webhooks', {
      body: { url: receiver.url, events: ['call.*'], ordering: 'per_key' },
    });
    expect(ordered.body.ordering).toBe('per_key');
    expect((await server.api(`/v1/webhooks/${ordered.body.id}`)).body.ordering).toBe('per_key');
    const listed = await server.api('/v1/webhooks');
    expect(listed.body.data.map((w: { ordering: string }) => w.ordering).sort()).toEqual([
      'none',
      'per_key',
    ]);

    const patched = await server.api(`/v1/webhooks/${plain.body.id}`, {
      method: 'PATCH',
      body: { ordering: 'per_key' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.ordering).toBe('per_key');
    // Another change leaves it as it is.
    const renamed = await server.api(`/v1/webhooks/${plain.body.id}`, {
      method: 'PATCH',
      body: { description: 'calls' },
    });
    expect(renamed.body.ordering).toBe('per_key');

    for (const bad of ['fifo', 'PER_KEY', null, true]) {
      const created = await server.api('/v1/webhooks', {
        body: { url: receiver.url, events: ['*'], ordering: bad },
      });
      expect(created.status, JSON.stringify(bad)).toBe(400);
      expect(created.body.error.code).toBe('validation_error');
      expect(created.body.error.message).toMatch(/ordering/);
      const changed = await server.api(`/v1/webhooks/${plain.body.id}`, {
        method: 'PATCH',
        body: { ordering: bad },
      });
      expect(changed.status).toBe(400);
    }
  });

  it('a waiting delivery names the delivery it waits for in its answer', async () => {
    server = await startTestServer({ RIZLER_RUN_WORKER: 'false' });
    await server.api('/v1/webhooks', {
      body: { url: receiver.url, events: ['call.*'], ordering: 'per_key' },
    });
    for (const event of CALL_EVENTS.slice(0, 2)) {
      const data = { ...findEventType(event)!.example, call_id: 'call_7' };
      expect((await server.api('/v1/events', { body: { event, data } })).status).toBe(202);
    }
    const list = (await server.api('/v1/deliveries')).body.data as {
      id: string;
      event: string;
      waiting_for: string | null;
      next_attempt_at: string | null;
    }[];
    const head = list.find((d) => d.event === 'call.started')!;
    const waiting = list.find((d) => d.event === 'call.ringing')!;
    expect(head.waiting_for).toBeNull();
    expect(waiting.waiting_for).toBe(head.id);
    expect(waiting.next_attempt_at).toBeNull();
    const detail = await server.api(`/v1/deliveries/${waiting.id}`);
    expect(detail.body.waiting_for).toBe(head.id);
  });

  it('delivers each call’s events in order to a receiver that fails every first attempt', async () => {
    server = await startTestServer();
    const seen = new Set<string>();
    // Each delivery's first attempt fails: without ordering, retries would overtake.
    receiver.respondWith((req) => {
      const id = String(req.headers['x-rizler-delivery']);
      if (seen.has(id)) return { status: 200 };
      seen.add(id);
      return { status: 500 };
    });
    await server.api('/v1/webhooks', {
      body: { url: receiver.url, events: ['call.*'], ordering: 'per_key' },
    });
    const calls = ['call_a', 'call_b', 'call_c'];
    for (const event of CALL_EVENTS) {
      for (const call_id of calls) {
        const data = { ...findEventType(event)!.example, call_id };
        expect((await server.api('/v1/events', { body: { event, data } })).status).toBe(202);
      }
    }
    // two attempts per delivery
    await receiver.waitFor(calls.length * CALL_EVENTS.length * 2, 60_000);
    for (const call of calls) {
      const types = receiver.requests
        .filter((r) => r.headers['x-rizler-ordering-key'] === call)
        .map((r) => String(r.headers['x-rizler-event']));
      // every attempt of an event comes before any attempt of the next
      expect(types).toEqual(CALL_EVENTS.flatMap((e) => [e, e]));
    }
  });
});
