// Ordering keys end to end (SPEC §10): published or the catalogue's default, in the event and
// delivery answers, a filter of GET /v1/deliveries, and the X-Rizler-Ordering-Key header.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('ordering keys', () => {
  let server: TestServer;
  let receiver: Receiver;
  beforeEach(async () => {
    server = await startTestServer();
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await receiver.close();
    await server.close();
  });

  it('takes the published key, else the type default, and sends it as X-Rizler-Ordering-Key', async () => {
    await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['*'] } });
    const data = { ...findEventType('call.ended')!.example, call_id: 'call_42' };
    const byDefault = await server.api('/v1/events', { body: { event: 'call.ended', data } });
    const published = await server.api('/v1/events', {
      body: { event: 'call.ended', data, ordering_key: 'tenant-9/queue-2' },
    });
    const agent = await server.api('/v1/events', {
      body: {
        event: 'agent.status_changed',
        data: { ...findEventType('agent.status_changed')!.example, agent_id: 'agent_7' },
      },
    });
    for (const p of [byDefault, published, agent]) expect(p.status).toBe(202);
    const answers = await Promise.all(
      [byDefault, published, agent].map((p) => server.api(`/v1/events/${p.body.id}`)),
    );
    expect(answers.map((a) => a.body.ordering_key)).toEqual([
      'call_42',
      'tenant-9/queue-2',
      'agent_7',
    ]);

    await receiver.waitFor(3);
    const header = (id: string) =>
      receiver.requests.find((r) => r.headers['webhook-id'] === id)!.headers[
        'x-rizler-ordering-key'
      ];
    expect(header(byDefault.body.id)).toBe('call_42');
    expect(header(published.body.id)).toBe('tenant-9/queue-2');
    expect(header(agent.body.id)).toBe('agent_7');

    const filtered = await server.api('/v1/deliveries?ordering_key=call_42');
    expect(filtered.status).toBe(200);
    expect(filtered.body.data.map((d: { event_id: string }) => d.event_id)).toEqual([
      byDefault.body.id,
    ]);
    expect(filtered.body.data[0].ordering_key).toBe('call_42');
  });

  it('refuses a key that is empty, too long or holds a control character', async () => {
    const data = findEventType('call.ended')!.example;
    for (const ordering_key of ['', 'x'.repeat(201), 'a\nb']) {
      const answer = await server.api('/v1/events', {
        body: { event: 'call.ended', data, ordering_key },
      });
      expect(answer.status, JSON.stringify(ordering_key)).toBe(400);
      expect(answer.body.error.code).toBe('validation_error');
    }
  });
});
