// Large event bodies (issue 18's memory point), on both engines with the real sending thread:
// the worker holds each event's body once however many endpoints it goes to, never holds more
// body bytes than RIZLER_MAX_BYTES_IN_FLIGHT (every change of the metric is observed, not
// sampled), and a body read just before sending arrives byte for byte, correctly signed.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSecretBox } from '../../src/core/secret-box.js';
import { Metrics } from '../../src/observability/metrics.js';
import { verifySignature, verifyWebhook } from '../../src/receiver/index.js';
import { INLINE_PAYLOAD_BYTES, type DeliveryWorker } from '../../src/worker/pipeline.js';
import { engines, startTestWorker, useEngine, type TestWorker } from '../helpers/engines.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { makeAccount, makeWebhook, nextId } from '../storage/fixtures.js';

const SECRET = 'whsec_' + Buffer.from('a secret of thirty-two bytes....').toString('base64');
const BUDGET = 1024 * 1024;

/** A transcript body of about `kib` KiB with multi-byte characters: bytes are not characters. */
function transcriptPayload(id: string, kib: number, seed: number): string {
  const line = `Agent ${seed}: Grüße, café ☕ — 通話の記録 🎧. `;
  const text = line.repeat(Math.ceil((kib * 1024) / Buffer.byteLength(line)));
  return JSON.stringify({
    id,
    event: 'transcript.ready',
    timestamp: '2024-01-15T10:30:00Z',
    data: { transcript_id: `trn_${seed}`, call_id: `call_${seed}`, text },
  });
}

describe.each(engines)('large event bodies: $name', (engine) => {
  const store = useEngine(engine);
  let receiver: Receiver;
  let running: TestWorker | null = null;
  let metrics: Metrics;
  /** Every value the bytes-in-flight metric took. */
  let gaugeValues: number[];

  beforeEach(async () => {
    receiver = await startReceiver();
    metrics = new Metrics();
    gaugeValues = [];
    const gauge = metrics.payloadBytesInFlight;
    const set = gauge.set.bind(gauge);
    gauge.set = ((value: number) => {
      gaugeValues.push(value);
      set(value);
    }) as typeof gauge.set;
  });
  afterEach(async () => {
    await running?.stop();
    running = null;
    await receiver.close();
  });

  async function startWorker(env: Record<string, string> = {}): Promise<DeliveryWorker> {
    running = await startTestWorker(
      store.url,
      store.storage,
      { RIZLER_MAX_BYTES_IN_FLIGHT: String(BUDGET), ...env },
      metrics,
    );
    return running.worker;
  }

  async function publish(accountId: string, count: number, kib: number) {
    const events = Array.from({ length: count }, (_, i) => {
      const id = nextId('evt');
      return { id, payload: transcriptPayload(id, kib, i) };
    });
    await store.storage.publish({
      accountId,
      events: events.map((e) => ({
        id: e.id,
        type: 'transcript.ready',
        timestamp: '2024-01-15T10:30:00Z',
        payload: e.payload,
        idempotencyKey: null,
      })),
      newDeliveryId: () => nextId('dlv'),
      now: Date.now(),
      idempotencyWindowMs: 86_400_000,
    });
    return new Map(events.map((e) => [e.id, e.payload]));
  }

  /**
   * One endpoint, one small event whose first attempt is answered after `answerMs` (so its
   * body stays held), and a worker with PostgreSQL's claim of 256 and the default budget of
   * 64 MiB, which 256 bodies of the largest size would fill: resolves once that attempt is out.
   */
  async function oneBodyHeld(answerMs: number, env: Record<string, string> = {}) {
    const account = await makeAccount(store.storage);
    await makeWebhook(store.storage, account.id, {
      url: receiver.url,
      sealedSecret: createSecretBox(null).seal(SECRET),
    });
    receiver.respondWith((_req, i) => (i === 0 ? { status: 200, delayMs: answerMs } : {}));
    await publish(account.id, 1, 1);
    const running = await startWorker({
      RIZLER_MAX_BYTES_IN_FLIGHT: String(64 * 1024 * 1024),
      RIZLER_CLAIM_BATCH: '256',
      ...env,
    });
    await receiver.waitFor(1, 30_000);
    return { account, running };
  }

  it('never holds more body bytes than the budget, and every late-read body arrives intact and signed', async () => {
    const account = await makeAccount(store.storage);
    for (let i = 0; i < 3; i++) {
      await makeWebhook(store.storage, account.id, {
        url: `${receiver.url}?e=${i}`,
        sealedSecret: createSecretBox(null).seal(SECRET),
      });
    }
    // 12 bodies of 200 KiB to 3 endpoints: 2.4 MB if all were in flight at once.
    const payloads = await publish(account.id, 12, 200);
    for (const p of payloads.values())
      expect(Buffer.byteLength(p)).toBeGreaterThan(INLINE_PAYLOAD_BYTES);
    receiver.respondWith(() => ({ status: 200, delayMs: 100 }));
    await startWorker();
    const requests = await receiver.waitFor(36, 60_000);

    expect(Math.max(...gaugeValues)).toBeGreaterThan(0);
    expect(Math.max(...gaugeValues)).toBeLessThanOrEqual(BUDGET);
    const perEvent = new Map<string, number>();
    for (const req of requests) {
      const id = req.headers['webhook-id'] as string;
      const expected = payloads.get(id)!;
      expect(Buffer.from(req.body, 'utf8').equals(Buffer.from(expected, 'utf8'))).toBe(true);
      expect(Number(req.headers['content-length'])).toBe(Buffer.byteLength(expected));
      expect(verifySignature(req.body, req.headers['x-rizler-signature'] as string, SECRET)).toBe(
        true,
      );
      expect(verifyWebhook(req.body, req.headers, SECRET)).toMatchObject({ id });
      perEvent.set(id, (perEvent.get(id) ?? 0) + 1);
    }
    expect([...perEvent.values()]).toEqual(Array(12).fill(3));
  });

  it('holds one copy of a body that five endpoints are sending at once', async () => {
    const account = await makeAccount(store.storage);
    for (let i = 0; i < 5; i++) {
      await makeWebhook(store.storage, account.id, {
        url: `${receiver.url}?e=${i}`,
        sealedSecret: createSecretBox(null).seal(SECRET),
      });
    }
    const payloads = await publish(account.id, 1, 100);
    const [[eventId, payload]] = [...payloads] as [[string, string]];
    // All five attempts stay in flight for seconds while the receiver holds its answers.
    receiver.respondWith(() => ({ status: 200, delayMs: 5000 }));
    const running = await startWorker();
    await receiver.waitFor(5, 30_000);

    const bytes = Buffer.byteLength(payload);
    expect(running.activeAttempts).toBe(5);
    expect(running.payloadCache.refs(eventId)).toBe(5);
    expect(running.payloadCache.events).toBe(1);
    expect(running.payloadCache.bytes).toBe(bytes);
    expect((await metrics.payloadBytesInFlight.get()).values[0]!.value).toBe(bytes);
    // Never counted twice on the way either.
    expect(Math.max(...gaugeValues)).toBe(bytes);
  });

  it('reads no body sizes while at least half a claim of the largest bodies would fit: it claims that half', async () => {
    const account = await makeAccount(store.storage);
    await makeWebhook(store.storage, account.id, {
      url: receiver.url,
      sealedSecret: createSecretBox(null).seal(SECRET),
    });
    // The first attempt is held: its body is in flight while the next ones are claimed.
    receiver.respondWith(() => ({ status: 200, delayMs: 2000 }));
    await publish(account.id, 1, 1);
    // PostgreSQL's batch: 256 bodies of 256 KiB would be the whole default budget of 64 MiB.
    const running = await startWorker({
      RIZLER_MAX_BYTES_IN_FLIGHT: String(64 * 1024 * 1024),
      RIZLER_CLAIM_BATCH: '256',
    });
    await receiver.waitFor(1, 30_000);
    expect(running.payloadCache.bytes).toBeGreaterThan(0);
    const claims = vi.spyOn(store.storage, 'claimDue');
    const completions = vi.spyOn(store.storage, 'completeAttempts');
    await publish(account.id, 3, 1);
    running.wake();
    await receiver.waitFor(4, 30_000);
    await vi.waitFor(() => expect(completions).toHaveBeenCalled(), { timeout: 10_000 });
    const requests = [
      ...claims.mock.calls.map(([request]) => request),
      ...completions.mock.calls.flatMap(([, , request]) => (request ? [request] : [])),
    ];
    // Never a bound that would make the engine read the bodies' sizes; the claim that came
    // while one small body was held was cut to the 255 of 256 that fit at the largest size.
    expect(requests.map((r) => r.maxPayloadBytes)).toEqual(requests.map(() => undefined));
    expect(requests.map((r) => r.limit)).toContain(255);
    claims.mockRestore();
    completions.mockRestore();
  });

  it('claims nothing beside a claim that holds the whole byte budget for the bytes freed since', async () => {
    // The first attempt's answer comes late: its body is held while the next claim starts.
    const { account, running } = await oneBodyHeld(1000);
    // The loop's next claim is held at the store until the first answer is recorded: it holds
    // the whole budget but the first body (255 of 256 at the largest size), and that body's
    // bytes come free while it waits.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const claimDue = store.storage.claimDue.bind(store.storage);
    const claims = vi.spyOn(store.storage, 'claimDue').mockImplementation(async (request) => {
      if (claims.mock.calls.length === 1) await gate;
      return claimDue(request);
    });
    const completions = vi.spyOn(store.storage, 'completeAttempts');
    try {
      await publish(account.id, 1, 1);
      running.wake();
      await vi.waitFor(() => expect(claims).toHaveBeenCalledTimes(1), { timeout: 10_000 });
      expect(claims.mock.calls[0]![0].limit).toBe(255);
      await vi.waitFor(() => expect(completions).toHaveBeenCalled(), { timeout: 10_000 });
      // The first attempt's completion asked for no refill: the bytes it freed are less than
      // the largest body, and the claim under way holds the rest.
      expect(completions.mock.calls.map(([, , request]) => request?.limit ?? 0)).toEqual([0]);
    } finally {
      open();
    }
    await receiver.waitFor(2, 30_000);
    const requests = [
      ...claims.mock.calls.map(([request]) => request),
      ...completions.mock.calls.flatMap(([, , request]) => (request ? [request] : [])),
    ];
    expect(requests.map((r) => r.maxPayloadBytes)).toEqual(requests.map(() => undefined));
    claims.mockRestore();
    completions.mockRestore();
  });

  it("holds a publish's known bodies of the byte budget, not a claim's worst case", async () => {
    const { running } = await oneBodyHeld(2000, { RIZLER_POLL_INTERVAL: '60s' });
    // The first body (at most 256 KiB) is held for the test; 64 MiB is the budget.
    const first = running.offer(2_000);
    const second = running.offer(2_000);
    // Two publishes side by side each get a claim's slots, and hold 2,000 bytes each...
    expect([first?.request.limit, second?.request.limit]).toEqual([256, 256]);
    expect([first?.request.maxPayloadBytes, second?.request.maxPayloadBytes]).toEqual([
      undefined,
      undefined,
    ]);
    // ...where one that did not say held the worst case of what is left, and the next got none.
    const unknown = running.offer();
    expect(unknown?.request.limit).toBe(255);
    expect(running.offer(2_000)).toBeUndefined();
    unknown!.release();
    // Bodies over what is left: the hand-off is bounded by it.
    const large = running.offer(64 * 1024 * 1024);
    const bound = large?.request.maxPayloadBytes;
    expect(bound).toBeGreaterThan(60 * 1024 * 1024);
    expect(bound).toBeLessThan(64 * 1024 * 1024 - 4_000);
    for (const h of [first, second, large]) h!.release();
  });

  it('wakes the loop when a claim that held all the byte budget is done, before the poll', async () => {
    // The first attempt's answer comes after the test: its body stays held throughout.
    const { account, running } = await oneBodyHeld(8000, { RIZLER_POLL_INTERVAL: '60s' });
    // A publish's hand-off holds the rest of the budget (255 of 256 at the largest size)...
    const handoff = running.offer();
    expect(handoff?.request.limit).toBe(255);
    // ...so the loop, woken by the next publish (and only by it), finds no room and sleeps on
    // the poll. (The flag is private: nothing else shows that the loop looked and found none.)
    const loop = running as unknown as { loopWaitsForClaim: boolean };
    await publish(account.id, 1, 1);
    await vi.waitFor(() => expect(loop.loopWaitsForClaim).toBe(true), { timeout: 10_000 });
    // The hand-off's end wakes it: the delivery goes out long before the poll (60 s) or the
    // first answer's completion (8 s) would claim it.
    handoff!.release();
    await receiver.waitFor(2, 4_000);
  });
});
