// The bench's receiver: a bare node:http server answering 200 at once, counting requests.
// Options: record when each event first arrived (latency), never answer (a hanging endpoint),
// answer after a delay (a slow one), or check every body (intact deliveries).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Where this process's performance.now() begins on the monotonic clock every process on the
 * machine shares (process.hrtime), in ns: two processes' differ by how far apart their clocks
 * are. Shifted by their performance.timeOrigin instead, read from the wall clock as each
 * starts, every arrival came out 17-180 ms late in some latency runs (the wall clock moved
 * against the monotonic one between the two starts, most likely).
 *
 * Each reading takes the monotonic clock, then performance.now(): whatever runs between the
 * two makes it early by that much, never late, so the latest of several is the nearest. Read
 * once, as a process's first, it came out up to 2 ms early (the first calls are slow, likely),
 * and the latency rows' p50 on SQLite read -0.2 ms: arrivals before their publish (session 34).
 */
export function hrOrigin(): bigint {
  let origin: bigint | null = null;
  for (let i = 0; i < 50; i++) {
    const reading = process.hrtime.bigint() - BigInt(Math.round(performance.now() * 1e6));
    if (origin === null || reading > origin) origin = reading;
  }
  return origin!;
}

export interface CountingReceiver {
  url: string;
  /** The receiver's own process, when it runs in one (startReceiverProcess), for its CPU. */
  pid?: number;
  count: number;
  /** With `verifySecret`: requests whose body failed a check (see ReceiverOptions). */
  rejected?: number;
  /**
   * With `recordArrivals`: performance.now() when each event id (`webhook-id`) first arrived;
   * compare with performance.now() taken in the same process. Cleared by reset().
   */
  arrivals: Map<string, number>;
  /** Resolves when `total` requests have arrived since the last reset. */
  waitFor(total: number): Promise<void>;
  /**
   * Starts the counts and arrivals afresh. In a receiver's own process the reset is a message:
   * it resolves once the process has applied it, so that nothing sent after it is counted before.
   */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  /** Keep the first arrival time of every event id (costs a map entry per event). */
  recordArrivals?: boolean;
  /** Read each request and never answer it: an endpoint that hangs. */
  hang?: boolean;
  /** Called with each event id's first arrival (with `recordArrivals`). */
  onArrival?: (id: string, at: number) => void;
  /** Answer after this many milliseconds (a slow endpoint). */
  delayMs?: number;
  /**
   * Read every body and check it: `X-Rizler-Signature` under this secret (the bytes are the
   * ones the service signed), and, when `data.sha256` is present, that it is the SHA-256 of
   * `data.text` (the content is the one published). Failures are counted in `rejected`.
   */
  verifySecret?: string;
}

/** Whether a body passes the checks of `verifySecret` (see ReceiverOptions). */
export function intactBody(body: Buffer, signature: unknown, secret: string): boolean {
  const expected = Buffer.from('sha256=' + createHmac('sha256', secret).update(body).digest('hex'));
  const given = Buffer.from(typeof signature === 'string' ? signature : '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
  try {
    const { data } = JSON.parse(body.toString('utf8')) as {
      data?: { text?: unknown; sha256?: unknown };
    };
    if (data?.sha256 === undefined) return true;
    return (
      typeof data.text === 'string' &&
      createHash('sha256').update(data.text).digest('hex') === data.sha256
    );
  } catch {
    return false;
  }
}

export async function startCountingReceiver(
  options: ReceiverOptions = {},
): Promise<CountingReceiver> {
  let waiters: { total: number; resolve: () => void }[] = [];
  const state = { count: 0, rejected: 0 };
  const arrivals = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    if (options.verifySecret === undefined) req.resume();
    else req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      state.count++;
      if (
        options.verifySecret !== undefined &&
        !intactBody(Buffer.concat(chunks), req.headers['x-rizler-signature'], options.verifySecret)
      ) {
        state.rejected++;
      }
      if (options.recordArrivals) {
        const id = req.headers['webhook-id'];
        if (typeof id === 'string' && !arrivals.has(id)) {
          const at = performance.now();
          arrivals.set(id, at);
          options.onArrival?.(id, at);
        }
      }
      const answer = () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
        res.end('ok');
      };
      if (options.hang) {
        // never answered
      } else if (options.delayMs) setTimeout(answer, options.delayMs);
      else answer();
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
    get rejected() {
      return state.rejected;
    },
    arrivals,
    waitFor(total) {
      if (state.count >= total) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ total, resolve }));
    },
    reset() {
      state.count = 0;
      state.rejected = 0;
      arrivals.clear();
      return Promise.resolve();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
