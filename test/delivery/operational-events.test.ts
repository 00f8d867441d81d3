// Operational events end to end (SPEC §11): a delivery that fails for good and an endpoint that
// answers 410 reach the account's subscribers and the installation operator, signed like any
// event, through the one delivery path; `*` does not receive them and nobody can publish them.
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const OPERATOR_SECRET = 'whsec_' + Buffer.alloc(32, 7).toString('base64');

describe('operational events', () => {
  let server: TestServer;
  let failing: Receiver;
  let ops: Receiver;
  let everything: Receiver;
  let operator: Receiver;
  beforeAll(async () => {
    [failing, ops, everything, operator] = await Promise.all([
      startReceiver(),
      startReceiver(),
      startReceiver(),
      startReceiver(),
    ]);
    failing.respondWith(() => ({ status: 500, body: 'down' }));
    server = await startTestServer({
      RIZLER_RETRY_SCHEDULE: '100ms',
      RIZLER_OPERATOR_WEBHOOK_URL: operator.url,
      RIZLER_OPERATOR_WEBHOOK_SECRET: OPERATOR_SECRET,
    });
  });
  afterAll(async () => {
    await server.close();
    await Promise.all([failing, ops, everything, operator].map((r) => r.close()));
  });

  const bodies = (r: Receiver) => r.requests.map((q) => JSON.parse(q.body));

  it('lists them in the catalogue as operational, and refuses them on publish', async () => {
    const catalogue = await server.api('/v1/event-types');
    const operational = catalogue.body.data
      .filter((t: any) => t.operational)
      .map((t: any) => t.name);
    expect(operational).toEqual(['webhook.disabled', 'webhook.enabled', 'delivery.exhausted']);
    const refused = await server.api('/v1/events', {
      body: {
        event: 'webhook.disabled',
        data: { webhook_id: 'wh_1', url: 'https://x', reason: 'manual' },
      },
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('unknown_event_type');
    expect(refused.body.error.message).toMatch(/published by Rizler itself/);
  });

  it('sends delivery.exhausted and webhook.disabled to subscribers and to the operator, signed', async () => {
    const opsHook = await server.api('/v1/webhooks', {
      body: { url: ops.url, events: ['delivery.exhausted', 'webhook.*'] },
    });
    const opsSecret = opsHook.body.secret;
    await server.api('/v1/webhooks', { body: { url: everything.url, events: ['*'] } });
    const target = await server.api('/v1/webhooks', {
      body: { url: failing.url, events: ['call.ended'] },
    });
    const published = await server.api('/v1/events', {
      body: {
        event: 'call.ended',
        data: { call_id: 'call_op1', agent_id: 'agent_1', duration: 5, status: 'completed' },
      },
    });
    expect(published.status).toBe(202);

    // First attempt and one retry fail: the delivery is exhausted.
    const [request] = await ops.waitFor(1, 10_000);
    const received = new Webhook(opsSecret).verify(request!.body, {
      'webhook-id': String(request!.headers['webhook-id']),
      'webhook-timestamp': String(request!.headers['webhook-timestamp']),
      'webhook-signature': String(request!.headers['webhook-signature']),
    }) as any;
    expect(received.event).toBe('delivery.exhausted');
    expect(received.data).toMatchObject({
      webhook_id: target.body.id,
      event_id: published.body.id,
      event: 'call.ended',
      attempts: 2,
      last_status_code: 500,
      last_error: 'the receiver answered HTTP 500',
    });
    expect(received.data.account_id).toBeUndefined();

    const [copy] = await operator.waitFor(1, 10_000);
    const operatorEvent = new Webhook(OPERATOR_SECRET).verify(copy!.body, {
      'webhook-id': String(copy!.headers['webhook-id']),
      'webhook-timestamp': String(copy!.headers['webhook-timestamp']),
      'webhook-signature': String(copy!.headers['webhook-signature']),
    }) as any;
    expect(operatorEvent.event).toBe('delivery.exhausted');
    expect(operatorEvent.data).toEqual({ ...received.data, account_id: server.accountId });

    // The endpoint now answers 410: disabled at once, one webhook.disabled.
    failing.respondWith(() => ({ status: 410, body: 'gone' }));
    await server.api('/v1/events', {
      body: {
        event: 'call.ended',
        data: { call_id: 'call_op2', agent_id: 'agent_1', duration: 5, status: 'completed' },
      },
    });
    await ops.waitFor(2, 10_000);
    expect(bodies(ops)[1]).toMatchObject({
      event: 'webhook.disabled',
      data: { webhook_id: target.body.id, url: failing.url, reason: 'gone' },
    });
    const read = await server.api(`/v1/webhooks/${target.body.id}`);
    expect(read.body.disabled_reason).toBe('gone');
    await operator.waitFor(2, 10_000);
    expect(bodies(operator)[1]).toMatchObject({
      event: 'webhook.disabled',
      data: { reason: 'gone', account_id: server.accountId },
    });

    // Fixed, and enabled again by hand: webhook.enabled. (Still answering 410, the parked
    // delivery sent again on enabling would disable it a second time, racing the counts below.)
    failing.respondWith(() => ({ status: 200, body: 'ok' }));
    await server.api(`/v1/webhooks/${target.body.id}`, {
      method: 'PATCH',
      body: { status: 'enabled' },
    });
    await ops.waitFor(3, 10_000);
    expect(bodies(ops)[2]).toMatchObject({ event: 'webhook.enabled' });

    // Sent operational events are counted for Prometheus, with the throttled backlog's age.
    let metrics = '';
    await vi.waitFor(
      async () => {
        metrics = await (await fetch(server.url + '/metrics')).text();
        expect(metrics).toMatch(/rizler_operational_events_sent_total\{type="webhook.enabled"\}/);
      },
      { timeout: 10_000, interval: 50 },
    );
    // Each went to the subscriber and to the operator.
    expect(metrics).toMatch(/rizler_operational_events_sent_total\{type="delivery.exhausted"\} 2/);
    expect(metrics).toMatch(/rizler_operational_events_sent_total\{type="webhook.disabled"\} 2/);
    expect(metrics).toMatch(/rizler_queue_oldest_throttled_age_seconds \d/);

    // `*` got the platform's events only.
    expect(bodies(everything).every((b) => b.event === 'call.ended')).toBe(true);
    expect(everything.requests.length).toBeGreaterThanOrEqual(2);
  });
});
