// The hand-off at publish (PublishRequest.handoff): in `serve` on SQLite, the worker of the
// API's own process takes a publish's fresh deliveries in the publish's transaction, so they
// go out without a claim, a wake-up or a transaction of their own; what it cannot take (an
// endpoint at its cap) is left due and claimed as before.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const DATA = findEventType('call.ended')!.example;

describe('hand-off at publish', () => {
  let server: TestServer;
  let receiver: Receiver;
  beforeAll(async () => {
    // A poll far beyond the test: whatever is delivered was handed off, claimed on a wake-up
    // or by a completion, never found by the poll.
    server = await startTestServer({
      RIZLER_POLL_INTERVAL: '10m',
      RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT: '2',
    });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await server.close();
    await receiver.close();
  });

  it('sends a fresh delivery without a claim of its own', async () => {
    await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['call.ended'] } });
    // The worker claimed on start and found nothing; from here, every claim is counted.
    const claims = vi.spyOn(server.service.storage, 'claimDue');
    const published = await server.api('/v1/events', {
      body: { event: 'call.ended', data: DATA },
    });
    expect(published.status).toBe(202);
    const [req] = await receiver.waitFor(1);
    expect(JSON.parse(req!.body).id).toBe(published.body.id);
    expect(claims).not.toHaveBeenCalled();
    claims.mockRestore();
    await vi.waitFor(async () => {
      const list = await server.api('/v1/deliveries');
      expect(
        list.body.data.map((d: { event_id: string; status: string }) => [d.event_id, d.status]),
      ).toEqual([[published.body.id, 'succeeded']]);
    });
  });

  it('leaves what is over the endpoint cap to the claims, and all of it arrives', async () => {
    const { apiKey } = await server.newAccount('capped');
    const hook = await server.api('/v1/webhooks', {
      apiKey,
      body: { url: receiver.url, events: ['call.ended'] },
    });
    expect(hook.status).toBe(201);
    const before = receiver.requests.length;
    const published = await server.api('/v1/events/batch', {
      apiKey,
      body: {
        events: Array.from({ length: 7 }, () => ({ event: 'call.ended', data: DATA })),
      },
    });
    expect(published.status).toBe(202);
    const received = (await receiver.waitFor(before + 7)).slice(before);
    expect(new Set(received.map((r) => JSON.parse(r.body).id))).toEqual(
      new Set(published.body.data.map((e: { id: string }) => e.id)),
    );
  });
});
