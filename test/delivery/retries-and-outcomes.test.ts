// Success and failure rules (SPEC §4): 2xx succeeds; 3xx, 4xx, 5xx, timeouts and refused
// connections fail and are retried on the schedule; Retry-After postpones; manual retries.
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const DATA = { call_id: 'call_1', agent_id: 'agent_1', duration: 3, status: 'completed' };

async function waitUntil<T>(probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A port nothing listens on: bind, note the port, close. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('delivery outcomes and retries', () => {
  let server: TestServer;
  let receiver: Receiver;
  beforeEach(async () => {
    server = await startTestServer({
      RIZLER_RETRY_SCHEDULE: '200ms,400ms',
      RIZLER_DELIVERY_TIMEOUT_MS: '500',
    });
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await server.close();
    await receiver.close();
  });

  async function publishTo(url: string) {
    const hook = await server.api('/v1/webhooks', { body: { url, events: ['*'] } });
    expect(hook.status).toBe(201);
    const event = await server.api('/v1/events', { body: { event: 'call.ended', data: DATA } });
    expect(event.status).toBe(202);
    const list = await server.api(`/v1/deliveries?webhook_id=${hook.body.id}`);
    return { webhookId: hook.body.id as string, deliveryId: list.body.data[0].id as string };
  }

  const finished = (deliveryId: string) =>
    waitUntil(async () => {
      const d = await server.api(`/v1/deliveries/${deliveryId}`);
      return d.body.status === 'pending' ? undefined : d.body;
    });

  for (const status of [200, 201, 204, 299]) {
    it(`counts HTTP ${status} as success after one attempt`, async () => {
      receiver.respondWith(() => ({ status, body: status === 204 ? '' : 'thanks' }));
      const { deliveryId } = await publishTo(receiver.url);
      const d = await finished(deliveryId);
      expect(d.status).toBe('succeeded');
      expect(d.attempt_count).toBe(1);
      expect(d.last_status_code).toBe(status);
      expect(d.attempts[0].trigger).toBe('auto');
      expect(d.attempts[0].response_body).toBe(status === 204 ? '' : 'thanks');
      expect(receiver.requests).toHaveLength(1);
    });
  }

  for (const status of [301, 302, 400, 404, 500, 503]) {
    it(`fails HTTP ${status}, retries on the schedule, then marks the delivery failed`, async () => {
      receiver.respondWith(() => ({
        status,
        headers:
          status < 400
            ? { location: 'http://127.0.0.1:1/elsewhere' }
            : ({} as Record<string, string>),
      }));
      const { deliveryId } = await publishTo(receiver.url);
      const d = await finished(deliveryId);
      expect(d.status).toBe('failed');
      expect(d.attempt_count).toBe(3); // the first attempt and two retries
      expect(d.attempts.map((a: { attempt: number }) => a.attempt)).toEqual([1, 2, 3]);
      expect(receiver.requests.map((r) => r.headers['x-rizler-attempt'])).toEqual(['1', '2', '3']);
      // Same event id on every retry; receivers dedupe on it.
      expect(new Set(receiver.requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
      const [a1, a2, a3] = receiver.requests.map((r) => r.receivedAt);
      // 200 ms and 400 ms less 10 % jitter (and a little clock slack) at the least.
      expect(a2! - a1!).toBeGreaterThanOrEqual(170);
      expect(a3! - a2!).toBeGreaterThanOrEqual(350);
      expect(d.last_error).toMatch(
        status < 400 ? /redirect .* not followed/ : new RegExp(`HTTP ${status}`),
      );
      if (status < 400) expect(receiver.requests).toHaveLength(3); // never followed the Location
      expect(d.next_attempt_at).toBeNull();
    });
  }

  it('postpones a retry as long as Retry-After asks on 429', async () => {
    receiver.respondWith((_r, i) =>
      i === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 },
    );
    const { deliveryId } = await publishTo(receiver.url);
    const d = await finished(deliveryId);
    expect(d.status).toBe('succeeded');
    expect(d.attempts[0].status_code).toBe(429);
    expect(
      receiver.requests[1]!.receivedAt - receiver.requests[0]!.receivedAt,
    ).toBeGreaterThanOrEqual(950);
  });

  it('fails an attempt that takes longer than the timeout, with a clear error', async () => {
    receiver.respondWith((_r, i) => (i === 0 ? { hang: true } : { status: 200 }));
    const { deliveryId } = await publishTo(receiver.url);
    const d = await finished(deliveryId);
    expect(d.status).toBe('succeeded');
    expect(d.attempts[0].error).toBe('timeout after 500 ms');
    expect(d.attempts[0].status_code).toBeNull();
    expect(d.attempts[0].duration_ms).toBeGreaterThanOrEqual(450);
  });

  it('fails a refused connection with "connection refused" and keeps retrying', async () => {
    const port = await closedPort();
    const { deliveryId } = await publishTo(`http://127.0.0.1:${port}/hook`);
    const d = await finished(deliveryId);
    expect(d.status).toBe('failed');
    expect(d.attempt_count).toBe(3);
    for (const a of d.attempts) expect(a.error).toBe('connection refused');
  });

  it('keeps response bodies up to 8 KiB', async () => {
    receiver.respondWith(() => ({ status: 200, body: 'x'.repeat(20_000) }));
    const { deliveryId } = await publishTo(receiver.url);
    const d = await finished(deliveryId);
    expect(d.attempts[0].response_body).toHaveLength(8192);
  });

  it('retries a failed delivery by hand without restarting automatic retries', async () => {
    receiver.respondWith(() => ({ status: 500 }));
    const { deliveryId } = await publishTo(receiver.url);
    const failed = await finished(deliveryId);
    expect(failed.status).toBe('failed');

    // A manual retry that fails leaves the status as it was.
    const retry = await server.api(`/v1/deliveries/${deliveryId}/retry`, { method: 'POST' });
    expect(retry.status).toBe(202);
    expect(retry.body.id).toBe(deliveryId);
    const afterFailedRetry = await waitUntil(async () => {
      const d = await server.api(`/v1/deliveries/${deliveryId}`);
      return d.body.attempt_count === 4 ? d.body : undefined;
    });
    expect(afterFailedRetry.status).toBe('failed');
    expect(afterFailedRetry.attempts[3].trigger).toBe('manual');
    expect(receiver.requests[3]!.headers['x-rizler-attempt']).toBe('4');

    // One that succeeds marks it succeeded; nothing else is sent after it.
    receiver.respondWith(() => ({ status: 200 }));
    await server.api(`/v1/deliveries/${deliveryId}/retry`, { method: 'POST' });
    const ok = await waitUntil(async () => {
      const d = await server.api(`/v1/deliveries/${deliveryId}`);
      return d.body.status === 'succeeded' ? d.body : undefined;
    });
    expect(ok.attempt_count).toBe(5);
    expect(ok.attempts[4].trigger).toBe('manual');
  });

  it('recovers every failed delivery of an endpoint since a time', async () => {
    receiver.respondWith(() => ({ status: 500 }));
    const { webhookId, deliveryId } = await publishTo(receiver.url);
    await finished(deliveryId);
    receiver.respondWith(() => ({ status: 200 }));
    const since = new Date(Date.now() - 60_000).toISOString();
    const recovered = await server.api(`/v1/webhooks/${webhookId}/recover`, { body: { since } });
    expect(recovered.status).toBe(202);
    expect(recovered.body.deliveries).toBe(1);
    const d = await waitUntil(async () => {
      const r = await server.api(`/v1/deliveries/${deliveryId}`);
      return r.body.status === 'succeeded' ? r.body : undefined;
    });
    expect(d.attempts.at(-1).trigger).toBe('manual');
  });

  it('sends a test to a saved webhook and to an unsaved URL, logged with test: true', async () => {
    receiver.respondWith(() => ({ status: 200, body: 'test ok' }));
    const hook = await server.api('/v1/webhooks', {
      body: { url: receiver.url, events: ['call.*'] },
    });
    const result = await server.api(`/v1/webhooks/${hook.body.id}/test`, {
      body: { event: 'call.started' },
    });
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({
      success: true,
      status_code: 200,
      response_body: 'test ok',
      error: null,
    });
    expect(result.body.duration_ms).toBeGreaterThanOrEqual(0);
    expect(receiver.requests[0]!.headers['x-rizler-event']).toBe('call.started');

    const unsaved = await server.api('/v1/webhooks/test', { body: { url: receiver.url } });
    expect(unsaved.status).toBe(200);
    expect(unsaved.body.success).toBe(true);
    expect(receiver.requests[1]!.headers['x-rizler-event']).toBe('call.ended');

    const logs = await server.api(`/v1/deliveries?webhook_id=${hook.body.id}`);
    expect(logs.body.data).toHaveLength(1);
    expect(logs.body.data[0].test).toBe(true);
    const detail = await server.api(`/v1/deliveries/${result.body.delivery_id}`);
    expect(detail.body.attempts[0].trigger).toBe('test');

    receiver.respondWith(() => ({ status: 500, body: 'nope' }));
    const failing = await server.api(`/v1/webhooks/${hook.body.id}/test`, { method: 'POST' });
    expect(failing.body).toMatchObject({ success: false, status_code: 500, response_body: 'nope' });
    expect(failing.body.error).toMatch(/HTTP 500/);
  });

  it('reports per-webhook stats: counts, success rate and response-time percentiles', async () => {
    receiver.respondWith((_r, i) => (i < 3 ? { status: 200 } : { status: 500 }));
    const hook = await server.api('/v1/webhooks', {
      body: { url: receiver.url, events: ['call.ended'] },
    });
    for (let i = 0; i < 3; i++)
      await server.api('/v1/events', { body: { event: 'call.ended', data: DATA } });
    await receiver.waitFor(3);
    const stats = await waitUntil(async () => {
      const s = await server.api(`/v1/webhooks/${hook.body.id}/stats?window=1h`);
      return s.body.succeeded === 3 ? s.body : undefined;
    });
    expect(stats).toMatchObject({
      window: '1h',
      deliveries: 3,
      succeeded: 3,
      failed: 0,
      pending: 0,
      success_rate: 1,
    });
    expect(stats.response_time_ms.p50).toBeGreaterThanOrEqual(0);
    expect(stats.response_time_ms.p99).toBeGreaterThanOrEqual(stats.response_time_ms.p50);
    expect(stats.series.length).toBeGreaterThan(0);
    const bad = await server.api(`/v1/webhooks/${hook.body.id}/stats?window=2d`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_error');
  });
});
