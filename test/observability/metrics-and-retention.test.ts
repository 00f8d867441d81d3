import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { RetentionJob } from '../../src/worker/retention.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const DATA = findEventType('call.ended')!.example;

describe('metrics and retention', () => {
  let server: TestServer;
  let receiver: Receiver;
  beforeAll(async () => {
    server = await startTestServer();
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await server.close();
    await receiver.close();
  });

  it('exposes attempts, latency, queue depth, in-flight, endpoints and events published', async () => {
    await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['*'] } });
    await server.api('/v1/events/batch', {
      body: {
        events: [
          { event: 'call.ended', data: DATA },
          { event: 'call.ended', data: DATA },
        ],
      },
    });
    await receiver.waitFor(2);
    let text = '';
    for (let i = 0; i < 100; i++) {
      text = await (await fetch(server.url + '/metrics')).text();
      if (/rizler_delivery_attempts_total\{outcome="succeeded",trigger="auto"\} 2/.test(text))
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(text).toMatch(/rizler_delivery_attempts_total\{outcome="succeeded",trigger="auto"\} 2/);
    expect(text).toMatch(/rizler_events_published_total 2/);
    expect(text).toMatch(/rizler_delivery_latency_seconds_count 2/);
    expect(text).toMatch(/rizler_delivery_attempt_duration_seconds_bucket/);
    expect(text).toMatch(/rizler_queue_depth\{state="due"\} \d+/);
    expect(text).toMatch(/rizler_queue_oldest_due_age_seconds \d/);
    expect(text).toMatch(/rizler_delivery_in_flight \d/);
    expect(text).toMatch(/rizler_endpoints\{state="enabled"\} 1/);
    // The worker counts on its own thread; its figures and the API's are summed, each metric
    // described once, and the process figures come from one thread only.
    expect(text.match(/^# TYPE rizler_delivery_attempts_total counter$/gm)).toHaveLength(1);
    expect(text.match(/^rizler_process_process_cpu_user_seconds_total \S+$/gm)).toHaveLength(1);
  });

  it('purges finished rows older than the retention period in batches, keeping newer ones', async () => {
    const storage = server.service.storage;
    const before = (await server.api('/v1/events?limit=100')).body.data.length;
    expect(before).toBeGreaterThan(0);
    // Nothing is old enough today...
    const today = new RetentionJob(
      storage,
      { retentionDays: 30, batchSize: 1 },
      pino({ level: 'silent' }),
    );
    expect(await today.runOnce()).toEqual({ events: 0, deliveries: 0, attempts: 0, rollups: 0 });
    // ...31 days from now, everything finished is.
    const later = new RetentionJob(
      storage,
      { retentionDays: 30, batchSize: 1, pauseMs: 0 },
      pino({ level: 'silent' }),
      () => Date.now() + 31 * 86_400_000,
    );
    const purged = await later.runOnce();
    expect(purged.events).toBe(before);
    expect(purged.deliveries).toBeGreaterThan(0);
    expect(purged.attempts).toBe(purged.deliveries);
    expect((await server.api('/v1/events')).body.data).toEqual([]);
    expect((await server.api('/v1/deliveries')).body.data).toEqual([]);
  });
});
