// A client that trickles its request, one byte at a time, must not hold a connection for ever,
// and a crowd of connections must not exhaust the process: deadlines for the headers and for
// the whole request, and a cap on open connections, all set short here to keep the test quick.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Trickle {
  socket: Socket;
  /** Resolves with the ms from connecting until the server closed the connection. */
  closed: Promise<number>;
  stop(): void;
}

/** Sends `head` at once (if any), then `drip` one byte every 100 ms until the server hangs up. */
function trickle(port: number, head: string, drip: string): Trickle {
  const started = Date.now();
  const socket = connect(port, '127.0.0.1');
  let i = 0;
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write(drip[i++ % drip.length]!);
  }, 100);
  socket.on('connect', () => {
    if (head) socket.write(head);
  });
  socket.on('data', () => {});
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) =>
    socket.on('close', () => {
      clearInterval(timer);
      resolve(Date.now() - started);
    }),
  );
  return {
    socket,
    closed,
    stop() {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

describe('slow clients: RIZLER_HEADERS_TIMEOUT=500ms, RIZLER_REQUEST_TIMEOUT=1s', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      RIZLER_RUN_WORKER: 'false',
      RIZLER_HEADERS_TIMEOUT: '500ms',
      RIZLER_REQUEST_TIMEOUT: '1s',
    });
  });
  afterAll(async () => server?.close());

  it('cuts off a body trickled one byte at a time, while serving others', async () => {
    for (const auth of [`Authorization: Bearer ${server.apiKey}\r\n`, '']) {
      const slow = trickle(
        server.service.port,
        `POST /v1/events HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n`,
        '{"event":"call.ended","data":{"x":"' + 'a'.repeat(50),
      );
      // Meanwhile another client is served at once, several times over.
      for (let n = 0; n < 5; n++) {
        const res = await server.api('/v1/event-types');
        expect(res.status).toBe(200);
      }
      const ms = await slow.closed;
      // The deadline is 1 s, checked every 100 ms; the margin is for a busy machine.
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(5_000);
      slow.stop();
    }
  });

  it('cuts off headers trickled one byte at a time', async () => {
    const slow = trickle(server.service.port, '', 'GET /v1/webhooks HTTP/1.1\r\nX-Slow: aaaaaaaa');
    const ms = await slow.closed;
    expect(ms).toBeLessThan(5_000);
    slow.stop();
  });
});

describe('a cap on connections: RIZLER_MAX_CONNECTIONS=3', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ RIZLER_RUN_WORKER: 'false', RIZLER_MAX_CONNECTIONS: '3' });
  });
  afterAll(async () => server?.close());

  const open = (port: number) =>
    new Promise<Socket>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(socket));
      socket.on('error', reject);
    });

  it('refuses a connection beyond the cap, and serves again once one closes', async () => {
    const port = server.service.port;
    const held: Socket[] = [];
    for (let n = 0; n < 3; n++) held.push(await open(port));
    // Wait until the server has accepted all three.
    await expect
      .poll(
        () =>
          new Promise<number>((resolve) =>
            server.service.httpServer.getConnections((_e, count) => resolve(count)),
          ),
      )
      .toBe(3);
    const extra = await open(port);
    const dropped = await new Promise<boolean>((resolve) => {
      extra.on('close', () => resolve(true));
      extra.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      extra.on('data', () => resolve(false));
    });
    expect(dropped).toBe(true);
    held.pop()!.destroy();
    await expect
      .poll(
        () =>
          new Promise<number>((resolve) =>
            server.service.httpServer.getConnections((_e, count) => resolve(count)),
          ),
      )
      .toBe(2);
    const served = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () =>
        socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      );
      let out = '';
      socket.on('data', (c: Buffer) => (out += c.toString()));
      socket.on('close', () => resolve(out));
    });
    expect(served).toMatch(/^HTTP\/1\.1 200 /);
    for (const socket of held) socket.destroy();
  });
});
