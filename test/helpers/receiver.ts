// A real HTTP receiver on 127.0.0.1:0 that records every request and answers what the test
// says (after svix's TestReceiver).
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Worker } from 'node:worker_threads';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

export interface Answer {
  status?: number;
  body?: string;
  headers?: Record<string, string>;
  /** Answer after this many ms (a slow receiver). */
  delayMs?: number;
  /** Never answer (a hanging receiver); the socket is closed when the receiver closes. */
  hang?: boolean;
}

export type Responder = (req: ReceivedRequest, index: number) => Answer | void;

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  respondWith(responder: Responder): void;
  /** Resolves once `count` requests have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startReceiver(host = '127.0.0.1'): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  let responder: Responder = () => ({ status: 200, body: 'ok' });
  const waiters: { count: number; resolve: () => void }[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const answer = (res: ServerResponse, a: Answer) => {
    if (res.destroyed) return;
    res.writeHead(a.status ?? 200, { 'content-type': 'text/plain', ...a.headers });
    res.end(a.body ?? '');
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt: Date.now(),
      };
      requests.push(received);
      const a = responder(received, requests.length - 1) ?? {};
      for (const w of [...waiters]) {
        if (requests.length >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
      if (a.hang) return;
      if (a.delayMs) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          answer(res, a);
        }, a.delayMs);
        timers.add(timer);
      } else {
        answer(res, a);
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  const hostPart = host.includes(':') ? `[${host}]` : host;

  return {
    url: `http://${hostPart}:${port}/webhooks`,
    port,
    requests,
    respondWith(r) {
      responder = r;
    },
    waitFor(count, timeoutMs = 15_000) {
      if (requests.length >= count) return Promise.resolve(requests);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(`receiver got ${requests.length} of ${count} requests in ${timeoutMs} ms`),
          );
        }, timeoutMs);
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(requests);
          },
        });
      });
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A receiver on a thread of its own that answers every request 200 at once: it goes on
 * answering while a test holds this thread's event loop (to show what is done without a turn
 * of it). `count()` is how many requests it has answered: counted before each answer is sent,
 * so that a sender that has the answer finds it counted.
 */
export async function startThreadReceiver(): Promise<{
  url: string;
  count(): number;
  close(): Promise<void>;
}> {
  const answered = new Int32Array(new SharedArrayBuffer(4));
  const thread = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const server = require('node:http').createServer((req, res) => {
       req.resume();
       req.on('end', () => { Atomics.add(workerData.answered, 0, 1); res.end('ok'); });
     });
     server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
     parentPort.on('message', () => { server.closeAllConnections(); server.close(() => parentPort.close()); });`,
    { eval: true, workerData: { answered } },
  );
  const port = await new Promise<number>((resolve, reject) => {
    thread.once('message', resolve);
    thread.once('error', reject);
  });
  return {
    url: `http://127.0.0.1:${port}/hook`,
    count: () => Atomics.load(answered, 0),
    async close() {
      thread.postMessage('close');
      await new Promise((resolve) => thread.once('exit', resolve));
    },
  };
}
