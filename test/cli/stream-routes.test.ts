// The server side of `listen` and `tail`: the two server-sent-event streams and the attempt
// report, driven over a real port, on both engines (the streams rely on listEvents and on
// listDeliveryChanges, which each engine implements).
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { parseEventStream, type SseMessage } from '../../src/cli/client/sse.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface OpenStream {
  status: number;
  contentType: string | null;
  messages: SseMessage[];
  waitFor(count: number, timeoutMs?: number): Promise<SseMessage[]>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

const streams: OpenStream[] = [];

async function openStream(
  server: TestServer,
  path: string,
  headers: Record<string, string> = {},
): Promise<OpenStream> {
  const controller = new AbortController();
  const response = await fetch(server.url + path, {
    headers: { authorization: `Bearer ${server.apiKey}`, ...headers },
    signal: controller.signal,
  });
  const messages: SseMessage[] = [];
  const waiters = new Set<() => void>();
  const ended = (async () => {
    try {
      for await (const parsed of parseEventStream(response.body!)) {
        if ('message' in parsed) messages.push(parsed.message);
        for (const w of [...waiters]) w();
      }
    } catch {
      // aborted by close()
    }
  })();
  const stream: OpenStream = {
    status: response.status,
    contentType: response.headers.get('content-type'),
    messages,
    ended,
    waitFor(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (messages.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(messages);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`got ${messages.length} of ${count} messages: ${JSON.stringify(messages)}`),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => controller.abort(),
  };
  streams.push(stream);
  return stream;
}

let server: TestServer;
let receiver: Receiver;

const ENGINES: ['sqlite' | 'postgres'][] = [['sqlite'], ['postgres']];

describe.each(ENGINES)('on %s', (engine) => {
  let database: TestDatabase | undefined;
  const env = (): Record<string, string> => (database ? { RIZLER_DATABASE_URL: database.url } : {});

  beforeAll(async () => {
    if (engine === 'postgres') database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  beforeEach(async () => {
    server = await startTestServer(env());
    receiver = await startReceiver();
  });

  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    await server.close();
    await receiver.close();
  });

  const example = (type: string) => findEventType(type)!.example;

  async function publish(type: string, data: unknown = example(type)) {
    const res = await server.api('/v1/events', { body: { event: type, data } });
    expect(res.status).toBe(202);
    return res.body as { id: string; event: string; timestamp: string; deliveries: number };
  }

  describe('GET /v1/stream/events', () => {
    it('streams each event published after it opened, once, in order, with the exact delivery body', async () => {
      const before = await publish('call.started');
      const stream = await openStream(server, '/v1/stream/events');
      expect(stream.status).toBe(200);
      expect(stream.contentType).toMatch(/^text\/event-stream/);
      const first = await publish('call.ended');
      const second = await publish('agent.created');
      const [a, b] = await stream.waitFor(2);
      expect(a).toMatchObject({ event: 'call.ended', id: first.id });
      expect(b).toMatchObject({ event: 'agent.created', id: second.id });
      const stored = await server.api(`/v1/events/${first.id}`);
      expect(a!.data).toBe(
        JSON.stringify({
          id: first.id,
          event: 'call.ended',
          timestamp: first.timestamp,
          data: stored.body.data,
        }),
      );
      // Several polls later, nothing is sent twice and the earlier event never came.
      await publish('call.ringing');
      await stream.waitFor(3);
      expect(stream.messages.map((m) => m.id)).not.toContain(before.id);
      expect(new Set(stream.messages.map((m) => m.id)).size).toBe(stream.messages.length);
    });

    it('sends only the types matching ?events= and never test sends', async () => {
      const stream = await openStream(server, '/v1/stream/events?events=agent.*,call.missed');
      const test = await server.api('/v1/webhooks/test', {
        body: { url: receiver.url, event: 'agent.created' },
      });
      expect(test.status).toBe(200);
      await publish('call.ended');
      const missed = await publish('call.missed');
      const agent = await publish('agent.deleted');
      await stream.waitFor(2);
      expect(stream.messages.map((m) => m.id)).toEqual([missed.id, agent.id]);
    });

    it('resumes after Last-Event-ID', async () => {
      const stream = await openStream(server, '/v1/stream/events');
      const first = await publish('call.started');
      await stream.waitFor(1);
      stream.close();
      const second = await publish('call.answered');
      const resumed = await openStream(server, '/v1/stream/events', { 'last-event-id': first.id });
      const [m] = await resumed.waitFor(1);
      expect(m!.id).toBe(second.id);
    });

    it('answers 401 without a valid key and 400 for an unknown pattern', async () => {
      const noKey = await fetch(server.url + '/v1/stream/events');
      expect(noKey.status).toBe(401);
      expect((await noKey.json()).error.code).toBe('unauthorized');
      const bad = await server.api('/v1/stream/events?events=call.*,calls.ended');
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('validation_error');
      expect(bad.body.error.message).toContain('calls.ended');
    });

    it('does not hold the server open: close() ends open streams promptly', async () => {
      const events = await openStream(server, '/v1/stream/events');
      const deliveries = await openStream(server, '/v1/stream/deliveries');
      const started = Date.now();
      await server.close();
      expect(Date.now() - started).toBeLessThan(3000);
      await Promise.all([events.ended, deliveries.ended]);
      // afterEach closes it again: a second close must be harmless, so start a fresh one.
      server = await startTestServer(env());
    });
  });

  describe('GET /v1/stream/deliveries', () => {
    it('sends one message per new delivery, attempt and status change', async () => {
      receiver.respondWith((_req, i) =>
        i === 0 ? { status: 500, body: 'boom' } : { status: 200 },
      );
      const hook = await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['*'] } });
      const stream = await openStream(server, `/v1/stream/deliveries?webhook_id=${hook.body.id}`);
      const published = await publish('call.ended');
      await receiver.waitFor(2);
      await stream.waitFor(2);
      // Wait for the final state: the delivery succeeded on its second attempt.
      for (;;) {
        const last = JSON.parse(stream.messages[stream.messages.length - 1]!.data);
        if (last.status === 'succeeded') break;
        await stream.waitFor(stream.messages.length + 1);
      }
      const states = stream.messages.map((m) => {
        expect(m.event).toBe('delivery');
        const d = JSON.parse(m.data);
        expect(d.event_id).toBe(published.id);
        return `${d.status}:${d.attempt_count}:${d.last_status_code}`;
      });
      // The queued state may be missed when the worker is faster than a poll; never repeated.
      expect(states.filter((s) => s !== 'pending:0:null')).toEqual([
        'pending:1:500',
        'succeeded:2:200',
      ]);
      expect(new Set(states).size).toBe(states.length);
    });

    it('still sends every attempt when retries come faster than polls', async () => {
      await server.close();
      server = await startTestServer({ ...env(), RIZLER_RETRY_SCHEDULE: '5ms,5ms' });
      receiver.respondWith((_req, i) => ({ status: i < 2 ? 500 : 200 }));
      await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['*'] } });
      const stream = await openStream(server, '/v1/stream/deliveries');
      await publish('call.ended');
      await receiver.waitFor(3);
      const states = () =>
        stream.messages
          .map((m) => JSON.parse(m.data))
          .filter((d) => d.attempt_count > 0)
          .map((d) => `${d.status}:${d.attempt_count}:${d.last_status_code}`);
      while (!states().includes('succeeded:3:200')) {
        await stream.waitFor(stream.messages.length + 1);
      }
      expect(states()).toEqual(['pending:1:500', 'pending:2:500', 'succeeded:3:200']);
    });

    it('filters by status and answers 404 for another webhook id', async () => {
      receiver.respondWith(() => ({ status: 200 }));
      await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['*'] } });
      const failed = await openStream(server, '/v1/stream/deliveries?status=failed');
      const succeeded = await openStream(server, '/v1/stream/deliveries?status=succeeded');
      await publish('call.ended');
      await succeeded.waitFor(1);
      expect(failed.messages).toEqual([]);
      const missing = await server.api(
        '/v1/stream/deliveries?webhook_id=wh_0000000000000000000000',
      );
      expect(missing.status).toBe(404);
    });
  });

  describe('POST /v1/listen/attempts', () => {
    it('logs the forwarded attempt as a test delivery to the local URL', async () => {
      const published = await publish('call.ended');
      const event = await server.api(`/v1/events/${published.id}`);
      const res = await server.api('/v1/listen/attempts', {
        body: {
          event_id: published.id,
          url: 'http://localhost:3000/webhooks',
          status_code: 200,
          duration_ms: 12,
          response_body: 'ok',
          error: null,
          request_headers: { 'webhook-id': published.id },
        },
      });
      expect(res.status).toBe(201);
      expect(res.body.forwarded_event_id).toBe(published.id);
      const list = await server.api('/v1/deliveries');
      const logged = list.body.data.find((d: any) => d.id === res.body.delivery_id);
      expect(logged).toMatchObject({
        webhook_id: null,
        url: 'http://localhost:3000/webhooks',
        event: 'call.ended',
        status: 'succeeded',
        test: true,
        last_status_code: 200,
        last_duration_ms: 12,
      });
      const detail = await server.api(`/v1/deliveries/${res.body.delivery_id}`);
      expect(JSON.parse(detail.body.request.body)).toEqual({
        id: published.id,
        event: 'call.ended',
        timestamp: published.timestamp,
        data: event.body.data,
      });
      expect(detail.body.request.headers).toEqual({ 'webhook-id': published.id });
      expect(detail.body.attempts).toMatchObject([{ trigger: 'test', status_code: 200 }]);
    });

    it('records a failure with its error, and refuses unknown events and bad input', async () => {
      const published = await publish('call.ended');
      const body = {
        event_id: published.id,
        url: 'http://localhost:3000/webhooks',
        status_code: null,
        duration_ms: 3,
        response_body: null,
        error: 'connection refused',
        request_headers: {},
      };
      const res = await server.api('/v1/listen/attempts', { body });
      expect(res.status).toBe(201);
      const detail = await server.api(`/v1/deliveries/${res.body.delivery_id}`);
      expect(detail.body).toMatchObject({ status: 'failed', last_error: 'connection refused' });

      const other = await server.newAccount();
      const foreign = await server.api('/v1/listen/attempts', { body, apiKey: other.apiKey });
      expect(foreign.status).toBe(404);
      const badUrl = await server.api('/v1/listen/attempts', { body: { ...body, url: 'ftp://x' } });
      expect(badUrl.status).toBe(400);
      const missing = await server.api('/v1/listen/attempts', { body: { event_id: published.id } });
      expect(missing.status).toBe(400);
    });
  });
});
