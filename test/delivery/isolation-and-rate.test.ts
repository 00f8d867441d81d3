// A slow or dead endpoint never slows delivery to the others; a per-endpoint rate limit
// delays deliveries without failing them or counting attempts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const DATA = findEventType('call.ended')!.example;

describe('isolation and rate limits', () => {
  let server: TestServer;
  let healthy: Receiver;
  let hanging: Receiver;
  beforeEach(async () => {
    server = await startTestServer({
      RIZLER_DELIVERY_TIMEOUT_MS: '10000',
      RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT: '16',
    });
    healthy = await startReceiver();
    hanging = await startReceiver();
    hanging.respondWith(() => ({ hang: true }));
  });
  afterEach(async () => {
    await healthy.close();
    await hanging.close();
    await server.close();
  });

  it('delivers to a healthy endpoint while another hangs for the whole 10 s timeout', async () => {
    await server.api('/v1/webhooks', { body: { url: hanging.url, events: ['*'] } });
    await server.api('/v1/webhooks', { body: { url: healthy.url, events: ['*'] } });
    const events = Array.from({ length: 300 }, () => ({ event: 'call.ended', data: DATA }));
    const published = await server.api('/v1/events/batch', { body: { events } });
    expect(published.status).toBe(202);
    // The hanging endpoint holds at most its own in-flight cap...
    await hanging.waitFor(16);
    const start = Date.now();
    // ...while the healthy one gets all 300, long before any hanging attempt times out.
    await healthy.waitFor(300, 9_000);
    expect(Date.now() - start).toBeLessThan(9_000);
    expect(hanging.requests.length).toBe(16);
  }, 30_000);

  it('holds deliveries beyond rate_limit_per_minute back without failing them', async () => {
    const hook = await server.api('/v1/webhooks', {
      body: { url: healthy.url, events: ['call.ended'], rate_limit_per_minute: 60 },
    });
    expect(hook.body.rate_limit_per_minute).toBe(60);
    // A full bucket allows a burst of 60, then one a second.
    const events = Array.from({ length: 62 }, () => ({ event: 'call.ended', data: DATA }));
    await server.api('/v1/events/batch', { body: { events } });
    await healthy.waitFor(60);
    const burstEnd = Date.now();
    await healthy.waitFor(62, 10_000);
    expect(Date.now() - burstEnd).toBeGreaterThanOrEqual(1500);
    let list = await server.api(`/v1/deliveries?webhook_id=${hook.body.id}&limit=100`);
    while (list.body.data.some((d: { status: string }) => d.status !== 'succeeded')) {
      await new Promise((r) => setTimeout(r, 50));
      list = await server.api(`/v1/deliveries?webhook_id=${hook.body.id}&limit=100`);
    }
    expect(list.body.data).toHaveLength(62);
    for (const d of list.body.data) expect(d.attempt_count).toBe(1);
  }, 30_000);
});
