// The delivery side of a process, assembled from the settings: the SSRF-checked HTTP pool and
// sender, the worker that claims, sends and records, and the retention purge.
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { idTime } from '../core/ids.js';
import type { AttemptSender } from '../core/attempt.js';
import type { SecretBox } from '../core/secret-box.js';
import type { Metrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/tracing.js';
import type { Storage } from '../storage/index.js';
import { createDeliveryDispatcher } from './dispatcher.js';
import { DeliveryWorker } from './pipeline.js';
import { RetentionJob } from './retention.js';
import { Sender } from './sender.js';

/** The HTTP pool (every connection checked against the address guard) and the sender. */
export function buildSender(config: Config) {
  const dispatcher = createDeliveryDispatcher({
    allowPrivateNetworks: config.allowPrivateNetworks,
    allowedNetworks: config.allowedNetworks,
    connectionsPerOrigin: config.connectionsPerOrigin,
  });
  const sender = new Sender({ dispatcher, timeoutMs: config.deliveryTimeoutMs });
  return { dispatcher, sender };
}

/**
 * The worker and the retention purge. `sender` sends the attempts (see ThreadedSender);
 * `secrets` opens the endpoints' sealed secrets, the process's one SecretBox.
 */
export function buildDelivery(
  config: Config,
  storage: Storage,
  logger: Logger,
  metrics: Metrics,
  sender: AttemptSender,
  secrets: SecretBox,
  tracing?: Tracing,
) {
  const worker = new DeliveryWorker({
    tracing,
    storage,
    sender,
    secrets,
    logger: logger.child({ component: 'worker' }),
    observer: {
      attemptFinished: (claim, result, outcome) =>
        metrics.attemptFinished(claim, result, outcome, idTime(claim.eventId)),
      inFlightChanged: (n) => metrics.inFlight.set(n),
      payloadBytesChanged: (bytes) => metrics.payloadBytesInFlight.set(bytes),
    },
    settings: {
      retryScheduleMs: config.retryScheduleMs,
      leaseMs: config.leaseMs,
      claimBatchSize: config.claimBatchSize,
      maxInFlight: config.maxInFlight,
      maxInFlightPerEndpoint: config.maxInFlightPerEndpoint,
      maxInFlightPerOrigin: config.maxInFlightPerOrigin,
      connectionsPerOrigin: config.connectionsPerOrigin,
      maxBytesInFlight: config.maxBytesInFlight,
      throttle: {
        maxConcurrency: config.maxInFlightPerEndpoint,
        probes: config.endpointProbes,
        errorStreak: config.throttleErrorStreak,
      },
      endpointRateLimit: config.endpointRateLimit,
      autoDisableAfterMs: config.autoDisableAfterMs,
      pollIntervalMs: config.pollIntervalMs,
    },
  });
  const retention = new RetentionJob(storage, { retentionDays: config.retentionDays }, logger);
  return { worker, retention };
}
