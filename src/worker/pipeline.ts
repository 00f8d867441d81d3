// The delivery pipeline, top to bottom: claim → sign → send → record → schedule retry.
// One DeliveryWorker per process. It claims due deliveries in batches under a lease, sends
// each without waiting for the others, and records finished attempts in batched
// transactions. Caps live in the claim (per endpoint, across all workers) and here (per
// process), so a hanging endpoint can hold only its own slots.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { nextRetry } from '../core/retry.js';
import type { SecretBox } from '../core/secret-box.js';
import type {
  AttemptOutcome,
  ClaimRequest,
  ClaimedDelivery,
  CompletedAttempt,
  Storage,
} from '../storage/index.js';
import type { ThrottleSettings } from '../storage/throttle.js';
import type { Tracing } from '../observability/tracing.js';
import type { AttemptResult, AttemptSender } from './sender.js';

export interface WorkerSettings {
  retryScheduleMs: number[];
  leaseMs: number;
  claimBatchSize: number;
  maxInFlight: number;
  maxInFlightPerEndpoint: number;
  /** Bytes of event bodies in flight; no claim starts while they are spent. */
  maxBytesInFlight?: number;
  /** The adaptive per-endpoint concurrency the completions keep (storage/throttle.ts). */
  throttle?: ThrottleSettings;
  endpointRateLimit: number;
  autoDisableAfterMs: number;
  pollIntervalMs: number;
}

export interface WorkerObserver {
  attemptFinished?(claim: ClaimedDelivery, result: AttemptResult, outcome: AttemptOutcome): void;
  inFlightChanged?(inFlight: number): void;
}

export interface WorkerDeps {
  storage: Storage;
  sender: AttemptSender;
  secrets: SecretBox;
  settings: WorkerSettings;
  logger: Logger;
  observer?: WorkerObserver;
  /** Spans of claim → record and of each attempt, and the attempt's traceparent (SPEC §11). */
  tracing?: Tracing;
  now?: () => number;
  random?: () => number;
}

/** What a finished attempt means for its delivery (pure). */
export function decideOutcome(
  claim: Pick<ClaimedDelivery, 'trigger' | 'autoAttempts'>,
  result: Pick<AttemptResult, 'succeeded' | 'retryAfterMs'>,
  schedule: readonly number[],
  now: number,
  random: () => number = Math.random,
): AttemptOutcome {
  if (result.succeeded) return { kind: 'succeeded' };
  // A manual retry never restarts automatic retries (SPEC §4).
  if (claim.trigger === 'manual') return { kind: 'unchanged' };
  const decision = nextRetry(schedule, claim.autoAttempts + 1, result.retryAfterMs, random);
  if (decision.kind === 'exhausted') return { kind: 'failed' };
  return { kind: 'retry', nextAttemptAt: now + decision.delayMs };
}

/**
 * A completion claims for the slots its attempts free, and at most this many more. Where
 * endpoint caps bind rather than maxInFlight, a larger claim mostly holds back rows of the
 * endpoints it has just refilled, to be brought back by the next completion: a third write
 * for each of their deliveries. Bench, SQLite, one endpoint, six runs each: ratio to the
 * ceiling 0.44-0.56 (mean 0.48) when claiming the whole batch size, 0.48-0.56 (mean 0.52) with
 * this margin; ten endpoints unchanged (mean 0.63 both). Growth beyond it is the loop's job.
 */
const REFILL_MARGIN = 8;

const MAX_RECORD_BATCH = 256;

export class DeliveryWorker {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly workerId = randomBytes(6).toString('hex');
  private claimSeq = 0;
  private running = false;
  private inFlight = 0;
  private bytesInFlight = 0;
  /** Slots promised to claims under way, so two claims never overfill maxInFlight. */
  private claiming = 0;
  private completions: CompletedAttempt[] = [];
  private flushing: Promise<void> | null = null;
  private flushScheduled = false;
  private wakeRequested = false;
  private wakeUp: (() => void) | null = null;
  private loopDone: Promise<void> | null = null;
  private unsubscribe: (() => void) | null = null;
  private idle: (() => void) | null = null;

  constructor(private readonly deps: WorkerDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
  }

  get activeAttempts(): number {
    return this.inFlight;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.deps.storage.onWake(() => this.wake());
    this.loopDone = this.loop();
  }

  /** Stops claiming, lets in-flight attempts finish (each is bounded by its timeout), records them. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe?.();
    this.wake();
    await this.loopDone;
    // A completion under way may still hand out what it claimed before the stop: wait until
    // nothing is in flight and everything finished is recorded.
    for (;;) {
      if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
      await this.flush();
      if (this.inFlight === 0 && this.completions.length === 0) return;
    }
  }

  /** Claims now rather than at the next alarm: deliveries may have become due elsewhere. */
  wake(): void {
    this.wakeRequested = true;
    const resolve = this.wakeUp;
    this.wakeUp = null;
    resolve?.();
  }

  private async sleep(ms: number): Promise<void> {
    if (this.wakeRequested) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async loop(): Promise<void> {
    const { settings, storage, logger } = this.deps;
    let failures = 0;
    while (this.running) {
      this.wakeRequested = false;
      const limit = this.room();
      if (limit <= 0) {
        await this.sleep(settings.pollIntervalMs);
        continue;
      }
      let claimed: ClaimedDelivery[];
      this.claiming += limit;
      try {
        claimed = await storage.claimDue(this.claimRequest(limit));
        failures = 0;
      } catch (err) {
        failures++;
        logger.warn({ err }, 'claiming deliveries failed; retrying');
        await this.sleep(Math.min(5000, 100 * 2 ** failures));
        continue;
      } finally {
        this.claiming -= limit;
      }
      for (const claim of claimed) this.attempt(claim);
      if (claimed.length > 0 && claimed.length === limit) {
        // A full batch: more may be due. Yield so responses and completions get the loop.
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      await this.sleep(await this.untilNextDue());
    }
  }

  /** How many deliveries a claim may lease now: the batch size, within maxInFlight. */
  private room(): number {
    const { settings } = this.deps;
    if (this.bytesInFlight >= (settings.maxBytesInFlight ?? Infinity)) return 0;
    return Math.min(settings.claimBatchSize, settings.maxInFlight - this.inFlight - this.claiming);
  }

  private claimRequest(limit: number): ClaimRequest {
    const { settings } = this.deps;
    return {
      leaseToken: `${this.workerId}:${++this.claimSeq}`,
      limit,
      leaseMs: settings.leaseMs,
      now: this.now(),
      maxInFlightPerEndpoint: settings.maxInFlightPerEndpoint,
      defaultRateLimitPerMinute: settings.endpointRateLimit,
    };
  }

  /** Sleep until the earliest scheduled delivery, but never longer than the poll interval. */
  private async untilNextDue(): Promise<number> {
    const poll = this.deps.settings.pollIntervalMs;
    try {
      const next = await this.deps.storage.nextDueAt();
      if (next === null) return poll;
      return Math.max(5, Math.min(poll, next - this.now()));
    } catch {
      return poll;
    }
  }

  private attempt(claim: ClaimedDelivery): void {
    this.inFlight++;
    // UTF-16 code units: what the string costs in memory, near enough.
    const bytes = claim.payload.length;
    this.bytesInFlight += bytes;
    this.deps.observer?.inFlightChanged?.(this.inFlight);
    void this.send(claim).finally(() => {
      this.inFlight--;
      this.bytesInFlight -= bytes;
      this.deps.observer?.inFlightChanged?.(this.inFlight);
      if (this.inFlight === 0) this.idle?.();
    });
  }

  private async send(claim: ClaimedDelivery): Promise<void> {
    const { sender, secrets, settings, logger } = this.deps;
    const traced = this.deps.tracing?.attempt(claim);
    let result: AttemptResult;
    try {
      result = await sender.send({
        url: claim.url,
        eventId: claim.eventId,
        eventType: claim.eventType,
        deliveryId: claim.deliveryId,
        attempt: claim.attempt,
        payload: claim.payload,
        orderingKey: claim.orderingKey,
        secrets: claim.sealedSecrets.map((s) => secrets.open(s)),
        headers: claim.headers,
        traceparent: traced?.traceparent,
      });
    } catch (err) {
      // Only a programming error or an unreadable secret gets here; record it as a failure
      // so the delivery is retried rather than stuck under its lease.
      logger.error({ err, delivery: claim.deliveryId }, 'attempt could not be made');
      result = {
        succeeded: false,
        startedAt: this.now(),
        durationMs: 0,
        statusCode: null,
        responseBody: null,
        error: 'the attempt could not be prepared: ' + (err as Error).message,
        retryAfterMs: null,
        requestHeaders: {},
      };
    }
    const outcome = decideOutcome(claim, result, settings.retryScheduleMs, this.now(), this.random);
    this.deps.observer?.attemptFinished?.(claim, result, outcome);
    traced?.finished(result, outcome);
    this.completions.push({
      claim,
      outcome,
      endpointGone: result.statusCode === 410,
      attempt: {
        deliveryId: claim.deliveryId,
        attempt: claim.attempt,
        trigger: claim.trigger,
        url: claim.url,
        startedAt: result.startedAt,
        durationMs: result.durationMs,
        statusCode: result.statusCode,
        responseBody: result.responseBody,
        error: result.error,
        requestHeaders: result.requestHeaders,
      },
    });
    this.scheduleFlush();
  }

  /** Completions gathered in one turn of the event loop go to the store in one transaction. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /**
   * Records the batch and, in the same call, leases deliveries for the slots it frees and
   * starts them. Returns how many it asked for and how many it got.
   */
  private async recordAndRefill(
    batch: CompletedAttempt[],
  ): Promise<{ limit: number; claimed: number }> {
    const limit = this.running
      ? Math.max(0, Math.min(this.room(), batch.length + REFILL_MARGIN))
      : 0;
    this.claiming += limit;
    try {
      const claimed = await this.deps.storage.completeAttempts(
        batch,
        {
          now: this.now(),
          autoDisableAfterMs: this.deps.settings.autoDisableAfterMs,
          throttle: this.deps.settings.throttle,
        },
        limit > 0 ? this.claimRequest(limit) : undefined,
      );
      for (const claim of claimed) this.attempt(claim);
      return { limit, claimed: claimed.length };
    } finally {
      this.claiming -= limit;
    }
  }

  /**
   * Records finished attempts. Attempts that finish while a write is under way are written by
   * the next one, so under load one transaction carries many attempts. The same transaction
   * claims deliveries for the slots they free, so under load the claim loop mostly sleeps.
   */
  private async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.completions.length === 0) return;
    // At most MAX_RECORD_BATCH per transaction, the rest in the next turn: a wave of 1,280
    // answers at once (ten endpoints answering in 2 s) was one SQLite transaction that held
    // this thread, and every other account's attempt with it, for most of a second.
    const batch = this.completions.splice(0, MAX_RECORD_BATCH);
    if (this.completions.length > 0) this.scheduleFlush();
    this.flushing = (async () => {
      for (let tries = 0; ; tries++) {
        try {
          const { limit, claimed } = await this.recordAndRefill(batch);
          this.deps.tracing?.recorded(batch.map((c) => c.claim));
          // The loop claims again after a full batch (more may be due), once there is room
          // if there was none, and after a retry was scheduled (its alarm may be earlier).
          const retried = batch.some((c) => c.outcome.kind === 'retry');
          if (this.running && (limit <= 0 || claimed === limit || retried)) this.wake();
          return;
        } catch (err) {
          // The lease keeps the deliveries safe meanwhile: if we never get through, another
          // worker sends them again after it expires (at-least-once).
          this.deps.logger.warn(
            { err, attempts: batch.length },
            'recording attempts failed; retrying',
          );
          if (tries >= 50) {
            this.deps.logger.error({ attempts: batch.length }, 'giving up recording attempts');
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** tries)));
        }
      }
    })();
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
    }
  }
}
