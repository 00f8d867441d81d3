// Server-sent-event streams for the CLI's receiver toolkit: `listen` reads the account's events
// as they are published, `tail` reads delivery changes as they happen, and `listen` reports each
// attempt it forwarded so it shows in the delivery logs like any endpoint's.
//
// Both streams poll the store (every 250 ms, and soon after a wake-up) rather than hooking the
// publish path: the store is the one place every API process writes to, so a stream opened on one process sees events published through another
// (PostgreSQL scale-out) with no extra broker.
import type { ServerResponse } from 'node:http';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { MAX_RESPONSE_BODY } from '../core/attempt.js';
import { isValidSubscription, subscriptionMatches } from '../core/event-catalogue.js';
import { idTime, newId } from '../core/ids.js';
import { renderDelivery } from '../deliveries/routes.js';
import type { Api, AppContext } from '../http/context.js';
import { requireAccount } from '../http/auth.js';
import { ApiError, notFound } from '../http/errors.js';
import { errorResponses } from '../http/schemas.js';
import type {
  Delivery,
  DeliveryDetail,
  DeliveryStatus,
  Page,
  StoredEvent,
} from '../storage/index.js';

/** How often a stream polls: at most every `minGapMs` and, with no wake-up, every `intervalMs`. */
interface PollTiming {
  intervalMs: number;
  /** A burst of publishing wakes the stream at each event; it still polls at most this often. */
  minGapMs: number;
}

const EVENT_POLLS: PollTiming = { intervalMs: 250, minGapMs: 50 };
/** Deliveries are found by (account_id, updated_at), which an index covers. */
const DELIVERY_POLLS: PollTiming = { intervalMs: 250, minGapMs: 50 };
/** A comment line this often keeps proxies and idle timers from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000;
/**
 * Each poll reads again what changed in the last 2 s, and drops what it already sent. A row is
 * stamped with its time before its transaction commits, so on PostgreSQL with several API
 * processes a row can become visible a little after a later-stamped one; 2 s covers that commit
 * lag and modest clock skew between processes, at the cost of re-reading 2 s of rows per poll.
 */
const LOOKBACK_MS = 2_000;
/** A reconnecting client may resume from its Last-Event-ID, but not from further back than this. */
const MAX_RESUME_MS = 5 * 60_000;
const PAGE_SIZE = 100;
/** Delivery states remembered to tell a change from a repeat; oldest forgotten first. */
const MAX_REMEMBERED_DELIVERIES = 50_000;

interface SseMessage {
  event: string;
  id?: string;
  data: string;
}

/** One kind of stream: what to send next. Called again after each pause. */
type Source = () => Promise<SseMessage[]>;

const Patterns = Type.String({
  maxLength: 1000,
  description: 'Comma-separated subscriptions: exact types, families (call.*) or *. Default *.',
});

const Status = Type.Union([
  Type.Literal('pending'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
]);

const SseResponse = {
  description: 'A stream of server-sent events',
  content: { 'text/event-stream': { schema: Type.String() } },
};

const ListenAttemptInput = Type.Object({
  event_id: Type.String({ maxLength: 100, description: 'The event that was forwarded.' }),
  url: Type.String({
    minLength: 1,
    maxLength: 2048,
    description: 'The local URL it was forwarded to (--forward-to).',
  }),
  status_code: Type.Union([Type.Integer({ minimum: 100, maximum: 599 }), Type.Null()]),
  duration_ms: Type.Integer({ minimum: 0, maximum: 24 * 60 * 60 * 1000 }),
  response_body: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String({ maxLength: 2000 }), Type.Null()]),
  request_headers: Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 8192 }), {
    maxProperties: 100,
    description: 'The headers it was forwarded with; at most 8 KiB in all, as stored.',
  }),
});

/** What one listen attempt may store of its request headers, as response bodies (8 KiB). */
const MAX_LISTEN_HEADERS_BYTES = 8 * 1024;
/** The attempt's whole report: 8 KiB of headers, 8 KiB of response body, and room for JSON. */
const LISTEN_ATTEMPT_BODY_LIMIT = 64 * 1024;

function headersBytes(headers: Record<string, string>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value) + 4;
  }
  return bytes;
}

/** The first `max` bytes of `text`, never cutting a character in two. */
function truncateUtf8(text: string, max: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return text;
  return new TextDecoder().decode(bytes.subarray(0, max)).replace(/\uFFFD$/, '');
}

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

const ListenAttemptBody = Type.Object({
  delivery_id: Type.String({ description: 'The delivery that records the attempt in the logs.' }),
  event_id: Type.String({
    description:
      'The event row of that delivery: a copy of the forwarded event with a fresh id, marked test.',
  }),
  forwarded_event_id: Type.String({ description: 'The event that was forwarded.' }),
});

function parsePatterns(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') return ['*'];
  const patterns = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const unknown = patterns.filter((p) => !isValidSubscription(p));
  if (unknown.length > 0) {
    throw new ApiError(
      'validation_error',
      `events: ${unknown.map((p) => `"${p}"`).join(', ')} is not a known event type, family (call.*) or *; GET /v1/event-types lists them.`,
    );
  }
  return patterns.length === 0 ? ['*'] : patterns;
}

/** Reads every row a paged, newest-first list query returns, page after page. */
async function readAll<T extends { id: string }>(
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

/** Events published to the account from `from` on, oldest first, each sent once. */
function eventSource(
  ctx: AppContext,
  accountId: string,
  patterns: string[],
  from: number,
  afterId: string | null,
): Source {
  const floor = from;
  const sent = new Map<string, number>(); // id → created_at
  return async () => {
    const started = ctx.now();
    // Newest first, stopping at the first older row, rather than filtering on created_at: an
    // event id starts with its created_at, so the order is the same, and the scan of the
    // account's index stops where the news ends. With 100 000 events in the account, the
    // created_at filter took 74 ms a poll on SQLite (the planner walks the whole account);
    // this takes about 1 ms.
    const rows = await readAll(
      (page) => ctx.storage.listEvents(accountId, {}, page),
      (e) => e.createdAt < from,
    );
    const fresh: StoredEvent[] = [];
    for (const e of rows) {
      if (sent.has(e.id) || (afterId !== null && e.id <= afterId)) continue;
      sent.set(e.id, e.createdAt);
      // Test sends, including the copies `listen` records below, are not the account's events:
      // forwarding them would make `listen` report its own reports.
      if (!e.test && subscriptionMatches(patterns, e.type)) fresh.push(e);
    }
    from = Math.max(floor, started - LOOKBACK_MS);
    for (const [id, createdAt] of sent) if (createdAt < from) sent.delete(id);
    fresh.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return fresh.map((e) => ({ event: e.type, id: e.id, data: e.payload }));
  };
}

/**
 * The delivery as it stood right after attempt `index` of `detail`, for an attempt that a poll
 * missed because a later one had already happened (fast retries). Its status is inferred: a
 * 2xx succeeded; a failure with automatic retries left (or followed by another attempt) was
 * pending; otherwise failed.
 */
function afterAttempt(detail: DeliveryDetail, index: number, maxAutoAttempts: number): Delivery {
  const attempt = detail.attempts[index]!;
  const next = detail.attempts[index + 1];
  const autoSoFar = detail.attempts.slice(0, index + 1).filter((a) => a.trigger === 'auto').length;
  const ok = attempt.statusCode !== null && attempt.statusCode >= 200 && attempt.statusCode < 300;
  const status: DeliveryStatus = ok
    ? 'succeeded'
    : autoSoFar < maxAutoAttempts || next?.trigger === 'auto'
      ? 'pending'
      : 'failed';
  return {
    ...detail,
    status,
    attemptCount: index + 1,
    lastStatusCode: attempt.statusCode,
    lastDurationMs: attempt.durationMs,
    lastError: attempt.error,
    nextAttemptAt: status === 'pending' ? (next?.startedAt ?? null) : null,
    updatedAt: attempt.startedAt + attempt.durationMs,
  };
}

/**
 * Deliveries of the account created, attempted or changed in status since `from`: one message
 * per new delivery and per attempt, so `tail` shows every retry even when two attempts fall
 * between polls.
 */
function deliverySource(
  ctx: AppContext,
  accountId: string,
  filter: { webhookId?: string; status?: DeliveryStatus },
  from: number,
): Source {
  const floor = from;
  const maxAutoAttempts = ctx.config.retryScheduleMs.length + 1;
  // id → [status, attempts] last sent: a delivery is sent again only when one of them changed,
  // not when another column moved its updated_at (a queued manual retry, a lease).
  const known = new Map<string, [DeliveryStatus, number]>();
  return async () => {
    const started = ctx.now();
    const rows = await readAll((page) =>
      ctx.storage.listDeliveries(accountId, { ...filter, updatedSince: from }, page),
    );
    const changed: Delivery[] = [];
    for (const d of rows) {
      const before = known.get(d.id);
      if (before && before[0] === d.status && before[1] === d.attemptCount) continue;
      const sentAttempts = before?.[1] ?? 0;
      if (d.attemptCount > sentAttempts + 1) {
        const detail = await ctx.storage.getDelivery(accountId, d.id);
        for (let i = sentAttempts; detail && i < d.attemptCount - 1; i++) {
          // Attempts made before the stream opened are history, not news.
          if (!detail.attempts[i] || detail.attempts[i]!.startedAt < floor) continue;
          const then = afterAttempt(detail, i, maxAutoAttempts);
          if (filter.status === undefined || then.status === filter.status) changed.push(then);
        }
      }
      known.delete(d.id);
      known.set(d.id, [d.status, d.attemptCount]);
      changed.push(d);
    }
    while (known.size > MAX_REMEMBERED_DELIVERIES) known.delete(known.keys().next().value!);
    from = Math.max(floor, started - LOOKBACK_MS);
    changed.sort((a, b) => a.updatedAt - b.updatedAt || a.attemptCount - b.attemptCount);
    return changed.map((d) => ({ event: 'delivery', data: JSON.stringify(renderDelivery(d)) }));
  };
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
  ctx: AppContext,
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
  const unsubscribe = ctx.storage.onWake(() => {
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

export function streamRoutes(app: Api, ctx: AppContext): void {
  const security = [{ apiKey: [] }];
  const open = new Set<() => void>();
  const slots = new StreamSlots(ctx.config.maxStreamsPerAccount);

  // preClose, not onClose: onClose runs after the server has waited for every connection to
  // end, and an open stream never would.
  app.addHook('preClose', async () => {
    for (const close of [...open]) close();
  });

  app.get(
    '/v1/stream/events',
    {
      // Opening a stream counts against the API limit, like any read.
      config: { scope: 'read' },
      schema: {
        tags: ['events'],
        summary: 'Server-sent events: every event published to the account from now on',
        description:
          'Each message has `event: <type>`, `id: <event id>` and `data: <the exact body an endpoint receives>`. A reconnecting client may send `Last-Event-ID` to resume after that event (up to 5 minutes back). Used by `rizler-webhooks listen`.',
        security,
        querystring: Type.Object({ events: Type.Optional(Patterns) }),
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ maxLength: 100 })) }),
        response: {
          200: SseResponse,
          ...errorResponses(400, 401, 429),
        },
      },
    },
    async (request, reply) => {
      const account = requireAccount(request);
      const patterns = parsePatterns(request.query.events);
      const now = ctx.now();
      const lastId = request.headers['last-event-id'];
      const lastTime = lastId?.startsWith('evt_') ? idTime(lastId) : null;
      const from = lastTime === null ? now : Math.max(lastTime, now - MAX_RESUME_MS);
      slots.take(account.id, reply.raw);
      serveStream(
        ctx,
        open,
        request,
        reply,
        eventSource(ctx, account.id, patterns, from, lastTime === null ? null : lastId!),
        EVENT_POLLS,
      );
    },
  );

  app.get(
    '/v1/stream/deliveries',
    {
      // Opening a stream counts against the API limit, like any read.
      config: { scope: 'read' },
      schema: {
        tags: ['deliveries'],
        summary: 'Server-sent events: every new delivery, attempt and status change from now on',
        description:
          'Each message is `event: delivery` with `data:` the delivery as `GET /v1/deliveries` lists it. Used by `rizler-webhooks tail`.',
        security,
        querystring: Type.Object({
          webhook_id: Type.Optional(Type.String({ maxLength: 100 })),
          status: Type.Optional(Status),
        }),
        response: {
          200: SseResponse,
          ...errorResponses(400, 401, 404, 429),
        },
      },
    },
    async (request, reply) => {
      const account = requireAccount(request);
      const { webhook_id: webhookId, status } = request.query;
      if (webhookId !== undefined && !(await ctx.storage.getWebhook(account.id, webhookId))) {
        throw notFound('webhook');
      }
      slots.take(account.id, reply.raw);
      serveStream(
        ctx,
        open,
        request,
        reply,
        deliverySource(ctx, account.id, { webhookId, status }, ctx.now()),
        DELIVERY_POLLS,
      );
    },
  );

  app.post(
    '/v1/listen/attempts',
    {
      bodyLimit: LISTEN_ATTEMPT_BODY_LIMIT,
      config: { scope: 'manage' },
      schema: {
        tags: ['deliveries'],
        summary: 'Record an attempt that `rizler-webhooks listen` forwarded to a local URL',
        description:
          'The attempt is logged as a test delivery (trigger `test`, no webhook) to that URL, so it shows in `GET /v1/deliveries` like any endpoint.',
        security,
        body: ListenAttemptInput,
        response: { 201: ListenAttemptBody, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request, reply) => {
      const account = requireAccount(request);
      const input = request.body;
      if (!/^https?:\/\//i.test(input.url)) {
        throw new ApiError('validation_error', 'url must be the http(s) URL the event went to.');
      }
      if (headersBytes(input.request_headers) > MAX_LISTEN_HEADERS_BYTES) {
        throw new ApiError(
          'validation_error',
          'request_headers may hold at most 8 KiB in all; send the headers the event was forwarded with.',
        );
      }
      const event = await ctx.storage.getEvent(account.id, input.event_id);
      if (!event) throw notFound('event');
      const now = ctx.now();
      // recordTestSend inserts the delivery's event row, and the forwarded event already has
      // one, so the attempt is filed under a copy with a fresh id (marked test, which also keeps
      // it out of the event stream). The copy keeps the exact body that was forwarded, so the
      // logged request still carries the original event id, as did its webhook-id header.
      const copyId = newId('evt', now);
      const deliveryId = newId('dlv', now);
      const succeeded =
        input.status_code !== null && input.status_code >= 200 && input.status_code < 300;
      await ctx.storage.recordTestSend({
        accountId: account.id,
        webhookId: null,
        event: {
          id: copyId,
          type: event.type,
          timestamp: event.timestamp,
          payload: event.payload,
          idempotencyKey: null,
        },
        deliveryId,
        succeeded,
        now,
        attempt: {
          deliveryId,
          attempt: 1,
          trigger: 'test',
          url: input.url,
          startedAt: now - input.duration_ms,
          durationMs: input.duration_ms,
          statusCode: input.status_code,
          responseBody:
            input.response_body === null
              ? null
              : truncateUtf8(input.response_body, MAX_RESPONSE_BODY),
          error: succeeded
            ? null
            : (input.error ??
              (input.status_code === null
                ? 'no response'
                : `the receiver answered HTTP ${input.status_code}`)),
          requestHeaders: input.request_headers,
        },
      });
      return reply
        .code(201)
        .send({ delivery_id: deliveryId, event_id: copyId, forwarded_event_id: event.id });
    },
  );
}
