// Endpoint health (SPEC §4): an endpoint that has failed for RIZLER_AUTO_DISABLE_AFTER is
// disabled as "failing"; a 410 Gone disables it at once; its pending deliveries wait and
// resume when it is enabled again.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const DATA = findEventType('call.ended')!.example;

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('endpoint health', () => {
  let server: TestServer;
  let receiver: Receiver;
  beforeEach(async () => {
    server = await startTestServer({
      RIZLER_RETRY_SCHEDULE: '300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms',
      RIZLER_AUTO_DISABLE_AFTER: '1s',
    });
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await server.close();
    await receiver.close();
  });

  it('disables an endpoint at once when it answers 410 Gone, and resumes when enabled', async () => {
    receiver.respondWith((_r, i) => (i === 0 ? { status: 410 } : { status: 200 }));
    const hook = await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['*'] } });
    await server.api('/v1/events', { body: { event: 'call.ended', data: DATA } });
    const disabled = await until(async () => {
      const w = await server.api(`/v1/webhooks/${hook.body.id}`);
      return w.body.status === 'disabled' ? w.body : undefined;
    });
    expect(disabled.disabled_reason).toBe('gone');
    // A new event makes no delivery; the failed one waits without attempts.
    const second = await server.api('/v1/events', { body: { event: 'call.ended', data: DATA } });
    expect(second.body.deliveries).toBe(0);
    const waiting = await server.api(`/v1/deliveries?webhook_id=${hook.body.id}`);
    expect(waiting.body.data).toHaveLength(1);
    expect(waiting.body.data[0].status).toBe('pending');
    expect(receiver.requests).toHaveLength(1);

    const enabled = await server.api(`/v1/webhooks/${hook.body.id}`, {
      method: 'PATCH',
      body: { status: 'enabled' },
    });
    expect(enabled.body).toMatchObject({ status: 'enabled', disabled_reason: null });
    await receiver.waitFor(2);
    const done = await until(async () => {
      const d = await server.api(`/v1/deliveries/${waiting.body.data[0].id}`);
      return d.body.status === 'succeeded' ? d.body : undefined;
    });
    expect(done.attempt_count).toBe(2);
  });

  it('disables an endpoint whose every delivery has failed for RIZLER_AUTO_DISABLE_AFTER', async () => {
    receiver.respondWith(() => ({ status: 500 }));
    const hook = await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['*'] } });
    await server.api('/v1/events', { body: { event: 'call.ended', data: DATA } });
    const disabled = await until(async () => {
      const w = await server.api(`/v1/webhooks/${hook.body.id}`);
      return w.body.status === 'disabled' ? w.body : undefined;
    });
    expect(disabled.disabled_reason).toBe('failing');
    const first = receiver.requests[0]!.receivedAt;
    const last = receiver.requests.at(-1)!.receivedAt;
    expect(last - first).toBeGreaterThanOrEqual(900);
    const list = await server.api(`/v1/deliveries?webhook_id=${hook.body.id}`);
    expect(list.body.data[0].status).toBe('pending');

    const metrics = await (await fetch(server.url + '/metrics')).text();
    expect(metrics).toMatch(/rizler_endpoints\{state="disabled:failing"\} 1/);
  });

  it('keeps an endpoint enabled while some deliveries succeed', async () => {
    receiver.respondWith((_r, i) => (i % 2 === 0 ? { status: 500 } : { status: 200 }));
    const hook = await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['*'] } });
    // Failures and successes alternate for longer than RIZLER_AUTO_DISABLE_AFTER (1 s): only
    // a success clearing the failing clock keeps the endpoint enabled.
    const started = Date.now();
    for (let i = 0; i < 8; i++) {
      await server.api('/v1/events', { body: { event: 'call.ended', data: DATA } });
      await new Promise((r) => setTimeout(r, 200));
    }
    await receiver.waitFor(16);
    expect(receiver.requests.at(-1)!.receivedAt - started).toBeGreaterThan(1000);
    const w = await server.api(`/v1/webhooks/${hook.body.id}`);
    expect(w.body.status).toBe('enabled');
  });
});
