// The sender's reading of an answer: the body as text, NUL shown as U+FFFD (PostgreSQL text
// cannot hold it), whether the receiver declares its length (read whole) or streams it
// chunked (read up to the cap).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_RESPONSE_BODY } from '../../src/core/attempt.js';
import { Sender } from '../../src/worker/sender.js';

let server: http.Server;
let url: string;
const agent = new Agent();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const big = req.url === '/big' || req.url === '/big-declared';
    const body = Buffer.from(big ? 'x'.repeat(3 * MAX_RESPONSE_BODY) : 'a\0b\0c');
    if (req.url === '/hints') {
      // 103 Early Hints before the real answer, which is what counts.
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.writeHead(201, { 'content-type': 'text/plain' });
      res.end('made');
    } else if (req.url === '/empty') {
      res.writeHead(204);
      res.end();
    } else if (req.url === '/chunked' || req.url === '/big') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write(body.subarray(0, 2));
      res.end(body.subarray(2));
    } else {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await agent.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function send(path: string) {
  return new Sender({ dispatcher: agent, timeoutMs: 5000 }).send({
    url: url + path,
    eventId: 'evt_1',
    eventType: 'call.ended',
    deliveryId: 'dlv_1',
    attempt: 1,
    payload: '{}',
    secrets: ['whsec_test'],
  });
}

describe('Sender reading the answer', () => {
  it('shows NUL as U+FFFD in a body of declared length', async () => {
    const result = await send('/declared');
    expect(result).toMatchObject({ succeeded: true, statusCode: 200 });
    expect(result.responseBody).toBe('a\uFFFDb\uFFFDc');
  });

  it('shows NUL as U+FFFD in a chunked body', async () => {
    expect((await send('/chunked')).responseBody).toBe('a\uFFFDb\uFFFDc');
  });

  it('keeps the first 8 KiB of a body larger than that, chunked or of declared length', async () => {
    expect((await send('/big')).responseBody).toBe('x'.repeat(MAX_RESPONSE_BODY));
    expect((await send('/big-declared')).responseBody).toBe('x'.repeat(MAX_RESPONSE_BODY));
  });

  it('reads past an informational answer to the real one', async () => {
    expect(await send('/hints')).toMatchObject({
      succeeded: true,
      statusCode: 201,
      responseBody: 'made',
    });
  });

  it('reads an answer without a body as an empty one', async () => {
    expect(await send('/empty')).toMatchObject({
      succeeded: true,
      statusCode: 204,
      responseBody: '',
    });
  });
});
