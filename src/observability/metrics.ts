// Prometheus metrics (prom-client). One registry per process, handed to the app and worker.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type {
  AttemptOutcome,
  ClaimedDelivery,
  QueueStats,
  QueueStatsOptions,
  Storage,
} from '../storage/index.js';
import { isOperationalEventType } from '../core/operational-catalogue.js';
import type { AttemptResult } from '../core/attempt.js';

export class Metrics {
  readonly registry = new Registry();
  readonly attempts = new Counter({
    name: 'rizler_delivery_attempts_total',
    help: 'Delivery attempts by outcome (succeeded, retry, failed, unchanged) and trigger.',
    labelNames: ['outcome', 'trigger'] as const,
    registers: [this.registry],
  });
  readonly attemptDuration = new Histogram({
    name: 'rizler_delivery_attempt_duration_seconds',
    help: 'Duration of one attempt, request to response read.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'rizler_delivery_latency_seconds',
    help: 'From event publication to the end of a successful attempt.',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60, 300, 3600, 21600],
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: 'rizler_delivery_in_flight',
    help: 'Attempts in flight in this process.',
    registers: [this.registry],
  });
  readonly operationalEventsSent = new Counter({
    name: 'rizler_operational_events_sent_total',
    help: 'Operational events (webhook.disabled, webhook.enabled, delivery.exhausted) delivered to a receiver, by type.',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly payloadBytesInFlight = new Gauge({
    name: 'rizler_delivery_payload_bytes_in_flight',
    help: 'Bytes of event bodies this process holds for its attempts in flight, each event once however many endpoints it goes to; RIZLER_MAX_BYTES_IN_FLIGHT bounds it.',
    registers: [this.registry],
  });
  readonly eventsPublished = new Counter({
    name: 'rizler_events_published_total',
    help: 'Events accepted through POST /v1/events and /v1/events/batch.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'rizler_process_' });
  }

  /**
   * Queue depth by state, the age of the longest-waiting due delivery, and endpoints by
   * state, read from the store at each scrape (a few index counts).
   */
  observeQueue(
    storage: Storage,
    options: QueueStatsOptions = {},
    now: () => number = Date.now,
  ): void {
    let pending: Promise<QueueStats | null> | null = null;
    let readAt = 0;
    // Three gauges share one read per scrape.
    const read = (): Promise<QueueStats | null> => {
      if (!pending || now() - readAt > 1000) {
        readAt = now();
        pending = storage.queueStats(readAt, options).catch(() => null);
      }
      return pending;
    };
    new Gauge({
      name: 'rizler_queue_depth',
      help: 'Pending deliveries by state: due (waiting for a worker), in_flight, scheduled (retry or rate limit), held (endpoint at its in-flight cap).',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const q = await read();
        if (!q) return;
        this.set({ state: 'due' }, q.due);
        this.set({ state: 'in_flight' }, q.inFlight);
        this.set({ state: 'scheduled' }, q.scheduled);
        this.set({ state: 'held' }, q.held);
      },
    });
    new Gauge({
      name: 'rizler_queue_oldest_due_age_seconds',
      help: 'How long the longest-waiting due delivery has been due; 0 when none is.',
      registers: [this.registry],
      async collect() {
        const q = await read();
        if (!q) return;
        this.set(q.oldestDueAt === null ? 0 : Math.max(0, (readAt - q.oldestDueAt) / 1000));
      },
    });
    new Gauge({
      name: 'rizler_queue_oldest_throttled_age_seconds',
      help: 'How long the longest-throttled delivery has been due while held back by its endpoint rate limit or in-flight cap; 0 when none is.',
      registers: [this.registry],
      async collect() {
        const q = await read();
        if (!q) return;
        this.set(
          q.oldestThrottledAt === null ? 0 : Math.max(0, (readAt - q.oldestThrottledAt) / 1000),
        );
      },
    });
    new Gauge({
      name: 'rizler_endpoints',
      help: 'Endpoints by state: enabled, or disabled:<reason> (manual, failing, gone).',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const q = await read();
        if (!q) return;
        this.reset();
        for (const [state, n] of Object.entries(q.endpoints)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'rizler_endpoints_throttled',
      help: 'Endpoints whose delivery the workers hold back to a few attempts at a time, by reason: timeouts (no answer in time), overloaded (429/502/503/504), errors (error answers in a row). 0 for every reason once they recover.',
      labelNames: ['reason'] as const,
      registers: [this.registry],
      async collect() {
        const q = await read();
        if (!q) return;
        for (const reason of ['timeouts', 'overloaded', 'errors']) {
          this.set({ reason }, q.throttled?.[reason] ?? 0);
        }
      },
    });
  }

  /**
   * One attempt finished: counted by outcome and trigger, and timed; a success also gives the
   * latency from its event's publication (`publishedAt`, null when unknown).
   */
  attemptFinished(
    claim: Pick<ClaimedDelivery, 'trigger' | 'eventType'>,
    result: AttemptResult,
    outcome: AttemptOutcome,
    publishedAt: number | null,
  ): void {
    this.attempts.inc({ outcome: outcome.kind, trigger: claim.trigger });
    if (result.succeeded && isOperationalEventType(claim.eventType)) {
      this.operationalEventsSent.inc({ type: claim.eventType });
    }
    this.attemptDuration.observe(result.durationMs / 1000);
    if (result.succeeded && publishedAt !== null) {
      this.deliveryLatency.observe((result.startedAt + result.durationMs - publishedAt) / 1000);
    }
  }
}
