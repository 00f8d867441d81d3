// Receivers that misbehave below and inside HTTP: each bad answer is a failed attempt with an
// error a person understands, retried on the schedule, and the delivery succeeds once the
// receiver behaves. Nothing a receiver does can hold an attempt past the timeout.
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  DATA,
  answerOk,
  startRawServer,
  waitUntil,
  writeForever,
  type RawServer,
} from './helpers.js';

const TIMEOUT_MS = 1000;
const NOT_HTTP = 'the receiver answered with something that is not valid HTTP';
const CLOSED = 'connection closed by the receiver before the response was complete';
const RESET = 'connection reset by the receiver';
const TIMEOUT = `timeout after ${TIMEOUT_MS} ms`;

/** What a person reading the log should never have to decode. */
function expectReadable(error: string): void {
  expect(error).not.toMatch(/\b(UND_ERR_\w+|HPE_\w+|E[A-Z]{4,})\b/);
  expect(error).not.toMatch(/llhttp|RTSP|ICE\//);
}

interface Misbehaviour {
  name: string;
  /** What the receiver does with a request it misbehaves on. */
  act(socket: Socket, server: RawServer): void;
  error: string;
  /** The status recorded for the failed attempt (headers may have arrived before the fault). */
  statusCode: number | null;
}

const MISBEHAVIOURS: Misbehaviour[] = [
  {
    name: 'resets the connection (RST) instead of answering',
    act: (s) => s.resetAndDestroy(),
    error: RESET,
    statusCode: null,
  },
  {
    name: 'closes the connection without answering',
    act: (s) => s.destroy(),
    error: CLOSED,
    statusCode: null,
  },
  {
    name: 'answers, but only after the timeout',
    act: (s, server) => server.later(TIMEOUT_MS * 3, () => answerOk(s)),
    error: TIMEOUT,
    statusCode: null,
  },
  {
    name: 'sends 200 headers at once, then the body a byte at a time past the timeout',
    act: (s, server) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
      const drip = () => {
        if (s.destroyed) return;
        s.write('x');
        server.later(100, drip);
      };
      drip();
    },
    error: TIMEOUT,
    statusCode: 200,
  },
  {
    name: 'closes mid-response: headers sent, body cut short (Content-Length)',
    act: (s, server) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it');
      server.later(20, () => s.destroy());
    },
    error: CLOSED,
    statusCode: 200,
  },
  {
    name: 'closes mid-response: headers sent, chunked body never terminated',
    act: (s, server) => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      server.later(20, () => s.end());
    },
    error: CLOSED,
    statusCode: 200,
  },
  {
    name: 'resets mid-response',
    act: (s, server) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart');
      server.later(20, () => s.resetAndDestroy());
    },
    error: RESET,
    statusCode: 200,
  },
  {
    name: 'closes in the middle of the status line and headers',
    act: (s, server) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Le');
      server.later(20, () => s.destroy());
    },
    error: CLOSED,
    statusCode: null,
  },
];

/** Answers that are not HTTP at all (another protocol on the port, junk, a broken header). */
const GARBAGE: { name: string; bytes: string | Buffer }[] = [
  { name: 'a line of text', bytes: 'HELLO, THIS IS NOT HTTP\r\n\r\n' },
  { name: 'another protocol (an SSH banner)', bytes: 'SSH-2.0-OpenSSH_9.6\r\n' },
  { name: 'binary junk', bytes: Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10]) },
  { name: 'an invalid status code', bytes: 'HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n' },
  { name: 'a malformed header line', bytes: 'HTTP/1.1 200 OK\r\nBad Header Line\r\n\r\n' },
];

describe('receivers that misbehave', () => {
  let server: TestServer;
  const raws: RawServer[] = [];
  const hooks: string[] = [];
  beforeAll(async () => {
    server = await startTestServer({
      RIZLER_RETRY_SCHEDULE: '100ms,100ms,100ms,100ms',
      RIZLER_DELIVERY_TIMEOUT_MS: String(TIMEOUT_MS),
      RIZLER_MAX_ENDPOINTS: '100',
      RIZLER_POLL_INTERVAL: '100ms',
    });
  });
  afterEach(async () => {
    // Each test publishes to its own endpoints only.
    for (const id of hooks.splice(0)) await server.api(`/v1/webhooks/${id}`, { method: 'DELETE' });
    await Promise.all(raws.splice(0).map((r) => r.close()));
  });
  afterAll(async () => {
    await server?.close();
  });

  /** A raw receiver that misbehaves on its first `bad` requests, then answers 200. */
  async function receiverFailingFirst(bad: number, act: (s: Socket, raw: RawServer) => void) {
    const raw: RawServer = await startRawServer((socket, index) => {
      if (index < bad) act(socket, raw);
      else answerOk(socket);
    });
    raws.push(raw);
    return raw;
  }

  async function subscribe(url: string): Promise<string> {
    const hook = await server.api('/v1/webhooks', { body: { url, events: ['call.ended'] } });
    expect(hook.status).toBe(201);
    hooks.push(hook.body.id);
    return hook.body.id as string;
  }

  /**
   * Subscribes `url` (unless given the webhook already), publishes one event, and waits until
   * its delivery is no longer pending.
   */
  async function deliverOnceTo(url: string, webhook?: string) {
    const webhookId = webhook ?? (await subscribe(url));
    const event = await server.api('/v1/events', { body: { event: 'call.ended', data: DATA } });
    expect(event.status).toBe(202);
    const list = await server.api(`/v1/deliveries?webhook_id=${webhookId}&limit=1`);
    const id = list.body.data[0].id as string;
    return waitUntil(`delivery ${id} finished`, async () => {
      const d = await server.api(`/v1/deliveries/${id}`);
      return d.body.status === 'pending' ? undefined : d.body;
    });
  }

  for (const m of MISBEHAVIOURS) {
    it(`${m.name}: a failed attempt saying "${m.error}", retried until it succeeds`, async () => {
      const raw = await receiverFailingFirst(2, m.act);
      const d = await deliverOnceTo(raw.url);
      expect(d.status).toBe('succeeded');
      expect(d.attempt_count).toBe(3);
      const [first, second, third] = d.attempts;
      for (const failed of [first, second]) {
        expect(failed.error).toBe(m.error);
        expectReadable(failed.error);
        expect(failed.status_code).toBe(m.statusCode);
        // Bounded by the timeout, whatever the receiver does (plus scheduling slack).
        expect(failed.duration_ms).toBeLessThan(TIMEOUT_MS + 400);
      }
      expect(third).toMatchObject({ attempt: 3, status_code: 200, error: null });
      expect(raw.count).toBe(3);
    });
  }

  for (const g of GARBAGE) {
    it(`answers ${g.name}: a failed attempt, retried until it succeeds`, async () => {
      const raw = await receiverFailingFirst(1, (s) => s.end(g.bytes));
      const d = await deliverOnceTo(raw.url);
      expect(d.status).toBe('succeeded');
      expect(d.attempt_count).toBe(2);
      expect(d.attempts[0].status_code).toBeNull();
      expect(d.attempts[0].error).toEqual(expect.any(String));
      expect(d.attempts[1]).toMatchObject({ status_code: 200, error: null });
    });

    // undici 7 raises its parser errors as HTTPParserError without a code.
    it(`answers ${g.name}: the error says it was not valid HTTP`, async () => {
      const raw = await receiverFailingFirst(1, (s) => s.end(g.bytes));
      const d = await deliverOnceTo(raw.url);
      expect(d.attempts[0].error).toBe(NOT_HTTP);
    });
  }

  it('answers 500 with an endless body: the attempt ends after 8 KiB kept, and is retried', async () => {
    const raw = await receiverFailingFirst(1, (s) => {
      s.write('HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n');
      writeForever(s, `400\r\n${'e'.repeat(1024)}\r\n`);
    });
    const d = await deliverOnceTo(raw.url);
    expect(d.status).toBe('succeeded');
    expect(d.attempts[0]).toMatchObject({
      status_code: 500,
      error: 'the receiver answered HTTP 500',
    });
    expect(d.attempts[0].response_body).toBe('e'.repeat(8192));
    expect(d.attempts[0].duration_ms).toBeLessThan(TIMEOUT_MS);
    expect(d.attempts[1]).toMatchObject({ status_code: 200, error: null });
  });

  // A 2xx whose body never ends is a success: SPEC §4 makes success "a 2xx answer within the
  // timeout" and keeps response bodies "up to 8 KiB", so the status is the answer and the
  // body past 8 KiB is not read. The attempt ends at once and never waits for the timeout.
  // (A body the receiver itself cuts off is a failure: see "closes mid-response" above.)
  it('answers 200 with an endless body: a success, with 8 KiB kept, without waiting', async () => {
    const raw = await receiverFailingFirst(1, (s) => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      writeForever(s, `400\r\n${'o'.repeat(1024)}\r\n`);
    });
    const d = await deliverOnceTo(raw.url);
    expect(d.status).toBe('succeeded');
    expect(d.attempt_count).toBe(1);
    expect(d.attempts[0]).toMatchObject({ status_code: 200, error: null });
    expect(d.attempts[0].response_body).toBe('o'.repeat(8192));
    expect(d.attempts[0].duration_ms).toBeLessThan(TIMEOUT_MS);
    // The abandoned connection is not reused: the next delivery to the origin gets through.
    const next = await deliverOnceTo(raw.url, d.webhook_id);
    expect(next.id).not.toBe(d.id);
    expect(next).toMatchObject({ status: 'succeeded', attempt_count: 1 });
    expect(raw.count).toBe(2);
  });

  it('a misbehaving receiver never delays another endpoint', async () => {
    // Every request to this one hangs with its headers half sent.
    const bad = await receiverFailingFirst(1_000, (s) => s.write('HTTP/1.1 200 OK\r\n'));
    const badHook = await subscribe(bad.url);
    const good = await receiverFailingFirst(0, () => {});
    const d = await deliverOnceTo(good.url);
    expect(d).toMatchObject({ status: 'succeeded', attempt_count: 1 });
    // By then the hanging endpoint's attempt to the same event is still open.
    const meanwhile = await server.api(`/v1/deliveries?webhook_id=${badHook}`);
    expect(meanwhile.body.data[0]).toMatchObject({ status: 'pending', attempt_count: 0 });
    expect(bad.count).toBe(1);
    // The hanging endpoint's attempt ends at the timeout with a clear error.
    const hung = await waitUntil('the hanging attempt recorded', async () => {
      const list = await server.api(`/v1/deliveries?webhook_id=${badHook}`);
      return list.body.data.find((x: { last_error: string | null }) => x.last_error !== null);
    });
    expect(hung.last_error).toBe(TIMEOUT);
  });
});
