// At-least-once while an endpoint is throttled (issue 18): one of two endpoints answers 503,
// so its adaptive limit is cut down to its probes and its backlog waits; the server is killed
// with SIGKILL then, and restarted on the same SQLite file. The cut limit survives the crash
// (it lives on the endpoint's row); once the endpoint answers again, every accepted event
// reaches both endpoints, nothing fails, and the limit grows back.
import { describe, expect, it } from 'vitest';
import {
  DATA,
  allDeliveries,
  api,
  apiKeyFrom,
  createEndpoints,
  expectEveryEventReceived,
  useChaosServer,
  waitUntil,
} from './helpers.js';

const EVENTS = 1_000;
const ENDPOINTS = 2;

describe('kill -9 while an endpoint is throttled', () => {
  // Answers take 100 ms, so attempts are in flight when the process dies.
  const h = useChaosServer({
    name: 'kill-throttled',
    answerDelayMs: 100,
    // Enough retries, a second apart, to outlast the outage and the restart.
    env: { RIZLER_RETRY_SCHEDULE: '1s,1s,1s,1s,1s,2s,2s,2s,2s,2s,5s,5s' },
  });

  it('loses nothing, keeps the cut limit across the crash, and grows it back', async () => {
    // Endpoint e=1 is overloaded: 503 to everything, until it recovers below.
    h.receiver.statusFor = (path) => (path.endsWith('e=1') ? 503 : 200);
    let current = await h.start();
    const key = apiKeyFrom(current.output());
    await createEndpoints(current.port, key, h.receiver.url, ENDPOINTS);
    const accepted = new Set<string>();
    for (let sent = 0; sent < EVENTS; sent += 100) {
      const events = Array.from({ length: 100 }, () => ({ event: 'call.ended', data: DATA }));
      const res = await api(current.port, key, '/v1/events/batch', { events });
      expect(res.status).toBe(202);
      for (const e of res.body.data as { id: string }[]) accepted.add(e.id);
    }
    const throttleOf = async (port: number) => {
      const hooks = await api(port, key, '/v1/webhooks?limit=10');
      const hook = (hooks.body.data as { url: string; throttle: { state: string } }[]).find((w) =>
        w.url.endsWith('e=1'),
      );
      return hook?.throttle;
    };
    await waitUntil('e=1 throttled', async () =>
      (await throttleOf(current.port))?.state === 'throttled' ? true : undefined,
    );
    // Its backlog is waiting, not failed, when the process dies with attempts in flight.
    const pendingBefore = await api(current.port, key, '/v1/deliveries?status=pending&limit=1');
    expect(pendingBefore.body.data.length).toBe(1);
    // From here the receiver holds its answers, so an attempt it has is still open when the
    // process dies. With answers 100 ms away, the last open one (often a single probe) could
    // be answered between the kill and the closed connection reaching the receiver: a race
    // that failed this test once on Node 24.
    const held = h.receiver.requests.length;
    const answerDelayMs = h.receiver.delayMs;
    h.receiver.delayMs = 60_000;
    await waitUntil('attempts in flight', () =>
      h.receiver.requests.slice(held).some((r) => !r.answered && !r.cut) ? true : undefined,
    );

    current.kill('SIGKILL');
    expect((await current.exited).signal).toBe('SIGKILL');
    h.receiver.delayMs = answerDelayMs;
    current = await h.start();
    expect(await throttleOf(current.port)).toMatchObject({
      state: 'throttled',
      reason: 'overloaded',
    });

    h.receiver.statusFor = () => 200;
    await expectEveryEventReceived(
      h.receiver,
      accepted,
      ENDPOINTS,
      { port: current.port, key },
      60_000,
    );
    expect(await allDeliveries(current.port, key, 'failed')).toEqual([]);
    expect((await allDeliveries(current.port, key, 'succeeded')).length).toBe(
      accepted.size * ENDPOINTS,
    );
    // The kill cut attempts off; their leases ran out and they were sent again.
    expect(h.receiver.requests.some((r) => r.cut)).toBe(true);
    // A thousand successes grew the limit back: no longer throttled.
    expect(await throttleOf(current.port)).toMatchObject({ state: 'normal' });
  }, 120_000);
});
