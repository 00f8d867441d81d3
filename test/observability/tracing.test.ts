// Trace context and OpenTelemetry (SPEC §11): the traceparent a publisher sends is kept with the
// event, every attempt sends a child of it, and with OTEL_EXPORTER_OTLP_ENDPOINT set the spans
// of publish, claim → record and attempt reach a real OTLP/HTTP receiver with their parent links.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTraceparent, parseTraceparent } from '../../src/observability/tracing.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer } from '../helpers/server.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}

/** A minimal OTLP/HTTP collector: keeps every span POSTed to /v1/traces as JSON. */
async function startCollector() {
  const spans: OtlpSpan[] = [];
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      paths.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const rs of body.resourceSpans ?? [])
        for (const ss of rs.scopeSpans ?? []) spans.push(...ss.spans);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    paths,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const attribute = (span: OtlpSpan, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value === undefined ? undefined : Object.values(value)[0];
};

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const INCOMING = `00-${TRACE_ID}-${PARENT_ID}-01`;
const data = { call_id: 'call_t1', agent_id: 'agent_1', duration: 61, status: 'completed' };

describe('trace context', () => {
  it('reads W3C traceparents and refuses malformed ones', () => {
    expect(parseTraceparent(INCOMING)).toEqual({
      traceId: TRACE_ID,
      spanId: PARENT_ID,
      flags: '01',
    });
    expect(formatTraceparent(parseTraceparent(INCOMING)!)).toBe(INCOMING);
    for (const bad of [
      '',
      'nonsense',
      `01-${TRACE_ID}-${PARENT_ID}-01`,
      `00-${'0'.repeat(32)}-${PARENT_ID}-01`,
      `00-${TRACE_ID}-${'0'.repeat(16)}-01`,
      `00-${TRACE_ID}-${PARENT_ID}`,
    ]) {
      expect(parseTraceparent(bad), bad).toBeNull();
    }
  });

  describe('without a collector', () => {
    let receiver: Receiver;
    beforeAll(async () => {
      receiver = await startReceiver();
    });
    afterAll(() => receiver.close());

    it('sends a child of the given traceparent on each attempt, and a new trace when none was given', async () => {
      const server = await startTestServer();
      try {
        await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['call.ended'] } });
        await server.api('/v1/events', {
          body: { event: 'call.ended', data },
          headers: { traceparent: INCOMING },
        });
        await server.api('/v1/events', { body: { event: 'call.ended', data } });
        const [withParent, without] = await receiver.waitFor(2);
        const child = parseTraceparent(String(withParent!.headers.traceparent))!;
        expect(child.traceId).toBe(TRACE_ID);
        expect(child.spanId).not.toBe(PARENT_ID);
        const fresh = parseTraceparent(String(without!.headers.traceparent))!;
        expect(fresh).not.toBeNull();
        expect(fresh.traceId).not.toBe(TRACE_ID);
      } finally {
        await server.close();
      }
    });
  });

  describe('with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
    let receiver: Receiver;
    let collector: Awaited<ReturnType<typeof startCollector>>;
    beforeAll(async () => {
      receiver = await startReceiver();
      collector = await startCollector();
    });
    afterAll(async () => {
      await receiver.close();
      await collector.close();
    });

    it('exports publish, claim → record and attempt spans over OTLP/HTTP, linked parent to child', async () => {
      const server = await startTestServer({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
      let webhookId: string;
      try {
        const hook = await server.api('/v1/webhooks', {
          body: { url: receiver.url, events: ['call.ended'] },
        });
        webhookId = hook.body.id;
        const published = await server.api('/v1/events', {
          body: { event: 'call.ended', data },
          headers: { traceparent: INCOMING },
        });
        expect(published.status).toBe(202);
        await receiver.waitFor(1);
        // Let the completion be recorded before the spans are flushed at shutdown.
        await new Promise((resolve) => setTimeout(resolve, 300));
      } finally {
        await server.close();
      }
      expect(collector.paths[0]).toMatch(/^POST \/v1\/traces application\/json/);
      const sent = parseTraceparent(String(receiver.requests[0]!.headers.traceparent))!;
      const ours = collector.spans.filter((s) => s.traceId === TRACE_ID);
      const publish = ours.find((s) => s.name === 'publish call.ended')!;
      expect(publish.parentSpanId).toBe(PARENT_ID);
      expect(attribute(publish, 'rizler.account_id')).toBe(server.accountId);
      expect(attribute(publish, 'rizler.event_type')).toBe('call.ended');
      expect(Number(attribute(publish, 'rizler.deliveries'))).toBe(1);

      const deliver = ours.find((s) => s.name === 'deliver call.ended')!;
      expect(deliver.parentSpanId).toBe(publish.spanId);
      expect(attribute(deliver, 'rizler.webhook_id')).toBe(webhookId);
      expect(attribute(deliver, 'rizler.outcome')).toBe('succeeded');

      const attempt = ours.find((s) => s.name === 'POST')!;
      expect(attempt.parentSpanId).toBe(deliver.spanId);
      // The receiver's traceparent names the attempt span as its parent.
      expect(sent).toEqual({ traceId: TRACE_ID, spanId: attempt.spanId, flags: '01' });
      expect(Number(attribute(attempt, 'http.response.status_code'))).toBe(200);
      expect(Number(attribute(attempt, 'rizler.attempt'))).toBe(1);
      expect(attribute(attempt, 'rizler.event_type')).toBe('call.ended');
      expect(attribute(attempt, 'rizler.account_id')).toBe(server.accountId);
    });
  });
});
