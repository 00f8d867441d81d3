// The OpenTelemetry side of tracing.ts: spans made with the official SDK and exported over
// OTLP/HTTP (JSON) in batches. Imported only when OTEL_EXPORTER_OTLP_ENDPOINT is set.
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { AttemptOutcome, ClaimedDelivery } from '../storage/types.js';
import { VERSION } from '../version.js';
import type { AttemptResult } from '../core/attempt.js';
import {
  formatTraceparent,
  parseTraceparent,
  type AttemptTrace,
  type PublishInfo,
  type Tracing,
} from './tracing.js';

/** The parent context a traceparent names, or the root when there is none. */
function contextOf(traceparent: string | null | undefined): Context {
  const parent = parseTraceparent(traceparent);
  if (!parent) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parseInt(parent.flags, 16),
    isRemote: true,
  });
}

function traceparentOf(span: Span): string {
  const c = span.spanContext();
  return formatTraceparent({
    traceId: c.traceId,
    spanId: c.spanId,
    flags: c.traceFlags.toString(16).padStart(2, '0'),
  });
}

function deliveryAttributes(claim: ClaimedDelivery) {
  return {
    'rizler.account_id': claim.accountId,
    'rizler.webhook_id': claim.webhookId,
    'rizler.delivery_id': claim.deliveryId,
    'rizler.event_id': claim.eventId,
    'rizler.event_type': claim.eventType,
    'rizler.attempt': claim.attempt,
    'rizler.trigger': claim.trigger,
  };
}

export class OtelTracing implements Tracing {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  /** Claim → record spans of deliveries whose attempts are not recorded yet. */
  private readonly delivering = new WeakMap<ClaimedDelivery, Span>();

  constructor(endpoint: string, serviceName: string) {
    const exporter = new OTLPTraceExporter({
      url: `${endpoint.replace(/\/+$/, '')}/v1/traces`,
    });
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        'service.name': process.env.OTEL_SERVICE_NAME || serviceName,
        'service.version': VERSION,
      }),
      // Batches of up to 512 spans, sent at least every second.
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 })],
    });
    this.tracer = this.provider.getTracer('rizler-webhooks', VERSION);
  }

  async publish<T>(
    info: PublishInfo,
    incoming: string | undefined,
    work: (traceparent: string) => Promise<{ result: T; deliveries: number }>,
  ): Promise<T> {
    const single = info.eventIds.length === 1;
    const span = this.tracer.startSpan(
      single ? `publish ${info.eventTypes[0]}` : 'publish batch',
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'rizler.account_id': info.accountId,
          'rizler.events': info.eventIds.length,
          ...(single
            ? { 'rizler.event_id': info.eventIds[0], 'rizler.event_type': info.eventTypes[0] }
            : {}),
        },
      },
      contextOf(incoming),
    );
    try {
      const { result, deliveries } = await work(traceparentOf(span));
      span.setAttribute('rizler.deliveries', deliveries);
      return result;
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  }

  attempt(claim: ClaimedDelivery): AttemptTrace {
    const attributes = deliveryAttributes(claim);
    const delivery = this.tracer.startSpan(
      `deliver ${claim.eventType}`,
      { kind: SpanKind.INTERNAL, attributes },
      contextOf(claim.traceparent),
    );
    this.delivering.set(claim, delivery);
    const span = this.tracer.startSpan(
      'POST',
      {
        kind: SpanKind.CLIENT,
        attributes: { ...attributes, 'http.request.method': 'POST', 'url.full': claim.url },
      },
      trace.setSpan(ROOT_CONTEXT, delivery),
    );
    return {
      traceparent: traceparentOf(span),
      finished(result: AttemptResult, outcome: AttemptOutcome) {
        if (result.statusCode !== null) {
          span.setAttribute('http.response.status_code', result.statusCode);
        }
        span.setAttribute('rizler.outcome', outcome.kind);
        delivery.setAttribute('rizler.outcome', outcome.kind);
        if (!result.succeeded) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: result.error ?? 'failed' });
        }
        span.end();
      },
    };
  }

  recorded(claims: readonly ClaimedDelivery[]): void {
    for (const claim of claims) {
      const span = this.delivering.get(claim);
      if (!span) continue;
      this.delivering.delete(claim);
      span.end();
    }
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown();
  }
}
