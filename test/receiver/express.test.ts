// rizlerWebhookMiddleware behind a real node:http server on 127.0.0.1:0, called the way Express
// calls middleware (req, res, next), with and without a body parser having run first.
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { rizlerWebhookMiddleware } from '../../src/receiver/index.js';
import type { RizlerExpressRequest, RizlerMiddlewareOptions } from '../../src/receiver/index.js';
import { makeSecret, nowSeconds, signedDelivery } from './helpers.js';

type BodyParser = 'none' | 'raw' | 'json' | 'skipped';

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Reads the whole body, as express.raw() and express.json() do before the middleware runs. */
async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function startServer(
  secret: string,
  parser: BodyParser,
  options: RizlerMiddlewareOptions = {},
): Promise<string> {
  const middleware = rizlerWebhookMiddleware(secret, options);
  const server = createServer((incoming: IncomingMessage, res: ServerResponse) => {
    const req = incoming as RizlerExpressRequest;
    const run = async () => {
      if (parser === 'raw') req.body = await readAll(req);
      if (parser === 'json') req.body = JSON.parse((await readAll(req)).toString()) as unknown;
      // body-parser leaves `{}` and the stream untouched when the content type is not its own.
      if (parser === 'skipped') req.body = {};
      middleware(req, res, (error?: unknown) => {
        res.setHeader('content-type', 'application/json');
        if (error !== undefined) {
          res.statusCode = 500;
          res.end(JSON.stringify({ next_error: (error as Error).message }));
          return;
        }
        res.end(JSON.stringify({ received: req.rizlerEvent }));
      });
    };
    void run();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
}

async function post(url: string, body: string, headers: Record<string, string>) {
  const response = await fetch(url, { method: 'POST', body, headers });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('rizlerWebhookMiddleware', () => {
  const secret = makeSecret();

  for (const parser of ['none', 'raw', 'skipped'] as const) {
    it(`verifies and sets req.rizlerEvent (body parser: ${parser})`, async () => {
      const url = await startServer(secret, parser);
      const d = signedDelivery({ secrets: [secret] });
      const { status, json } = await post(url, d.body, d.headers);
      expect(status).toBe(200);
      expect(json.received).toEqual(JSON.parse(d.body));
    });
  }

  it('answers 400 with the error code for a bad signature, a stale timestamp, a missing header', async () => {
    const url = await startServer(secret, 'none');
    const d = signedDelivery({ secrets: [secret] });

    const tampered = await post(url, d.body.replace('180', '181'), d.headers);
    expect(tampered.status).toBe(400);
    expect(tampered.json).toMatchObject({ error: { code: 'invalid_signature' } });

    const stale = signedDelivery({ secrets: [secret], timestamp: nowSeconds() - 3600 });
    const old = await post(url, stale.body, stale.headers);
    expect(old.status).toBe(400);
    expect(old.json).toMatchObject({ error: { code: 'timestamp_too_old' } });

    const { 'webhook-id': _id, ...withoutId } = d.headers;
    const missing = await post(url, d.body, withoutId);
    expect(missing.status).toBe(400);
    expect(missing.json).toEqual({
      error: { code: 'missing_header', message: 'The webhook-id header is missing' },
    });
  });

  it('passes an error to next() when express.json() already consumed the raw body', async () => {
    const url = await startServer(secret, 'json');
    const d = signedDelivery({ secrets: [secret] });
    const { status, json } = await post(url, d.body, d.headers);
    expect(status).toBe(500);
    expect(json.next_error).toMatch(/before express\.json\(\)/);
  });

  it('answers 413 for a body over the limit, declared or streamed', async () => {
    const url = await startServer(secret, 'none', { limitBytes: 100 });
    const d = signedDelivery({ secrets: [secret] });
    const declared = await post(url, d.body, d.headers);
    expect(declared.status).toBe(413);
    expect(declared.json).toMatchObject({ error: { code: 'payload_too_large' } });

    // Chunked, without content-length: the limit is enforced while reading.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(url, { method: 'POST', headers: d.headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write(d.body.slice(0, 80));
      req.end(d.body.slice(80));
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body)).toMatchObject({ error: { code: 'payload_too_large' } });
  });

  it('refuses to be built without a secret', () => {
    expect(() => rizlerWebhookMiddleware('')).toThrow(TypeError);
  });
});
