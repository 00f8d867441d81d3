// A small server-sent-event reader over fetch: the parser of the WHATWG event-stream format,
// and a follower that reconnects with backoff when the stream drops, resuming with
// Last-Event-ID where the server sent ids.
//
// Kept over undici's EventSource, which cannot do what the CLI needs: it sends no
// Authorization header (the streams need the API key); on a 401 or 404 it closes with a bare
// error event, so the CLI could not say "the API refused RIZLER_API_KEY"; it reconnects after
// a fixed delay, without backoff or an idle watchdog for a connection that died silently; it
// cannot hold the next message until `listen` has forwarded this one; and it prints an
// ExperimentalWarning into the CLI's output.
import { CliError } from './api-client.js';

export interface SseMessage {
  /** The `event:` field; "message" when the server sent none. */
  event: string;
  /** The `id:` field of this message or the last one before it; null when never sent. */
  id: string | null;
  data: string;
}

/** What the parser yields: a message, or a `retry:` the server asked for (ms). */
type Parsed = { message: SseMessage } | { retryMs: number };

/** Parses a text/event-stream body (https://html.spec.whatwg.org/#event-stream-interpretation). */
export async function* parseEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<Parsed> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let lastId: string | null = null;

  function* line(text: string): Generator<Parsed> {
    if (text === '') {
      if (data.length > 0) {
        yield { message: { event: event || 'message', id: lastId, data: data.join('\n') } };
      }
      event = '';
      data = [];
      return;
    }
    if (text.startsWith(':')) return; // a comment: the server's keep-alive
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id' && !value.includes('\0')) lastId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) yield { retryMs: Number(value) };
  }

  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      for (;;) {
        const match = /\r\n|\r|\n/.exec(buffer);
        // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
        if (!match || (!done && match[0] === '\r' && match.index === buffer.length - 1)) break;
        const text = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        yield* line(text);
      }
      // An unterminated last message is dropped, as the format says.
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}

export interface FollowOptions {
  /** Opens the stream; rejects with a CliError (not `transient`) when it must not be retried. */
  open(lastEventId: string | null, signal: AbortSignal): Promise<Response>;
  onMessage(message: SseMessage): void | Promise<void>;
  /** Called each time the stream is open: `reconnected` after a drop. */
  onOpen?(reconnected: boolean): void;
  /** Called when an open stream dropped, before waiting `retryInMs`. */
  onDrop?(reason: string, retryInMs: number): void;
  /** Stops following; `follow` then resolves. */
  signal: AbortSignal;
  /** First wait before reconnecting; doubles on each failure up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** With no byte (not even a keep-alive) for this long the stream is taken for dead. */
  idleTimeoutMs?: number;
}

/** Waits `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

function reasonOf(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string } };
  return e.cause?.message ?? e.message ?? String(err);
}

/**
 * Reads the stream until `signal` aborts, handing each message to `onMessage` in order (the
 * next is read once it has resolved). A first connection that fails rejects at once, so a
 * wrong key or address is reported rather than retried; a drop after that is retried forever,
 * with backoff, because a developer's laptop sleeps and changes networks.
 */
export async function follow(options: FollowOptions): Promise<void> {
  const initialDelay = options.initialDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 10_000;
  // The server sends a keep-alive every 15 s; three missed ones mean the connection is gone.
  const idleTimeout = options.idleTimeoutMs ?? 45_000;
  const { signal } = options;
  let lastId: string | null = null;
  let opened = false;
  let delay = initialDelay;

  while (!signal.aborted) {
    const connection = new AbortController();
    const abort = () => connection.abort();
    signal.addEventListener('abort', abort);
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => connection.abort(new Error('no data from the API')), idleTimeout);
    };
    let reason: string;
    try {
      const response = await options.open(lastId, connection.signal);
      if (!response.body) throw new Error('the API answered without a body');
      options.onOpen?.(opened);
      opened = true;
      delay = initialDelay;
      touch();
      const body = response.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            touch();
            controller.enqueue(chunk);
          },
        }),
      );
      for await (const parsed of parseEventStream(body)) {
        if ('retryMs' in parsed) {
          delay = Math.min(Math.max(parsed.retryMs, 100), maxDelay);
          continue;
        }
        lastId = parsed.message.id ?? lastId;
        // Time spent handling a message (a slow local app) is not the stream's silence.
        clearTimeout(idle);
        await options.onMessage(parsed.message);
        touch();
      }
      reason = 'the API closed the stream';
    } catch (err) {
      if (signal.aborted) return;
      const fatal = err instanceof CliError && !err.transient;
      if (fatal || !opened) throw err;
      reason = connection.signal.aborted ? reasonOf(connection.signal.reason) : reasonOf(err);
    } finally {
      clearTimeout(idle);
      signal.removeEventListener('abort', abort);
      connection.abort();
    }
    if (signal.aborted) return;
    // ±20 % jitter, so many clients dropped by one restart do not all come back at once.
    const wait = Math.round(delay * (0.8 + Math.random() * 0.4));
    options.onDrop?.(reason, wait);
    await sleep(wait, signal);
    delay = Math.min(delay * 2, maxDelay);
  }
}
