// At-least-once through crashes: the server is killed with SIGKILL three times while events
// are being published and delivered, and restarted each time on the same SQLite file. Every
// event the API accepted (answered 202) reaches every subscribed endpoint at least once, and
// the final log shows every delivery succeeded.
import { describe, expect, it } from 'vitest';
import {
  DATA,
  allDeliveries,
  api,
  apiKeyFrom,
  createEndpoints,
  expectEveryEventReceived,
  sleep,
  useChaosServer,
  waitUntil,
} from './helpers.js';

const EVENTS = 6_000;
const BATCH = 100;
const ENDPOINTS = 2;
const KILLS = 3;

describe('kill -9 three times during a run', () => {
  // A short wait before each answer keeps many attempts in flight when the process dies.
  const h = useChaosServer({
    name: 'kill',
    answerDelayMs: 200,
    env: { RIZLER_RETRY_SCHEDULE: '100ms,200ms,300ms,500ms,1s,1s,1s,1s' },
  });

  it('loses nothing: every accepted event arrives, every delivery ends succeeded', async () => {
    let current = await h.start();
    const key = apiKeyFrom(current.output());
    const receiver = h.receiver;
    await createEndpoints(current.port, key, receiver.url, ENDPOINTS);

    const accepted = new Set<string>();
    const fanOut = new Set<number>();
    let stop = false;
    // Two publishers, so a kill usually catches a publish request in flight too. Only a 202
    // counts as accepted; a request cut by the kill may or may not have been stored.
    const publisher = async () => {
      while (!stop && accepted.size < EVENTS) {
        const port = current.port;
        try {
          const events = Array.from({ length: BATCH }, () => ({ event: 'call.ended', data: DATA }));
          const res = await api(port, key, '/v1/events/batch', { events });
          if (res.status === 202) {
            for (const e of res.body.data as { id: string; deliveries: number }[]) {
              accepted.add(e.id);
              fanOut.add(e.deliveries);
            }
          }
        } catch {
          await sleep(20); // down, or cut off by the kill
        }
      }
    };
    const publishing = Promise.all([publisher(), publisher()]);

    const kills: { accepted: number; received: number; inFlight: number }[] = [];
    try {
      for (let k = 1; k <= KILLS; k++) {
        await waitUntil(`${k * 1500} events accepted`, () =>
          accepted.size >= k * 1500 ? true : undefined,
        );
        // Wait for attempts to be in flight, so the kill cuts some of them off.
        await waitUntil('attempts in flight', () =>
          receiver.open().length > 0 ? true : undefined,
        );
        kills.push({
          accepted: accepted.size,
          received: receiver.seen().size,
          inFlight: receiver.open().length,
        });
        current.kill('SIGKILL');
        expect((await current.exited).signal).toBe('SIGKILL');
        if (k === KILLS) receiver.delayMs = 0; // no more kills to catch attempts in flight
        current = await h.start();
      }
      await publishing;
    } finally {
      stop = true;
      await publishing;
    }
    expect(accepted.size).toBeGreaterThanOrEqual(EVENTS);
    expect([...fanOut]).toEqual([ENDPOINTS]);
    // Each kill happened mid-run: a backlog waited and attempts were in flight.
    for (const k of kills) {
      expect(k.received).toBeLessThan(k.accepted * ENDPOINTS);
      expect(k.inFlight).toBeGreaterThan(0);
    }
    // Some attempts were cut off by the kills: those are the ones the lease brings back.
    expect(receiver.requests.some((r) => r.cut)).toBe(true);

    // Every accepted event reaches every endpoint at least once, and the log agrees: nothing
    // pending, nothing failed, every delivery succeeded.
    await expectEveryEventReceived(
      receiver,
      accepted,
      ENDPOINTS,
      { port: current.port, key },
      30_000,
    );
    expect(await allDeliveries(current.port, key, 'failed')).toEqual([]);
    const succeeded = await allDeliveries(current.port, key, 'succeeded');
    const succeededEvents = new Map<string, number>();
    for (const d of succeeded)
      succeededEvents.set(d.event_id, (succeededEvents.get(d.event_id) ?? 0) + 1);
    expect([...accepted].filter((id) => succeededEvents.get(id) !== ENDPOINTS)).toEqual([]);
    // A publish request the kill cut off (no 202 came back) may have been stored: its events
    // are delivered too, so there may be more deliveries than accepted events need.
    expect(succeeded.length).toBeGreaterThanOrEqual(accepted.size * ENDPOINTS);
  }, 90_000);
});
