// The TypeScript receiver examples, each on a real port, registered as a webhook on a real
// server: they verify, process each event once, answer before the work is done, refuse forgeries.
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildFastifyReceiver } from '../../examples/fastify-receiver.js';
import { createNodeReceiver } from '../../examples/node-http-receiver.js';
import type { RizlerWebhookEvent } from '../../src/receiver/index.js';
import { standardSignature } from '../../src/core/signing.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { deliveryAfter, newSecret, publish, recorder, registerWebhook } from './support.js';

type Handle = (event: RizlerWebhookEvent) => Promise<void>;
interface Running {
  url: string;
  close(): Promise<void>;
}

const EXAMPLES: [string, (secret: string, handle: Handle) => Promise<Running>][] = [
  [
    'examples/fastify-receiver.ts',
    async (secret, handle) => {
      const app = await buildFastifyReceiver({ secret, handle });
      const address = await app.listen({ port: 0, host: '127.0.0.1' });
      return { url: `${address}/webhooks`, close: () => app.close() };
    },
  ],
  [
    'examples/node-http-receiver.ts',
    async (secret, handle) => {
      const server = createNodeReceiver({ secret, handle });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      return {
        url: `http://127.0.0.1:${port}/webhooks`,
        close: () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      };
    },
  ],
];

describe.each(EXAMPLES)('%s', (_name, start) => {
  let server: TestServer;
  let receiver: Running;
  let secret: string;
  let work: ReturnType<typeof recorder<RizlerWebhookEvent>>;

  beforeEach(async () => {
    server = await startTestServer();
    secret = newSecret();
    work = recorder<RizlerWebhookEvent>();
    receiver = await start(secret, work.handle);
    await registerWebhook(server, receiver.url, secret);
  });

  afterEach(async () => {
    work.release();
    await receiver.close();
    await server.close();
  });

  it('verifies a published event and processes it after answering 2xx', async () => {
    work.hold(); // the work takes a while
    const published = await publish(server);
    const [event] = await work.waitFor(1);
    expect(event).toMatchObject({ id: published.id, event: 'call.ended' });
    // The delivery succeeded while the work was still running.
    const delivery = await deliveryAfter(server, published.id, 1);
    expect(delivery).toMatchObject({ status: 'succeeded', last_status_code: 204 });
    work.release();
  });

  it('processes a redelivered event once (dedupe on webhook-id)', async () => {
    const published = await publish(server);
    await work.waitFor(1);
    const first = await deliveryAfter(server, published.id, 1);
    const retry = await server.api(`/v1/deliveries/${first.id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(202);
    const second = await deliveryAfter(server, published.id, 2);
    expect(second.attempts.map((a: any) => a.status_code)).toEqual([204, 204]);
    expect(work.seen).toHaveLength(1);
  });

  it('refuses a forged or stale delivery with 400 and does no work', async () => {
    const body = JSON.stringify({ id: 'evt_forged', event: 'call.ended', timestamp: '', data: {} });
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      { 'webhook-signature': standardSignature('evt_forged', now, body, newSecret()), ts: now },
      {
        'webhook-signature': standardSignature('evt_forged', now - 600, body, secret),
        ts: now - 600,
      },
    ];
    for (const c of cases) {
      const res = await fetch(receiver.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': 'evt_forged',
          'webhook-timestamp': String(c.ts),
          'webhook-signature': c['webhook-signature'],
        },
        body,
      });
      expect(res.status).toBe(400);
      expect((await res.json()).error.code).toMatch(/invalid_signature|timestamp_too_old/);
    }
    expect(work.seen).toEqual([]);
  });
});
