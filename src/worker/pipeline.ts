// The delivery pipeline, top to bottom: claim → sign → send → record → schedule retry.
// One DeliveryWorker per process. It claims due deliveries in batches under a lease, sends
// each without waiting for the others, and records finished attempts in batched
// transactions. Caps live in the claim (per endpoint, across all workers) and here (per
// process), so a hanging endpoint can hold only its own slots. Event bodies are held once per
// event (payload-cache.ts) and bounded in bytes as well as in number: a claim near the budget
// leases only what fits, and a large body is read just before it is sent, not in the claim.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { nextRetry } from '../core/retry.js';
import type { SecretBox } from '../core/secret-box.js';
import type {
  AttemptOutcome,
  ClaimRequest,
  ClaimedDelivery,
  CompletedAttempt,
  Handoff,
  Storage,
} from '../storage/index.js';
import type { ThrottleSettings } from '../storage/throttle.js';
import type { Tracing } from '../observability/tracing.js';
import { BodyArena, PayloadCache, type Body } from './payload-cache.js';
import { attemptRecord, type AttemptResult, type AttemptSender } from '../core/attempt.js';
import { originOf } from '../core/origin.js';
import { storedHeaders } from '../core/request-headers.js';

export interface WorkerSettings {
  retryScheduleMs: number[];
  leaseMs: number;
  claimBatchSize: number;
  maxInFlight: number;
  maxInFlightPerEndpoint: number;
  /**
   * Attempts in flight in this process per origin of the endpoints' URLs
   * (RIZLER_MAX_IN_FLIGHT_PER_ORIGIN): its connections to an origin are pooled, so more would
   * only wait in the pool. Absent: no bound.
   */
  maxInFlightPerOrigin?: number;
  /**
   * The sender's connections to one origin (RIZLER_CONNECTIONS_PER_ORIGIN): with it, an origin
   * that answers slowly gets only the room that keeps those connections busy (originRoomFor).
   * Absent: every origin gets maxInFlightPerOrigin.
   */
  connectionsPerOrigin?: number;
  /**
   * Bytes of event bodies held for the attempts in flight, each event once: a claim leases
   * only what fits what is left (RIZLER_MAX_BYTES_IN_FLIGHT). Absent: no bound.
   */
  maxBytesInFlight?: number;
  /** Bodies larger than this are read just before they are sent (default INLINE_PAYLOAD_BYTES). */
  inlinePayloadBytes?: number;
  /** The adaptive per-endpoint concurrency the completions keep (storage/throttle.ts). */
  throttle?: ThrottleSettings;
  endpointRateLimit: number;
  autoDisableAfterMs: number;
  pollIntervalMs: number;
}

export interface WorkerObserver {
  attemptFinished?(claim: ClaimedDelivery, result: AttemptResult, outcome: AttemptOutcome): void;
  inFlightChanged?(inFlight: number): void;
  /** Bytes of event bodies held for attempts in flight, after every change. */
  payloadBytesChanged?(bytes: number): void;
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
 * A completion claims for the slots its attempts free, and at most this many more, whatever
 * the claim's batch size: cut to SQLite's 64, a completion that recorded 128 refilled half of
 * them (one endpoint, a burst published 1,000 events at a time: between two publishes its
 * 128 requests were answered, and only 64 went out again for the next). Where
 * endpoint caps bind rather than maxInFlight, a larger claim mostly holds back rows of the
 * endpoints it has just refilled, to be brought back by the next completion: a third write
 * for each of their deliveries. Bench, SQLite, one endpoint, six runs each: ratio to the
 * ceiling 0.44-0.56 (mean 0.48) when claiming the whole batch size, 0.48-0.56 (mean 0.52) with
 * this margin; ten endpoints unchanged (mean 0.63 both). Growth beyond it is the loop's job.
 */
export const REFILL_MARGIN = 8;

const MAX_RECORD_BATCH = 256;

/**
 * At most this many attempts in flight or answered and not yet recorded, the worker is quiet:
 * its slots are not what holds it back (a platform publishing one event a request). Then a
 * completion waits COALESCE_MS for the answers of the other attempts in flight to share its
 * transaction, and a publish does not record the finished attempts before its hand-off to free
 * their slots. One event a request (four publishers, SQLite), each transaction recorded 1.3
 * attempts; waiting 2 ms, 4.3-4.5, and the service's main thread spent 11-27 % less CPU an
 * event in five pairs. Under load the worker is not quiet and its completions go in the next
 * turn of the event loop, as they come.
 */
export const QUIET_IN_FLIGHT = 32;
const COALESCE_MS = 2;

/**
 * How often the claim loop looks while an origin is at RIZLER_MAX_IN_FLIGHT_PER_ORIGIN: a
 * delivery to another origin that falls due meanwhile waits at most this long, when no
 * completion's claim takes it first.
 */
const ORIGIN_FULL_POLL_MS = 50;

/**
 * Bodies up to this size come with the claim, as today's traffic does (most are under 2 KiB):
 * no read of their own. Larger ones (transcripts) are read after the claim, in one query for
 * the claim's events, and shared with the sending thread rather than copied per delivery.
 */
export const INLINE_PAYLOAD_BYTES = 8 * 1024;

/**
 * The largest body an event can have (SPEC §7, 256 KiB; events/routes.ts refuses more). A
 * claim whose every delivery could be that large and still fit the byte budget needs no
 * sizes: only near the budget does the claim read them (one more query, large bodies only).
 */
const LARGEST_PAYLOAD_BYTES = 256 * 1024;

/** Reads of late bodies that fail are tried again this many times before the attempt fails. */
const BODY_READ_TRIES = 5;

/**
 * How long the attempts waiting for an origin's connections should keep them busy while this
 * process's main thread cannot claim: a publish of 1,000 events to ten endpoints holds SQLite's
 * one writer 100-240 ms.
 */
const STALL_COVER_MS = 250;

/** The weight of an attempt's time in its origin's running average (originRoomFor). */
const ANSWER_WEIGHT = 0.2;
/** How many origins' answer times a process keeps; past it, it starts them all again. */
const ORIGINS_KEPT = 10_000;

/**
 * The attempts a process keeps in flight to one origin: its `connections`, and as many more as
 * they answer in STALL_COVER_MS at the origin's answer time (`answerMs`, from dispatch, the wait
 * for a connection included), at most `bound` (RIZLER_MAX_IN_FLIGHT_PER_ORIGIN). Until the
 * answer time is known, twice the connections: an origin's first answers come back within
 * milliseconds when it is fast, and a slow one's first claims would otherwise lease a whole
 * bound that waits in its pool for several rounds. An origin answering in 5 ms gets the whole
 * bound, one answering in 2 s its connections and 8: more would only wait in its pool, each
 * attempt holding a lease, a timer and its objects for seconds. (Ten endpoints answering in 2 s,
 * each on its origin, with 256 leased each, the per-endpoint default: another account's p99
 * read 30-169 ms beside them, 19-90 with 128; bench, noisy neighbour, session 46.)
 */
export function originRoomFor(
  bound: number,
  connections: number | undefined,
  answerMs: number | undefined,
): number {
  if (connections === undefined) return bound;
  if (answerMs === undefined) return Math.min(bound, 2 * connections);
  const busy = connections + Math.ceil((connections * STALL_COVER_MS) / Math.max(1, answerMs));
  return Math.min(bound, busy);
}

export class DeliveryWorker {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly workerId = randomBytes(6).toString('hex');
  private claimSeq = 0;
  private running = false;
  private inFlight = 0;
  /** Slots promised to claims under way, so two claims never overfill maxInFlight. */
  private claiming = 0;
  /** Body bytes promised to claims under way, likewise for maxBytesInFlight. */
  private claimingBytes = 0;
  private readonly payloads: PayloadCache;
  /** Attempts in flight per origin (core/origin.ts), for maxInFlightPerOrigin. */
  private readonly originInFlight = new Map<string, number>();
  /** Each origin's running average of its attempts' times (ms); forgotten past ORIGINS_KEPT. */
  private readonly originAnswerMs = new Map<string, number>();
  private completions: CompletedAttempt[] = [];
  private flushing: Promise<void> | null = null;
  private flushScheduled = false;
  /** The wait of a quiet worker's completions (scheduleFlush), while they wait. */
  private flushTimer: NodeJS.Timeout | null = null;
  private wakeRequested = false;
  /** The loop found no room while a claim under way held the byte budget (room). */
  private loopWaitsForClaim = false;
  private wakeUp: (() => void) | null = null;
  private loopDone: Promise<void> | null = null;
  private unsubscribe: (() => void) | null = null;
  private idle: (() => void) | null = null;

  constructor(private readonly deps: WorkerDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    // The arena has room for the budget and a quarter more: bodies are counted in bytes but
    // take whole pages, and a free run may be too short for the next one.
    const max = deps.settings.maxBytesInFlight;
    this.payloads = new PayloadCache(
      max === undefined ? null : new BodyArena(max + max / 4),
      (bytes) => deps.observer?.payloadBytesChanged?.(bytes),
    );
  }

  get activeAttempts(): number {
    return this.inFlight;
  }

  /** The bodies held for the attempts in flight (tests read its counts). */
  get payloadCache(): PayloadCache {
    return this.payloads;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.deps.storage.onWake((due) => {
      if (due) this.wake();
    });
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
      // Held back by a claim under way (room): its release wakes the loop. Set at every pass,
      // so a pass that found room is not woken later for nothing.
      this.loopWaitsForClaim = limit <= 0 && this.claimingBytes > 0;
      if (limit <= 0) {
        await this.sleep(settings.pollIntervalMs);
        continue;
      }
      let claimed: ClaimedDelivery[];
      const claim = this.reserve(limit);
      const asked = claim.request.limit;
      try {
        claimed = await storage.claimDue(claim.request);
        failures = 0;
      } catch (err) {
        failures++;
        logger.warn({ err }, 'claiming deliveries failed; retrying');
        await this.sleep(Math.min(5000, 100 * 2 ** failures));
        continue;
      } finally {
        claim.release();
      }
      this.admit(claimed);
      if (claimed.length > 0 && claimed.length === asked) {
        // A full batch: more may be due. Yield so responses and completions get the loop.
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      // An origin at its bound has attempts in flight, and each completion of theirs claims
      // for every origin, in turn; its backlog is due now, so the loop would find it again
      // every few ms. It looks at most every ORIGIN_FULL_POLL_MS, unless woken.
      const wait = await this.untilNextDue();
      await this.sleep(this.anyOriginFull() ? Math.max(wait, ORIGIN_FULL_POLL_MS) : wait);
    }
  }

  /**
   * What a publish of this process may lease for this worker at once (PublishRequest.handoff),
   * so that its deliveries go out without a claim of their own: a claim's worth of the room
   * left, promised to the publish until it hands over what it leased. None while stopped or
   * full.
   */
  offer(bodyBytes?: number): Handoff | undefined {
    if (!this.running) return undefined;
    // A turn of the event loop that takes many publishes reads the sending thread's answers,
    // and records them, only after all of them: twenty batches of 1,000 events at once held a
    // busy endpoint's slots for the whole of their ingest, 0.2-0.3 s in which nothing was
    // sent. So each publish records, with their refill, the attempts that finished before it,
    // and takes in the answers that have come: those are recorded as soon as the publish's
    // own task is done, once their attempts have seen them (a microtask after theirs). A quiet
    // worker (QUIET_IN_FLIGHT) has the slots to spare: it takes the answers in and records them
    // itself, a few together.
    const answered = this.deps.sender.collect?.() ?? 0;
    if (!this.quiet()) {
      if (this.completions.length > 0 && !this.flushing) void this.flush();
      if (answered > 0) queueMicrotask(() => void this.flush());
    }
    let claim: { request: ClaimRequest; release(): void } | undefined;
    if (bodyBytes === undefined) {
      const limit = this.room();
      if (limit > 0) claim = this.reserve(limit);
    } else {
      claim = this.reserveKnown(bodyBytes);
    }
    if (!claim) return undefined;
    return {
      request: claim.request,
      take: (leased) => {
        claim.release();
        this.admit(leased);
      },
      release: claim.release,
    };
  }

  /**
   * Promises up to `limit` slots, and the body bytes they may bring (byteBudget), to a claim
   * under way, so that two claims never overfill maxInFlight or the byte budget; `release`
   * gives them back, once however often it is called. The request's `limit` is what was
   * promised: byteBudget may have cut it.
   */
  private reserve(
    limit: number,
    budget = this.byteBudget(limit),
  ): { request: ClaimRequest; release(): void } {
    let promised = budget.limit;
    let bytes = budget.reserve;
    this.claiming += promised;
    this.claimingBytes += bytes;
    let held = true;
    const request = this.claimRequest(promised, budget.bound);
    // The claim will lease no more than `most`: the slots and bytes beyond them go back.
    request.found = (most) => {
      if (!held || most >= promised) return;
      const keep = Math.min(bytes, most * LARGEST_PAYLOAD_BYTES);
      this.claiming -= promised - most;
      this.claimingBytes -= bytes - keep;
      promised = most;
      bytes = keep;
    };
    return {
      request,
      release: () => {
        if (!held) return;
        held = false;
        this.claiming -= promised;
        this.claimingBytes -= bytes;
        if (this.loopWaitsForClaim && this.claimingBytes === 0) {
          this.loopWaitsForClaim = false;
          this.wake();
        }
      },
    };
  }

  /**
   * The reservation of a publish whose event bodies are known (`bytes`, each event once: its
   * deliveries share one body): the slots a claim would get, and those bytes, where a claim
   * holds the largest body's for each slot. A publish that held that worst case (PostgreSQL:
   * 256 slots at 256 KiB, the whole default budget) left no room, for as long as its
   * statements ran, to the publishes and completions beside it. Past what is left of the
   * budget, the hand-off is bounded by what is left.
   */
  private reserveKnown(bytes: number): { request: ClaimRequest; release(): void } | undefined {
    const slots = this.slots();
    if (slots <= 0) return undefined;
    const max = this.deps.settings.maxBytesInFlight;
    if (max === undefined)
      return this.reserve(slots, { limit: slots, reserve: 0, bound: undefined });
    const left = max - this.payloads.bytes - this.claimingBytes;
    if (left <= 0) return undefined;
    return this.reserve(
      slots,
      bytes <= left
        ? { limit: slots, reserve: bytes, bound: undefined }
        : { limit: slots, reserve: left, bound: left },
    );
  }

  /**
   * How many deliveries a claim may lease now: the batch size, within maxInFlight; none while
   * the byte budget is spent, nor while a claim under way holds all of it but less than the
   * largest body: the bytes freed since that claim started (an attempt just answered) wait for
   * the next claim, rather than making this one read its bodies' sizes for them. A test caught
   * a claim beside another doing that, with a bound of 1,173 bytes. The next completion's
   * refill takes them, or the loop, which the claim under way wakes when it is done (reserve).
   */
  private room(batch = this.deps.settings.claimBatchSize): number {
    const { settings } = this.deps;
    const left = (settings.maxBytesInFlight ?? Infinity) - this.payloads.bytes - this.claimingBytes;
    if (left <= 0 || (this.claimingBytes > 0 && left < LARGEST_PAYLOAD_BYTES)) return 0;
    return this.slots(batch);
  }

  /**
   * `batch` (the claim's batch size unless told), within what maxInFlight leaves beside the
   * attempts and claims under way.
   */
  private slots(batch = this.deps.settings.claimBatchSize): number {
    const { settings } = this.deps;
    return Math.min(batch, settings.maxInFlight - this.inFlight - this.claiming);
  }

  /**
   * The body bytes a claim of `limit` may bring: `reserve` is promised to it while it runs;
   * `bound` is the claim's maxPayloadBytes. A claim whose every delivery could have the largest
   * body and still fit what is left needs no bound, so it reads no sizes. When only part of
   * `limit` fits that way, but at least half, the claim is cut to that part instead (`limit`):
   * the sizes are a query of their own in the claim's transaction, and a claim of PostgreSQL's
   * batch (256 × 256 KiB, the whole default budget) needed them whenever any body was held.
   */
  private byteBudget(limit: number): {
    limit: number;
    reserve: number;
    bound: number | undefined;
  } {
    const max = this.deps.settings.maxBytesInFlight;
    if (max === undefined || limit <= 0) return { limit, reserve: 0, bound: undefined };
    const left = Math.max(0, max - this.payloads.bytes - this.claimingBytes);
    const fits = Math.floor(left / LARGEST_PAYLOAD_BYTES);
    if (fits >= limit) return { limit, reserve: limit * LARGEST_PAYLOAD_BYTES, bound: undefined };
    // Either way, what is left is promised to this claim, as it was when every such claim read
    // sizes: claims of this process do not run side by side near the budget. Promising only
    // the cut claim's share let the completions' refills claim beside the loop's, on the same
    // endpoints: PostgreSQL, bench, 116-123 claims of 20,000 deliveries instead of 82-83, and
    // half of them short, each followed by nextDueAt.
    if (fits * 2 >= limit) return { limit: fits, reserve: left, bound: undefined };
    return { limit, reserve: left, bound: left };
  }

  private claimRequest(limit: number, maxPayloadBytes: number | undefined): ClaimRequest {
    const { settings } = this.deps;
    const request: ClaimRequest = {
      leaseToken: `${this.workerId}:${++this.claimSeq}`,
      limit,
      leaseMs: settings.leaseMs,
      now: this.now(),
      maxInFlightPerEndpoint: settings.maxInFlightPerEndpoint,
      defaultRateLimitPerMinute: settings.endpointRateLimit,
      inlinePayloadBytes: settings.inlinePayloadBytes ?? INLINE_PAYLOAD_BYTES,
    };
    if (maxPayloadBytes !== undefined) request.maxPayloadBytes = maxPayloadBytes;
    const perOrigin = settings.maxInFlightPerOrigin;
    if (perOrigin !== undefined) {
      request.originRoom = (origin) =>
        this.originBound(origin, perOrigin) - (this.originInFlight.get(origin) ?? 0);
    }
    return request;
  }

  /** Counts an attempt to the URL's origin; returns the origin, or null without a bound. */
  private originStarted(url: string): string | null {
    if (this.deps.settings.maxInFlightPerOrigin === undefined) return null;
    const origin = originOf(url);
    this.originInFlight.set(origin, (this.originInFlight.get(origin) ?? 0) + 1);
    return origin;
  }

  private originFinished(origin: string | null): void {
    if (origin === null) return;
    const n = this.originInFlight.get(origin)! - 1;
    if (n === 0) this.originInFlight.delete(origin);
    else this.originInFlight.set(origin, n);
  }

  /** Adds an attempt's time (ms) to its origin's running average (originRoomFor). */
  private originAnswered(origin: string | null, durationMs: number): void {
    if (origin === null) return;
    const average = this.originAnswerMs.get(origin);
    if (average === undefined && this.originAnswerMs.size >= ORIGINS_KEPT) {
      this.originAnswerMs.clear();
    }
    this.originAnswerMs.set(
      origin,
      average === undefined ? durationMs : average + ANSWER_WEIGHT * (durationMs - average),
    );
  }

  /** An origin's room in this process (originRoomFor), `bound` being maxInFlightPerOrigin. */
  private originBound(origin: string, bound: number): number {
    const { connectionsPerOrigin } = this.deps.settings;
    return originRoomFor(bound, connectionsPerOrigin, this.originAnswerMs.get(origin));
  }

  /** Whether some origin is at its room: a short claim may have been cut by it. */
  private anyOriginFull(): boolean {
    const bound = this.deps.settings.maxInFlightPerOrigin;
    if (bound === undefined) return false;
    for (const [origin, n] of this.originInFlight) {
      if (n >= this.originBound(origin, bound)) return true;
    }
    return false;
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

  /**
   * Starts the attempts a claim leased. Each takes a reference to its event's body (one copy
   * per event, however many endpoints); the bodies the claim left out are read in one query
   * for all of them, and each attempt starts sending as soon as its own is there.
   */
  private admit(claimed: ClaimedDelivery[]): void {
    const missing = new Set<string>();
    for (const claim of claimed) {
      this.payloads.retain(claim.eventId, claim.payloadBytes, claim.payload);
      // The cache holds the body now; the claim lives on until its attempt is recorded.
      claim.payload = null;
      if (!this.payloads.has(claim.eventId)) missing.add(claim.eventId);
    }
    if (missing.size > 0) {
      const read = this.readBodies([...missing]);
      for (const eventId of missing) {
        this.payloads.fill(
          eventId,
          read.then((texts) => {
            const text = texts.get(eventId);
            if (text === undefined) throw new Error('the event is no longer stored');
            return text;
          }),
        );
      }
      // Each attempt awaits its own body; this only keeps a failed read from going unheard.
      read.catch(() => {});
    }
    for (const claim of claimed) this.attempt(claim);
  }

  /** The bodies of these events; a failing read is tried again, briefly. */
  private async readBodies(eventIds: string[]): Promise<Map<string, string>> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.deps.storage.readPayloads(eventIds);
      } catch (err) {
        if (tries >= BODY_READ_TRIES) throw err;
        this.deps.logger.warn({ err, events: eventIds.length }, 'reading bodies failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** tries));
      }
    }
  }

  private attempt(claim: ClaimedDelivery): void {
    this.inFlight++;
    const origin = this.originStarted(claim.url);
    this.deps.observer?.inFlightChanged?.(this.inFlight);
    void this.send(claim, origin).finally(() => {
      this.inFlight--;
      this.originFinished(origin);
      this.payloads.release(claim.eventId);
      this.deps.observer?.inFlightChanged?.(this.inFlight);
      if (this.inFlight === 0) this.idle?.();
    });
  }

  /** Sends the attempt and queues its record; `origin`: its origin, counted (originStarted). */
  private async send(claim: ClaimedDelivery, origin: string | null): Promise<void> {
    const { sender, secrets, settings, logger } = this.deps;
    const traced = this.deps.tracing?.attempt(claim);
    let result: AttemptResult;
    try {
      let payload: Body | Promise<Body> | null = this.payloads.body(claim.eventId);
      if (payload === null) throw new Error('the event body was not read');
      payload = await payload;
      result = await sender.send({
        url: claim.url,
        eventId: claim.eventId,
        eventType: claim.eventType,
        deliveryId: claim.deliveryId,
        attempt: claim.attempt,
        payload,
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
        requestHeaders: storedHeaders({}),
      };
    }
    const outcome = decideOutcome(claim, result, settings.retryScheduleMs, this.now(), this.random);
    this.deps.observer?.attemptFinished?.(claim, result, outcome);
    traced?.finished(result, outcome);
    this.completions.push({
      claim,
      outcome,
      endpointGone: result.statusCode === 410,
      attempt: attemptRecord(
        {
          deliveryId: claim.deliveryId,
          attempt: claim.attempt,
          trigger: claim.trigger,
          url: claim.url,
        },
        result,
      ),
    });
    this.originAnswered(origin, result.durationMs);
    // The next of its key waits for this one's record.
    this.scheduleFlush(claim.ordered);
  }

  /**
   * Completions gathered in one turn of the event loop go to the store in one transaction; when
   * the worker is quiet and other attempts are on the wire, those gathered in COALESCE_MS,
   * unless one is `urgent` (in a key's order, whose next waits for its record).
   */
  private scheduleFlush(urgent = false): void {
    const wait = !urgent && this.quiet() && this.inFlight > this.completions.length;
    if (this.flushScheduled && (wait || this.flushTimer === null)) return;
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.flushScheduled = true;
    const flush = () => {
      this.flushScheduled = false;
      this.flushTimer = null;
      void this.flush();
    };
    if (wait) this.flushTimer = setTimeout(flush, COALESCE_MS);
    else setImmediate(flush);
  }

  /** Few attempts in flight or answered and not yet recorded (QUIET_IN_FLIGHT). */
  private quiet(): boolean {
    return this.inFlight + this.completions.length <= QUIET_IN_FLIGHT;
  }

  /**
   * Records the batch and, in the same call, leases deliveries for the slots it frees and
   * starts them. Returns how many it asked for and how many it got.
   */
  private async recordAndRefill(
    batch: CompletedAttempt[],
  ): Promise<{ limit: number; claimed: number }> {
    const limit = this.running ? Math.max(0, this.room(batch.length + REFILL_MARGIN)) : 0;
    const claim = limit > 0 ? this.reserve(limit) : undefined;
    try {
      const claimed = await this.deps.storage.completeAttempts(
        batch,
        {
          now: this.now(),
          autoDisableAfterMs: this.deps.settings.autoDisableAfterMs,
          throttle: this.deps.settings.throttle,
        },
        claim?.request,
      );
      this.admit(claimed);
      return { limit: claim?.request.limit ?? 0, claimed: claimed.length };
    } finally {
      claim?.release();
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
    if (this.completions.length > 0) this.scheduleFlush(true);
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
