// The worker sends on a thread of its own (src/worker/threaded-sender.ts): the same results
// as the Sender, each to the attempt that asked; attempts that wait while the thread
// restarts; failures when it dies mid-attempt; a close that waits for what is in flight; and
// answers taken in on demand, while this thread's event loop is held.
import { Writable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { verifyWebhook } from '../../src/receiver/index.js';
import type { OutgoingAttempt } from '../../src/core/attempt.js';
import { readHeaders } from '../../src/core/request-headers.js';
import { ThreadedSender } from '../../src/worker/threaded-sender.js';
import { startReceiver, startThreadReceiver, type Receiver } from '../helpers/receiver.js';

const SECRET = 'whsec_' + Buffer.from('a secret of thirty-two bytes....').toString('base64');

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

function attempt(url: string, n: number): OutgoingAttempt {
  return {
    url,
    eventId: `evt_${n}`,
    eventType: 'call.ended',
    deliveryId: `dlv_${n}`,
    attempt: 1,
    payload: JSON.stringify({
      id: `evt_${n}`,
      event: 'call.ended',
      timestamp: new Date().toISOString(),
      data: { n },
    }),
    secrets: [SECRET],
  };
}

/** The private thread, to end it as a crash would. */
const threadOf = (sender: ThreadedSender) =>
  (sender as unknown as { thread: Worker | null }).thread;

describe('sending on a thread of its own', () => {
  let receiver: Receiver;
  const config = loadConfig({
    RIZLER_ALLOW_PRIVATE_NETWORKS: 'true',
    RIZLER_DELIVERY_TIMEOUT_MS: '5000',
  });

  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('answers each attempt with its own result, signed as the Sender signs', async () => {
    receiver.respondWith((req) =>
      req.url.includes('fail') ? { status: 503, body: 'later' } : { status: 200, body: 'ok' },
    );
    const sender = new ThreadedSender(config, pino({ level: 'silent' }));
    await sender.start();
    try {
      const before = receiver.requests.length;
      const urls = Array.from({ length: 300 }, (_, i) =>
        i % 3 === 0 ? `${receiver.url}?fail=${i}` : `${receiver.url}?ok=${i}`,
      );
      const results = await Promise.all(urls.map((url, i) => sender.send(attempt(url, i))));
      expect(receiver.requests.length - before).toBe(300);
      results.forEach((result, i) => {
        // Packed on the sending thread: its own event, with the facts of its own row.
        const sent = readHeaders(result.requestHeaders, {
          deliveryId: `dlv_${i}`,
          attempt: 1,
          startedAt: result.startedAt,
        });
        expect(sent['webhook-id']).toBe(`evt_${i}`);
        expect(sent['x-rizler-delivery']).toBe(`dlv_${i}`);
        expect(result.statusCode).toBe(i % 3 === 0 ? 503 : 200);
        expect(result.succeeded).toBe(i % 3 !== 0);
        expect(result.responseBody).toBe(i % 3 === 0 ? 'later' : 'ok');
      });
      // What arrived verifies with the endpoint secret.
      const last = receiver.requests.at(-1)!;
      const headers = Object.fromEntries(
        Object.entries(last.headers).map(([k, v]) => [k, String(v)]),
      );
      expect(() => verifyWebhook(last.body, headers, SECRET)).not.toThrow();
    } finally {
      await sender.close();
    }
  });

  it('fails the attempts in flight when the thread dies, restarts it, and sends again', async () => {
    receiver.respondWith((req) =>
      req.url.includes('hang') ? { hang: true } : { status: 200, body: 'ok' },
    );
    const { logger, lines } = capturedLogger();
    const sender = new ThreadedSender(config, logger);
    await sender.start();
    try {
      const before = receiver.requests.length;
      const hanging = sender.send(attempt(`${receiver.url}?hang=1`, 1));
      await receiver.waitFor(before + 1);
      await threadOf(sender)!.terminate();
      await expect(hanging).rejects.toThrow('the sending thread stopped during the attempt');
      expect(lines.some((l) => l.includes('the sending thread stopped; restarting it'))).toBe(true);
      // Sent while it restarts: the attempt waits for the new thread instead of failing.
      const meanwhile = await sender.send(attempt(`${receiver.url}?ok=2`, 2));
      expect(meanwhile.statusCode).toBe(200);
      expect(threadOf(sender)).not.toBeNull();
    } finally {
      await sender.close();
    }
  });

  it('settles the answers that have come in when asked, without a turn of the event loop', async () => {
    const thread = await startThreadReceiver();
    const sender = new ThreadedSender(config, pino({ level: 'silent' }));
    await sender.start();
    try {
      const answered = sender.send(attempt(thread.url, 1));
      // The attempt goes to the thread at the end of this task (a microtask).
      await Promise.resolve();
      // From here this thread is held: its loop cannot read the thread's answer, so only
      // collect() can.
      const deadline = Date.now() + 10_000;
      let collected = 0;
      while (collected === 0 && Date.now() < deadline) collected = sender.collect();
      expect(collected).toBe(1);
      expect(thread.count()).toBe(1);
      expect(await answered).toMatchObject({ succeeded: true, statusCode: 200 });
      expect(sender.collect()).toBe(0);
    } finally {
      await sender.close();
      await thread.close();
    }
  });

  it('closes once the attempts in flight are answered, and sends nothing after', async () => {
    receiver.respondWith(() => ({ status: 200, body: 'slow', delayMs: 300 }));
    const { logger, lines } = capturedLogger();
    const sender = new ThreadedSender(config, logger);
    await sender.start();
    const inFlight = sender.send(attempt(`${receiver.url}?slow=1`, 1));
    await new Promise((resolve) => setImmediate(resolve));
    const closed = sender.close();
    const result = await inFlight;
    await closed;
    expect(result).toMatchObject({ succeeded: true, responseBody: 'slow' });
    // Its end is not mistaken for a crash.
    expect(threadOf(sender)).toBeNull();
    expect(lines.filter((l) => l.includes('restarting'))).toEqual([]);
    await expect(sender.send(attempt(receiver.url, 2))).rejects.toThrow('closed');
  });
});
