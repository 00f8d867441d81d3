// rizlerWebhookPlugin in a real Fastify app: through inject, and once over a real port.
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { rizlerWebhookPlugin } from '../../src/receiver/index.js';
import type { RizlerFastifyOptions, RizlerWebhookEvent } from '../../src/receiver/index.js';
import { makeSecret, nowSeconds, signedDelivery } from './helpers.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function build(options: Partial<RizlerFastifyOptions> & { secret: string }) {
  const received: RizlerWebhookEvent[] = [];
  const app = Fastify();
  apps.push(app);
  await app.register(rizlerWebhookPlugin, {
    prefix: '/webhooks/rizler',
    handler: (event) => {
      received.push(event);
    },
    ...options,
  });
  // A sibling route outside the plugin keeps Fastify's own JSON parsing.
  app.post('/other', async (request) => ({ parsed: request.body }));
  await app.ready();
  return { app, received };
}

describe('rizlerWebhookPlugin', () => {
  const secret = makeSecret();

  it('verifies the raw body and hands the event to the handler (204 when it returns nothing)', async () => {
    const { app, received } = await build({ secret });
    const d = signedDelivery({ secrets: [secret], event: 'agent.status_changed' });
    const res = await app.inject({
      method: 'POST',
      url: '/webhooks/rizler',
      headers: d.headers,
      payload: d.body,
    });
    expect(res.statusCode).toBe(204);
    expect(received).toEqual([JSON.parse(d.body)]);
  });

  it("answers with the handler's return value, whatever the JSON charset parameter", async () => {
    const { app } = await build({
      secret,
      path: '/calls',
      handler: (event) => ({ received: event.id }),
    });
    const d = signedDelivery({ secrets: [secret] });
    const res = await app.inject({
      method: 'POST',
      url: '/webhooks/rizler/calls',
      headers: { ...d.headers, 'content-type': 'application/json; charset=utf-8' },
      payload: d.body,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ received: d.id });
  });

  it('answers 400 with the code of the failed check, without calling the handler', async () => {
    const { app, received } = await build({ secret });
    const d = signedDelivery({ secrets: [secret] });
    const stale = signedDelivery({ secrets: [secret], timestamp: nowSeconds() - 301 });
    const future = signedDelivery({ secrets: [secret], timestamp: nowSeconds() + 600 });
    const cases: [string, Record<string, string>, string][] = [
      [d.body.replace('call_123456', 'call_999999'), d.headers, 'invalid_signature'],
      [d.body, { ...d.headers, 'webhook-signature': 'v1,AAAA' }, 'invalid_signature'],
      [stale.body, stale.headers, 'timestamp_too_old'],
      [future.body, future.headers, 'timestamp_too_new'],
      [d.body, { ...d.headers, 'webhook-timestamp': 'soon' }, 'invalid_timestamp'],
      [d.body, { 'content-type': 'application/json' }, 'missing_header'],
    ];
    for (const [payload, headers, code] of cases) {
      const res = await app.inject({ method: 'POST', url: '/webhooks/rizler', headers, payload });
      expect(res.statusCode, code).toBe(400);
      expect(res.json().error.code).toBe(code);
      expect(res.json().error.message).toEqual(expect.any(String));
    }
    expect(received).toEqual([]);
  });

  it('rejects an empty body as unsigned rather than crashing', async () => {
    const { app } = await build({ secret });
    const d = signedDelivery({ secrets: [secret] });
    const res = await app.inject({
      method: 'POST',
      url: '/webhooks/rizler',
      headers: d.headers,
      payload: '',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_signature');
  });

  it('keeps its raw-body parser to itself: the rest of the app still parses JSON', async () => {
    const { app } = await build({ secret });
    const res = await app.inject({
      method: 'POST',
      url: '/other',
      headers: { 'content-type': 'application/json' },
      payload: '{"a":1}',
    });
    expect(res.json()).toEqual({ parsed: { a: 1 } });
  });

  it('enforces bodyLimit with 413', async () => {
    const { app } = await build({ secret, bodyLimit: 64 });
    const d = signedDelivery({ secrets: [secret] });
    const res = await app.inject({
      method: 'POST',
      url: '/webhooks/rizler',
      headers: d.headers,
      payload: d.body,
    });
    expect(res.statusCode).toBe(413);
  });

  it('works over a real socket on 127.0.0.1:0', async () => {
    const { app, received } = await build({ secret });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const d = signedDelivery({ secrets: [secret] });
    const res = await fetch(`${address}/webhooks/rizler`, {
      method: 'POST',
      headers: d.headers,
      body: d.body,
    });
    expect(res.status).toBe(204);
    expect(received.map((e) => e.id)).toEqual([d.id]);
  });

  it('refuses to register without a secret or a handler', async () => {
    const app = Fastify();
    apps.push(app);
    await expect(
      app.register(rizlerWebhookPlugin, { secret: '', handler: () => undefined }).ready(),
    ).rejects.toThrow(/secret/);
    const other = Fastify();
    apps.push(other);
    const noHandler = { secret } as RizlerFastifyOptions;
    await expect(other.register(rizlerWebhookPlugin, noHandler).ready()).rejects.toThrow(/handler/);
  });
});
