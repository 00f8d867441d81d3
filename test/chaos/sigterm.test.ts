// Graceful shutdown under load: SIGTERM while events are being published and many attempts
// are in flight. The process stops claiming, lets every attempt in flight get its answer,
// records it, and exits 0. Restarted, it delivers the rest; nothing is lost and nothing that
// was answered is sent again.
import { describe, expect, it } from 'vitest';
import {
  DATA,
  allDeliveries,
  api,
  apiKeyFrom,
  createEndpoints,
  sleep,
  useChaosServer,
  waitUntil,
  type TracedRequest,
} from './helpers.js';

const ENDPOINTS = 2;
const ANSWER_DELAY_MS = 700;

describe('SIGTERM during a run', () => {
  const h = useChaosServer({
    name: 'term',
    answerDelayMs: ANSWER_DELAY_MS,
    env: {
      RIZLER_RETRY_SCHEDULE: '100ms,200ms,300ms,500ms,1s',
      RIZLER_DELIVERY_TIMEOUT_MS: '5000',
      // Above the timeout, as the README asks. With the chaos default of 2 s, 256 attempts
      // (two endpoints at a cap of 128) waiting their turn on one origin's 64 connections
      // at 700 ms an answer outlived their leases on a loaded machine, and the expired ones
      // were rightly sent again: 34 deliveries twice in one full run beside another suite.
      RIZLER_LEASE: '10s',
      // The cap that sizing assumed (the default is 256): the test is of the shutdown, and
      // its run stays as long as it was.
      RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT: '128',
    },
  });

  it('lets every attempt in flight finish and be recorded, then loses nothing', async () => {
    let current = await h.start();
    const key = apiKeyFrom(current.output());
    const receiver = h.receiver;
    await createEndpoints(current.port, key, receiver.url, ENDPOINTS);

    // A publisher keeps going through the shutdown and the restart.
    const accepted = new Set<string>();
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        try {
          const events = Array.from({ length: 50 }, () => ({ event: 'call.ended', data: DATA }));
          const res = await api(current.port, key, '/v1/events/batch', { events });
          if (res.status === 202) for (const e of res.body.data) accepted.add(e.id as string);
        } catch {
          // between processes
        }
        await sleep(50);
      }
    })();

    // Slow answers: the endpoints' in-flight caps fill up.
    await waitUntil('attempts in flight', () =>
      receiver.open().length >= 2 * ENDPOINTS ? true : undefined,
    );
    await sleep(300);
    const inFlight: TracedRequest[] = receiver.open();
    const signalledAt = Date.now();
    current.kill('SIGTERM');
    const exit = await current.exited;
    const stoppedAt = Date.now();
    expect(exit).toEqual({ code: 0, signal: null });
    // It waited for the answers (two rounds of ANSWER_DELAY_MS at most: the endpoints share
    // one origin's 64 connections), not for the lease or the timeout; slack for a busy machine.
    expect(stoppedAt - signalledAt).toBeLessThan(8_000);

    // No attempt was cut off: the receiver answered each one while the sender still listened.
    expect(inFlight.length).toBeGreaterThanOrEqual(2 * ENDPOINTS);
    for (const r of inFlight) expect(r).toMatchObject({ answered: true, cut: false });
    expect(receiver.requests.filter((r) => r.cut)).toEqual([]);
    const sentByFirst = receiver.requests.length;

    // Restarted, with a receiver that answers at once.
    receiver.delayMs = 0;
    const acceptedBeforeRestart = accepted.size;
    current = await h.start();
    // The publisher goes on into the new process until it has accepted a batch.
    await waitUntil('a batch accepted after the restart', () =>
      accepted.size > acceptedBeforeRestart ? true : undefined,
    );
    publishing = false;
    await publisher;
    expect(accepted.size).toBeGreaterThan(0);

    // Each attempt that was in flight at SIGTERM is recorded as the single, successful one.
    for (const r of inFlight) {
      const d = await api(current.port, key, `/v1/deliveries/${r.deliveryId}`);
      expect(d.body).toMatchObject({ status: 'succeeded', attempt_count: 1 });
      expect(d.body.attempts).toHaveLength(1);
      expect(d.body.attempts[0]).toMatchObject({ status_code: 200, error: null });
    }

    // Nothing is lost: every accepted event reaches every endpoint.
    const wanted = [...accepted].flatMap((id) =>
      Array.from({ length: ENDPOINTS }, (_, i) => `${id}|/hook?e=${i}`),
    );
    await waitUntil(
      'every accepted event received by every endpoint',
      () => {
        const seen = receiver.seen();
        return wanted.every((w) => seen.has(w)) ? true : undefined;
      },
      30_000,
      100,
    );
    await waitUntil('no delivery pending', async () => {
      const pending = await api(current.port, key, '/v1/deliveries?status=pending&limit=1');
      return pending.body.data.length === 0 ? true : undefined;
    });
    expect(await allDeliveries(current.port, key, 'failed')).toEqual([]);
    const succeeded = await allDeliveries(current.port, key, 'succeeded');
    expect(succeeded.length).toBeGreaterThanOrEqual(accepted.size * ENDPOINTS);

    // A graceful stop sends nothing twice: every delivery reached its endpoint exactly once,
    // and every attempt anyone sent was answered.
    const perDelivery = new Map<string, number>();
    for (const r of receiver.requests)
      perDelivery.set(r.deliveryId, (perDelivery.get(r.deliveryId) ?? 0) + 1);
    expect([...perDelivery.entries()].filter(([, n]) => n > 1)).toEqual([]);
    expect(receiver.requests.every((r) => r.answered)).toBe(true);
    expect(receiver.requests.length).toBeGreaterThan(sentByFirst);
  }, 60_000);
});
