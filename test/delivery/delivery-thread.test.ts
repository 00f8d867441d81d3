// `serve` runs its delivery worker on a thread of its own (src/worker/delivery-thread.ts).
// Here the API server runs without a worker and the test drives a DeliveryThread against the
// same database, so that it can end the thread as a crash would.
import { Writable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { DeliveryThread } from '../../src/worker/delivery-thread.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const DATA = findEventType('call.ended')!.example;

function capturedLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

async function until(done: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the delivery worker thread', () => {
  let server: TestServer;
  let receiver: Receiver;

  beforeAll(async () => {
    // A poll far longer than the test: deliveries here start only from wake-ups.
    server = await startTestServer({ RIZLER_RUN_WORKER: 'false', RIZLER_POLL_INTERVAL: '1h' });
    receiver = await startReceiver();
    await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['*'] } });
  });

  afterAll(async () => {
    await server.close();
    await receiver.close();
  });

  it('delivers, reports its metrics, logs through the host, restarts after dying, and stops', async () => {
    const { logger, lines } = capturedLogger();
    const thread = new DeliveryThread(
      { ...server.config, runWorker: true, logLevel: 'info' },
      logger,
    );
    await thread.start();
    try {
      const publish = () => server.api('/v1/events', { body: { event: 'call.ended', data: DATA } });
      expect((await publish()).status).toBe(202);
      thread.wake();
      await receiver.waitFor(1);

      // Its attempt counter, counted on the thread, as prom-client JSON.
      let attempts = 0;
      for (let i = 0; i < 250 && attempts !== 1; i++) {
        const metrics = await thread.metrics();
        const counter = metrics.find((m) => m.name === 'rizler_delivery_attempts_total');
        attempts = counter?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;
        if (attempts !== 1) await new Promise((r) => setTimeout(r, 20));
      }
      expect(attempts).toBe(1);

      // The thread dies (as an uncaught error would end it): the host logs it and starts another.
      const first = (thread as unknown as { thread: Worker }).thread;
      await first.terminate();
      await until(
        () => lines.some((l) => l.includes('the delivery worker thread stopped; restarting it')),
        'the restart to be logged',
      );
      await until(
        () => (thread as unknown as { thread: Worker | null }).thread !== null,
        'a new thread',
      );
      const second = (thread as unknown as { thread: Worker }).thread;
      expect(second).not.toBe(first);
      // It delivers what is published next.
      expect((await publish()).status).toBe(202);
      for (let i = 0; i < 250 && receiver.requests.length < 2; i++) {
        thread.wake();
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(receiver.requests).toHaveLength(2);
      const line = JSON.parse(lines.find((l) => l.includes('restarting it'))!) as {
        level: number;
        code: number;
      };
      expect(line.level).toBe(50); // error
      // Each thread's own log lines reach the host's logger.
      const running = lines.filter((l) => l.includes('"msg":"delivery worker running"'));
      expect(running).toHaveLength(2);
    } finally {
      await thread.stop();
    }
    // Stopped: nothing left to ask.
    expect(await thread.metrics()).toEqual([]);
    const deliveries = (await server.api('/v1/deliveries')).body.data as { status: string }[];
    expect(deliveries.map((d) => d.status)).toEqual(['succeeded', 'succeeded']);
  });
});
