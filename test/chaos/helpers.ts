// What the chaos tests share: an API client for a service process, a receiver that knows
// whether each request it got was answered or cut off, a raw TCP "receiver" that can
// misbehave below HTTP, a way to read a whole delivery log, and the harness that starts,
// kills and restarts `serve` over one database.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { startProcess, type ServiceProcess } from '../helpers/process.js';

export const DATA = { call_id: 'call_1', agent_id: 'agent_1', duration: 3, status: 'completed' };

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

import { api, apiKeyFrom } from '../helpers/process.js';

export { api, apiKeyFrom };

export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not met in ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

export interface DeliveryRow {
  id: string;
  webhook_id: string;
  event_id: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempt_count: number;
  last_error: string | null;
}

/** Every delivery of the account with this status, following next_cursor to the end. */
export async function allDeliveries(
  port: number,
  key: string,
  status: DeliveryRow['status'],
): Promise<DeliveryRow[]> {
  const rows: DeliveryRow[] = [];
  let cursor: string | null = null;
  do {
    const page = await api(
      port,
      key,
      `/v1/deliveries?status=${status}&limit=100${cursor ? `&cursor=${cursor}` : ''}`,
    );
    if (page.status !== 200) throw new Error(`listing deliveries: ${page.status}`);
    rows.push(...(page.body.data as DeliveryRow[]));
    cursor = page.body.next_cursor as string | null;
  } while (cursor);
  return rows;
}

// ---- a receiver that tells answered requests from cut-off ones ----

export interface TracedRequest {
  eventId: string;
  deliveryId: string;
  attempt: number;
  path: string;
  headers: IncomingHttpHeaders;
  receivedAt: number;
  /** The response was written completely to the socket. */
  answered: boolean;
  /** The connection closed before the response was written: the attempt was cut off. */
  cut: boolean;
}

export interface TracingReceiver {
  url: string;
  requests: TracedRequest[];
  /** Milliseconds to wait before answering (may change during a test). */
  delayMs: number;
  /** The status to answer a request to this path with (default 200; may change). */
  statusFor: (path: string) => number;
  /** Requests received and neither answered nor cut off yet. */
  open(): TracedRequest[];
  /** Distinct `webhook-id|path` pairs seen. */
  seen(): Set<string>;
  close(): Promise<void>;
}

export async function startTracingReceiver(delayMs = 0): Promise<TracingReceiver> {
  const requests: TracedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const receiver = { delayMs, statusFor: (_path: string) => 200 };
  const openBySocket = new WeakMap<Socket, Set<TracedRequest>>();
  const openOn = (s: Socket) => {
    let set = openBySocket.get(s);
    if (!set) openBySocket.set(s, (set = new Set()));
    return set;
  };
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const traced: TracedRequest = {
        eventId: String(req.headers['webhook-id']),
        deliveryId: String(req.headers['x-rizler-delivery']),
        attempt: Number(req.headers['x-rizler-attempt']),
        path: req.url ?? '',
        headers: req.headers,
        receivedAt: Date.now(),
        answered: false,
        cut: false,
      };
      requests.push(traced);
      // Answered: the whole response was written while the sender still held the connection.
      // Cut: the sender closed its side (a FIN or RST, as when its process dies) first.
      const pending = openOn(req.socket);
      pending.add(traced);
      res.on('finish', () => {
        if (!traced.cut) traced.answered = true;
        pending.delete(traced);
      });
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(receiver.statusFor(traced.path), {
          'content-type': 'text/plain',
          'content-length': '2',
        });
        res.end('ok');
      };
      if (receiver.delayMs <= 0) return answer();
      const timer = setTimeout(() => {
        timers.delete(timer);
        answer();
      }, receiver.delayMs);
      timers.add(timer);
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s) => {
    sockets.add(s);
    const cutOff = () => {
      for (const r of openOn(s)) r.cut = true;
      openOn(s).clear();
    };
    s.on('end', cutOff);
    s.on('close', () => {
      cutOff();
      sockets.delete(s);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    get delayMs() {
      return receiver.delayMs;
    },
    set delayMs(ms: number) {
      receiver.delayMs = ms;
    },
    get statusFor() {
      return receiver.statusFor;
    },
    set statusFor(f: (path: string) => number) {
      receiver.statusFor = f;
    },
    open: () => requests.filter((r) => !r.answered && !r.cut),
    seen: () => new Set(requests.map((r) => `${r.eventId}|${r.path}`)),
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- a raw TCP receiver, for faults below HTTP ----

export interface RawRequest {
  head: string;
  body: string;
}

/** Called once per complete HTTP request read from a connection; `index` counts from 0. */
export type RawHandler = (socket: Socket, index: number, request: RawRequest) => void;

export interface RawServer {
  url: string;
  /** How many complete requests arrived. */
  readonly count: number;
  /** Schedules work that close() cancels. */
  later(ms: number, work: () => void): void;
  close(): Promise<void>;
}

/** A valid, complete 200 answer; closes the connection after it. */
export function answerOk(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
}

/** Writes as fast as the peer reads, until the connection goes away. */
export function writeForever(socket: Socket, chunk: string | Buffer): void {
  const pump = () => {
    while (!socket.destroyed && socket.write(chunk)) {
      // keep the buffer full
    }
    if (!socket.destroyed) socket.once('drain', pump);
  };
  pump();
}

export async function startRawServer(handler: RawHandler): Promise<RawServer> {
  let count = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {}); // the peer gives up on us: expected here
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffer.length < end + 4 + length) return;
        const body = buffer.subarray(end + 4, end + 4 + length).toString('utf8');
        buffer = buffer.subarray(end + 4 + length);
        handler(socket, count++, { head, body });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    get count() {
      return count;
    },
    later(ms, work) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        work();
      }, ms);
      timers.add(timer);
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ChaosServer {
  /** The folder of the database: `prepare`'s answer, or the test's temporary folder. */
  dbDir: string;
  receiver: TracingReceiver;
  /** Starts `rizler-webhooks serve` on that database; every one is SIGKILLed after the file. */
  start(): Promise<ServiceProcess>;
}

export interface ChaosServerOptions {
  /** The temporary folder's name prefix. */
  name: string;
  /** How long the receiver waits before each answer. */
  answerDelayMs?: number;
  /** Settings over the chaos defaults (2 s lease, 100 ms poll, no rate limits in the way). */
  env?: Record<string, string>;
  /** Makes the database's folder inside the temporary one (a tmpfs, say); returns it. */
  prepare?: (dir: string) => string;
  /** Undoes `prepare`, before the temporary folder is removed. */
  release?: (dbDir: string) => void;
}

/**
 * The harness of the crash and fault tests, for one `describe`: a temporary SQLite database,
 * a tracing receiver, and `serve` processes to kill, stop and restart over them.
 */
export function useChaosServer(options: ChaosServerOptions): ChaosServer {
  const h = {} as ChaosServer;
  let dir: string;
  const processes: ServiceProcess[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `rizler-chaos-${options.name}-`));
    h.dbDir = options.prepare ? options.prepare(dir) : dir;
    h.receiver = await startTracingReceiver(options.answerDelayMs ?? 0);
    h.start = async () => {
      const p = await startProcess(['serve'], {
        RIZLER_DATABASE_URL: `sqlite:${join(h.dbDir, 'rizler.db')}`,
        RIZLER_ALLOW_PRIVATE_NETWORKS: 'true',
        RIZLER_LEASE: '2s',
        RIZLER_POLL_INTERVAL: '100ms',
        RIZLER_API_RATE_LIMIT: '1000000',
        RIZLER_ENDPOINT_RATE_LIMIT: '10000000',
        ...options.env,
      });
      processes.push(p);
      return p;
    };
  });
  afterAll(async () => {
    for (const p of processes) {
      p.kill('SIGKILL');
      await p.exited;
    }
    await h.receiver?.close();
    try {
      if (h.dbDir && options.release) options.release(h.dbDir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return h;
}

/** `count` endpoints at `url?e=0`, `url?e=1`…, each subscribed to call.ended. */
export async function createEndpoints(
  port: number,
  key: string,
  url: string,
  count: number,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    const hook = await api(port, key, '/v1/webhooks', {
      url: `${url}?e=${i}`,
      events: ['call.ended'],
    });
    expect(hook.status).toBe(201);
  }
}

/**
 * Waits until every accepted event has reached each of `endpoints` endpoints
 * (`createEndpoints`' `?e=N` paths) at least once, then until the log has nothing pending.
 */
export async function expectEveryEventReceived(
  receiver: TracingReceiver,
  accepted: Iterable<string>,
  endpoints: number,
  service: { port: number; key: string },
  timeoutMs: number,
): Promise<void> {
  const wanted = [...accepted].flatMap((id) =>
    Array.from({ length: endpoints }, (_, i) => `${id}|/hook?e=${i}`),
  );
  let missing: string[] = [];
  await waitUntil(
    'every accepted event received by every endpoint',
    () => {
      const seen = receiver.seen();
      missing = wanted.filter((w) => !seen.has(w));
      return missing.length === 0 ? true : undefined;
    },
    timeoutMs,
    100,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; ${missing.length} missing, e.g. ${missing[0]}`);
  });
  await waitUntil('no delivery pending', async () => {
    const pending = await api(service.port, service.key, '/v1/deliveries?status=pending&limit=1');
    return pending.body.data.length === 0 ? true : undefined;
  });
}
