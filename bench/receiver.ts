// The bench's receiver: a bare node:http server answering 200 at once, counting requests.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountingReceiver {
  url: string;
  count: number;
  /** Resolves when `total` requests have arrived since the last reset. */
  waitFor(total: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingReceiver(): Promise<CountingReceiver> {
  let waiter: { total: number; resolve: () => void } | null = null;
  const state = { count: 0 };
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      state.count++;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
      if (waiter && state.count >= waiter.total) {
        const w = waiter;
        waiter = null;
        w.resolve();
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    get count() {
      return state.count;
    },
    waitFor(total) {
      if (state.count >= total) return Promise.resolve();
      return new Promise((resolve) => (waiter = { total, resolve }));
    },
    reset() {
      state.count = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
