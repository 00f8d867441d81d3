// The bench's receiver: a bare node:http server answering 200 at once, counting requests.
// Options: record when each event first arrived (latency), or never answer (a hanging endpoint).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountingReceiver {
  url: string;
  /** The receiver's own process, when it runs in one (startReceiverProcess), for its CPU. */
  pid?: number;
  count: number;
  /**
   * With `recordArrivals`: performance.now() when each event id (`webhook-id`) first arrived;
   * compare with performance.now() taken in the same process. Cleared by reset().
   */
  arrivals: Map<string, number>;
  /** Resolves when `total` requests have arrived since the last reset. */
  waitFor(total: number): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  /** Keep the first arrival time of every event id (costs a map entry per event). */
  recordArrivals?: boolean;
  /** Read each request and never answer it: an endpoint that hangs. */
  hang?: boolean;
  /** Called with each event id's first arrival (with `recordArrivals`). */
  onArrival?: (id: string, at: number) => void;
}

export async function startCountingReceiver(
  options: ReceiverOptions = {},
): Promise<CountingReceiver> {
  let waiters: { total: number; resolve: () => void }[] = [];
  const state = { count: 0 };
  const arrivals = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      state.count++;
      if (options.recordArrivals) {
        const id = req.headers['webhook-id'];
        if (typeof id === 'string' && !arrivals.has(id)) {
          const at = performance.now();
          arrivals.set(id, at);
          options.onArrival?.(id, at);
        }
      }
      if (!options.hang) {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
        res.end('ok');
      }
      if (waiters.length > 0 && waiters.some((w) => state.count >= w.total)) {
        const due = waiters.filter((w) => state.count >= w.total);
        waiters = waiters.filter((w) => state.count < w.total);
        for (const w of due) w.resolve();
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
    arrivals,
    waitFor(total) {
      if (state.count >= total) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ total, resolve }));
    },
    reset() {
      state.count = 0;
      arrivals.clear();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
