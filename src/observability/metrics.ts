// Prometheus metrics (prom-client). One registry per process, handed to the app and worker.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AttemptOutcome, ClaimedDelivery } from '../storage/index.js';
import type { WorkerObserver } from '../worker/pipeline.js';
import type { AttemptResult } from '../worker/sender.js';

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
  readonly eventsPublished = new Counter({
    name: 'rizler_events_published_total',
    help: 'Events accepted through POST /v1/events and /v1/events/batch.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'rizler_process_' });
  }

  workerObserver(
    eventTime: (claim: ClaimedDelivery) => number | null = () => null,
  ): WorkerObserver {
    return {
      attemptFinished: (claim: ClaimedDelivery, result: AttemptResult, outcome: AttemptOutcome) => {
        this.attempts.inc({ outcome: outcome.kind, trigger: claim.trigger });
        this.attemptDuration.observe(result.durationMs / 1000);
        const published = eventTime(claim);
        if (result.succeeded && published !== null) {
          this.deliveryLatency.observe((result.startedAt + result.durationMs - published) / 1000);
        }
      },
      inFlightChanged: (n: number) => this.inFlight.set(n),
    };
  }
}
