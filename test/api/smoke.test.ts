import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('publish → deliver', () => {
  let server: TestServer;
  let receiver: Receiver;
  beforeEach(async () => {
    server = await startTestServer();
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await server.close();
    await receiver.close();
  });

  it('delivers a published event to a subscribed endpoint', async () => {
    const created = await server.api('/v1/webhooks', {
      body: { url: receiver.url, events: ['call.*'] },
    });
    expect(created.status).toBe(201);
    const published = await server.api('/v1/events', {
      body: {
        event: 'call.ended',
        data: { call_id: 'call_1', agent_id: 'agent_1', duration: 5, status: 'completed' },
      },
    });
    expect(published.status).toBe(202);
    expect(published.body.deliveries).toBe(1);
    const [req] = await receiver.waitFor(1);
    expect(JSON.parse(req!.body).id).toBe(published.body.id);
  });
});
