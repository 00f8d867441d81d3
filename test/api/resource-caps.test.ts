// What one key holder can make the service hold: open event streams per account, the stored
// size of a listen attempt, and the body of a batch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { findEventType } from '../../src/core/event-catalogue.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const DATA = findEventType('call.ended')!.example;

describe('event streams: RIZLER_MAX_STREAMS_PER_ACCOUNT=2', () => {
  let server: TestServer;
  const open: AbortController[] = [];
  beforeAll(async () => {
    server = await startTestServer({
      RIZLER_RUN_WORKER: 'false',
      RIZLER_MAX_STREAMS_PER_ACCOUNT: '2',
    });
  });
  afterAll(async () => {
    for (const c of open) c.abort();
    await server?.close();
  });

  const stream = async (path: string, apiKey = server.apiKey) => {
    const controller = new AbortController();
    open.push(controller);
    const res = await fetch(server.url + path, {
      headers: { authorization: `Bearer ${apiKey}` },
      signal: controller.signal,
    });
    return { res, close: () => controller.abort() };
  };

  it('refuses a third stream of one account with 429, not another account', async () => {
    const first = await stream('/v1/stream/events');
    const second = await stream('/v1/stream/deliveries');
    expect(first.res.status).toBe(200);
    expect(second.res.status).toBe(200);
    const third = await stream('/v1/stream/events');
    expect(third.res.status).toBe(429);
    const body = (await third.res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('rate_limited');
    expect(body.error.message).toMatch(/2 event streams open/);
    expect(third.res.headers.get('retry-after')).toMatch(/^\d+$/);

    const other = await server.newAccount();
    const theirs = await stream('/v1/stream/events', other.apiKey);
    expect(theirs.res.status).toBe(200);
    theirs.close();

    // Closing one frees its slot.
    first.close();
    await expect
      .poll(async () => {
        const again = await stream('/v1/stream/events');
        if (again.res.status === 200) again.close();
        return again.res.status;
      })
      .toBe(200);
    second.close();
  });
});

describe('an event stream counts against the API rate limit', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ RIZLER_RUN_WORKER: 'false', RIZLER_API_RATE_LIMIT: '2' });
  });
  afterAll(async () => server?.close());

  it('is not opened while the key is rate-limited', async () => {
    await server.api('/v1/webhooks');
    await server.api('/v1/webhooks');
    const res = await server.api('/v1/stream/events');
    expect(res.status).toBe(429);
  });
});

describe('listen attempts and batch bodies', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      RIZLER_RUN_WORKER: 'false',
      RIZLER_BATCH_BODY_LIMIT: '64KiB',
    });
  });
  afterAll(async () => server?.close());

  const attempt = async (extra: Record<string, unknown>) => {
    const published = await server.api('/v1/events', {
      body: { event: 'call.ended', data: DATA },
    });
    return server.api('/v1/listen/attempts', {
      body: {
        event_id: published.body.id,
        url: 'http://localhost:3000/webhooks',
        status_code: 200,
        duration_ms: 5,
        response_body: 'ok',
        error: null,
        request_headers: { 'webhook-id': published.body.id },
        ...extra,
      },
    });
  };

  it('refuses request headers over 8 KiB in all, and a body of about 1 MiB', async () => {
    const many = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`x-h${i}`, 'v'.repeat(500)]),
    );
    const tooMany = await attempt({ request_headers: many });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.message).toMatch(/8 KiB/);

    const huge = Object.fromEntries(
      Array.from({ length: 100 }, (_, i) => [`x-h${i}`, 'v'.repeat(8000)]),
    );
    const tooLarge = await attempt({ request_headers: huge });
    expect(tooLarge.status).toBe(413);
  });

  it('stores up to 8 KiB of headers and of response body', async () => {
    const headers = { 'webhook-id': 'evt_x', 'x-big': 'h'.repeat(7000) };
    const res = await attempt({ request_headers: headers, response_body: 'é'.repeat(6000) });
    expect(res.status).toBe(201);
    const detail = await server.api(`/v1/deliveries/${res.body.delivery_id}`);
    expect(detail.body.request.headers).toEqual(headers);
    const kept = detail.body.attempts[0].response_body as string;
    expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(8 * 1024);
    expect(kept).toBe('é'.repeat(4096));
  });

  it('reads a batch body up to RIZLER_BATCH_BODY_LIMIT, and refuses a larger one with 413', async () => {
    const events = (n: number) => ({
      events: Array.from({ length: n }, () => ({ event: 'call.ended', data: DATA })),
    });
    const small = await server.api('/v1/events/batch', { body: events(50) });
    expect(small.status).toBe(202);
    const big = await server.api('/v1/events/batch', { body: events(1000) });
    expect(JSON.stringify(events(1000)).length).toBeGreaterThan(64 * 1024);
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('payload_too_large');
  });

  it('defaults the batch body limit to 4 MiB', () => {
    expect(loadConfig({}).batchBodyLimit).toBe(4 * 1024 * 1024);
    expect(loadConfig({ RIZLER_BATCH_BODY_LIMIT: '512KiB' }).batchBodyLimit).toBe(512 * 1024);
    expect(() => loadConfig({ RIZLER_BATCH_BODY_LIMIT: 'lots' })).toThrow(
      /RIZLER_BATCH_BODY_LIMIT/,
    );
  });
});
