// Server-sent-event streams fed by polling the store: the machinery that the event stream
// (events/stream.ts, read by `listen`) and the delivery tail (deliveries/stream.ts, read by
// `tail`) share. Each stream polls (every 250 ms, and soon after a wake-up) rather than hooking
// the publish path: the store is the one place every API process writes to, so a stream opened
// on one process sees what was written through another (PostgreSQL scale-out) with no extra
// broker.
import type { ServerResponse } from 'node:http';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Page, Storage } from '../storage/index.js';
import type { Api } from './context.js';
import { ApiError } from './errors.js';

/** How often a stream polls: at most every `minGapMs` and, with no wake-up, every `intervalMs`. */
export interface PollTiming {
  intervalMs: number;
  /** A burst of publishing wakes the stream at each event; it still polls at most this often. */
  minGapMs: number;
}

/**
 * Both streams poll alike: each poll is an indexed read (events by id; deliveries by id, and
 * by the attempts recorded after a cursor).
 */
const POLLS: PollTiming = { intervalMs: 250, minGapMs: 50 };
/** A comment line this often keeps proxies and idle timers from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000;
/**
 * Each poll reads again what changed in the last 2 s, and drops what it already sent. A row is
 * stamped with its time (an attempt with its number) before its transaction commits, so on
 * PostgreSQL with several API processes a row can become visible a little after a later-stamped
 * one; 2 s covers that commit lag and modest clock skew between processes, at the cost of
 * re-reading 2 s of rows per poll.
 */
export const LOOKBACK_MS = 2_000;
const PAGE_SIZE = 100;

export interface SseMessage {
  event: string;
  id?: string;
  data: string;
}

/** One kind of stream: what to send next. Called again after each pause. */
export type Source = () => Promise<SseMessage[]>;

/** The OpenAPI answer of a stream route. */
export const SseResponse = {
  description: 'A stream of server-sent events',
  content: { 'text/event-stream': { schema: Type.String() } },
};

/** Open streams per account in this process, capped by RIZLER_MAX_STREAMS_PER_ACCOUNT. */
class StreamSlots {
  private readonly open = new Map<string, number>();
  constructor(private readonly max: number) {}

  /** Takes a slot for the account, or answers 429; the slot is freed when `res` closes. */
  take(accountId: string, res: ServerResponse): void {
    const n = this.open.get(accountId) ?? 0;
    if (n >= this.max) {
      throw new ApiError(
        'rate_limited',
        `This account already has ${n} event streams open, the most it may; close one first.`,
        { 'retry-after': '5' },
      );
    }
    this.open.set(accountId, n + 1);
    res.once('close', () => {
      const left = (this.open.get(accountId) ?? 1) - 1;
      if (left <= 0) this.open.delete(accountId);
      else this.open.set(accountId, left);
    });
  }
}

/** Reads every row a paged, newest-first list query returns, page after page. */
export async function readAll<T extends { id: string }>(
  list: (page: Page) => Promise<T[]>,
  /** Rows are newest first: the first row for which this is true ends the reading. */
  isOlder: (row: T) => boolean = () => false,
): Promise<T[]> {
  const rows: T[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await list({ limit: PAGE_SIZE, after });
    for (const row of page) {
      if (isOlder(row)) return rows;
      rows.push(row);
    }
    if (page.length < PAGE_SIZE) return rows;
    after = page[page.length - 1]!.id;
  }
}

function frame(message: SseMessage): string {
  let out = `event: ${message.event}\n`;
  if (message.id !== undefined) out += `id: ${message.id}\n`;
  for (const line of message.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return out + '\n';
}

/**
 * Takes the response over from Fastify and feeds it from `source` until the client goes away
 * or the server closes (`open` holds the closer, which the preClose hook calls).
 */
function serveStream(
  storage: Pick<Storage, 'onWake'>,
  open: Set<() => void>,
  request: FastifyRequest,
  reply: FastifyReply,
  source: Source,
  timing: PollTiming,
): void {
  reply.hijack();
  const res: ServerResponse = reply.raw;
  // Keeps what the onRequest hooks set (security headers).
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) res.setHeader(name, value);
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    // Tells nginx-style proxies not to buffer the stream.
    'x-accel-buffering': 'no',
  });
  res.write(': stream open\n\n');

  let closed = false;
  /** Ends the current pause early; set while one runs. */
  let interrupt: (() => void) | null = null;
  let wakeable = false;
  /** The store said something may have changed since the last poll began. */
  let woken = false;
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
  const unsubscribe = storage.onWake(() => {
    woken = true;
    if (wakeable) interrupt?.();
  });
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    unsubscribe();
    open.delete(close);
    interrupt?.();
    if (!res.writableEnded) res.end();
  };
  open.add(close);
  res.on('close', close);
  res.on('error', close);

  /** Waits `ms`; less on close, on a drained buffer ('drain'), or on a wake-up ('wakeable'). */
  const pause = (ms: number, mode: 'fixed' | 'wakeable' | 'drain') =>
    new Promise<void>((resolve) => {
      if (closed) return resolve();
      const done = () => {
        clearTimeout(timer);
        res.off('drain', done);
        interrupt = null;
        wakeable = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      interrupt = done;
      wakeable = mode === 'wakeable';
      if (mode === 'drain') res.once('drain', done);
    });

  const run = async () => {
    while (!closed) {
      woken = false;
      try {
        for (const message of await source()) {
          if (closed) break;
          // A slow reader: wait for its buffer to empty rather than hold every event in memory.
          if (!res.write(frame(message))) await pause(KEEP_ALIVE_MS, 'drain');
        }
      } catch (err) {
        // The database may be briefly unreachable; the stream stays open and tries again.
        request.log.warn({ err }, 'stream poll failed');
      }
      await pause(timing.minGapMs, 'fixed');
      if (!woken) await pause(timing.intervalMs - timing.minGapMs, 'wakeable');
    }
  };
  void run();
}

/**
 * The streams of this process: at most RIZLER_MAX_STREAMS_PER_ACCOUNT open per account, of
 * either kind, and every one closed when the server closes.
 */
export class Streams {
  private readonly open = new Set<() => void>();
  private readonly slots: StreamSlots;

  constructor(
    app: Api,
    private readonly storage: Pick<Storage, 'onWake'>,
    maxPerAccount: number,
  ) {
    this.slots = new StreamSlots(maxPerAccount);
    // preClose, not onClose: onClose runs after the server has waited for every connection to
    // end, and an open stream never would.
    app.addHook('preClose', async () => {
      for (const close of [...this.open]) close();
    });
  }

  /** Takes one of the account's slots (429 when none is left), then feeds the reply from `source`. */
  serve(
    request: FastifyRequest,
    reply: FastifyReply,
    accountId: string,
    source: Source,
    timing: PollTiming = POLLS,
  ): void {
    this.slots.take(accountId, reply.raw);
    serveStream(this.storage, this.open, request, reply, source, timing);
  }
}
