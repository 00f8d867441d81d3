// The CLI's server-sent-event reader: the format's parsing rules whatever the chunking, and
// reconnection with Last-Event-ID after a drop.
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { follow, parseEventStream, type SseMessage } from '../../src/cli/client/sse.js';

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(encoder.encode(c));
      controller.close();
    },
  });
}

async function parseAll(chunks: string[]) {
  const out: unknown[] = [];
  for await (const parsed of parseEventStream(streamOf(chunks))) out.push(parsed);
  return out;
}

const TEXT =
  ': stream open\r\n\r\n' +
  'event: call.ended\r\nid: evt_1\r\ndata: {"a":1}\r\n\r\n' +
  'data: first line\ndata:second line\n\n' +
  'retry: 1500\n' +
  'event: agent.created\rid: evt_2\rdata: x\r\r' +
  'event: ignored\n\n' +
  'data: cut off without its blank line';

const EXPECTED = [
  { message: { event: 'call.ended', id: 'evt_1', data: '{"a":1}' } },
  { message: { event: 'message', id: 'evt_1', data: 'first line\nsecond line' } },
  { retryMs: 1500 },
  { message: { event: 'agent.created', id: 'evt_2', data: 'x' } },
];

describe('parseEventStream', () => {
  it('follows the event-stream rules: fields, comments, line ends, ids, retry', async () => {
    expect(await parseAll([TEXT])).toEqual(EXPECTED);
  });

  it('gives the same messages however the bytes are split into chunks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: TEXT.length - 1 })),
        async (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), TEXT.length];
          const chunks = points.slice(1).map((end, i) => TEXT.slice(points[i], end));
          expect(await parseAll(chunks)).toEqual(EXPECTED);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('follow', () => {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  afterEach(async () => {
    for (const s of sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
  });

  async function serve(
    handler: (res: ServerResponse, headers: IncomingHttpHeaders, n: number) => void,
  ): Promise<string> {
    let n = 0;
    server = createServer((req, res) => handler(res, req.headers, n++));
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('reconnects after a drop and resumes with Last-Event-ID', async () => {
    const seen: (string | undefined)[] = [];
    const url = await serve((res, headers, n) => {
      seen.push(headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (n === 0) {
        res.write(
          'id: evt_1\nevent: call.ended\ndata: one\n\nid: evt_2\nevent: call.ended\ndata: two\n\n',
        );
        setTimeout(() => res.socket?.destroy(), 20);
      } else {
        res.write('id: evt_3\nevent: call.ended\ndata: three\n\n');
      }
    });
    const controller = new AbortController();
    const messages: SseMessage[] = [];
    const drops: string[] = [];
    const opens: boolean[] = [];
    await follow({
      signal: controller.signal,
      initialDelayMs: 10,
      open: (lastEventId, signal) =>
        fetch(url, { signal, headers: lastEventId ? { 'last-event-id': lastEventId } : {} }),
      onOpen: (reconnected) => opens.push(reconnected),
      onDrop: (reason) => drops.push(reason),
      onMessage: (m) => {
        messages.push(m);
        if (m.data === 'three') controller.abort();
      },
    });
    expect(messages.map((m) => m.data)).toEqual(['one', 'two', 'three']);
    expect(seen).toEqual([undefined, 'evt_2']);
    expect(opens).toEqual([false, true]);
    expect(drops).toHaveLength(1);
  });

  it('takes a silent stream for dead and reconnects', async () => {
    const url = await serve((res, _headers, n) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(n === 0 ? ': open\n\n' : 'data: alive\n\n');
    });
    const controller = new AbortController();
    const drops: string[] = [];
    await follow({
      signal: controller.signal,
      initialDelayMs: 10,
      idleTimeoutMs: 200,
      open: (_id, signal) => fetch(url, { signal }),
      onDrop: (reason) => drops.push(reason),
      onMessage: () => controller.abort(),
    });
    expect(drops).toEqual(['no data from the API']);
  });

  it('rejects when the first connection fails, rather than retrying a wrong address', async () => {
    const url = await serve(() => {});
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    await expect(
      follow({
        signal: new AbortController().signal,
        open: (_id, signal) => fetch(url, { signal }),
        onMessage: () => {},
      }),
    ).rejects.toThrow('fetch failed');
  });
});
