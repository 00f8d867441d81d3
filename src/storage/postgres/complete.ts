// The PostgreSQL engine's completion: records a batch of finished attempts (each delivery's
// outcome, its rollups, the next of a key's order, exhausted-delivery events), then, on the
// endpoints it must change, their health (auto-disable) and adaptive limit; the
// next claim, when the worker asks for one, is a transaction of its own.
import {
  type ClaimRequest,
  type ClaimedDelivery,
  type CompletedAttempt,
  type CompletionPolicy,
  type DeliveryStatus,
  type WebhookStatus,
} from '../types.js';
import {
  deliveryExhausted,
  isOperationalEventType,
  webhookDisabled,
} from '../operational-events.js';
import { num, numOrNull, strOrNull, type Row } from '../rows.js';
import { RollupBatch } from '../rollups.js';
import {
  applyOutcomes,
  mayDisableAsFailing,
  succeededSinceSql,
  type HealthOutcome,
} from '../health.js';
import { DEFAULT_THROTTLE, throttleSignal, type ThrottleSignal } from '../throttle.js';
import { pairKey, releasesOf, type FinishedDelivery, type OrderState } from '../ordering.js';
import { webhookAutoDisabled } from '../audit-records.js';
import { attemptColumns, insertAttempts } from './attempts.js';
import { retryable, undone } from './errors.js';
import { writeAudit } from './audit.js';
import { recordThrottle, type PostgresClaim } from './claim.js';
import { PostgresPart, type PostgresHandle, type Query } from './connection.js';
import type { PostgresOperational } from './operational.js';
import { releaseNext } from './ordering.js';
import { rollupColumns, upsertRollups, writeRollups } from './rollups.js';
import { parkEndpoints } from './webhooks.js';

/** RECORD's `expected`: every attempt kept ($30 of them), every lease held ($31 deliveries). */
const EXPECTED =
  '(SELECT count(*) FROM stored) = $30::bigint AND (SELECT count(*) FROM finished) = $31::bigint';

/**
 * A completion's writes in one statement: the attempts ($1-$11, attemptColumns), and for each
 * delivery whose lease still holds (its queue row taken out where the token is ours) its outcome
 * ($12 the time, $13-$21 one entry per delivery): the delivery's row, and its queue row, put back
 * due when it has more to do, out of the queue when it is done, and back in it, not due, while
 * pending with nothing scheduled (a manual attempt on one waiting in a key's order): every pending
 * delivery has its row. Beside them, the endpoints' state ($22), read on the same snapshot (so
 * without what this statement made due), and the rollups ($23-$29, rollupColumns) as they are when
 * every attempt is kept ($30 of them) and every lease held ($31 deliveries): only then (`expected`)
 * are they written here, and otherwise the caller writes what it finds. One round trip where there
 * were five: at 200 events/s a completion carries a delivery or two (2.2 on average in the bench's
 * latency row), and each round trip wakes a backend on a busy machine.
 * Its CTEs, which RECORD and RECORD_ALONE end differently.
 */
const RECORDED = `
  WITH batch AS (
    SELECT * FROM unnest($13::text[], $14::text[], $15::text[], $16::text[], $17::bigint[],
        $18::int[], $19::bigint[], $20::text[], $21::bigint[])
      AS u(id, token, kind, trigger, next_at, status_code, duration_ms, error, started_at)),
  -- our leases, taken out of the queue: the rows whose lease still holds, found by the queue's
  -- primary key (joined to the batch alone, the planner read the whole queue when its
  -- statistics found it small), each with its outcome. A delivery with more to do is put back
  -- (\`again\`). Where the rows were locked here and then deleted or updated, and the attempts
  -- looked each delivery up (attempts.ts), a completion of 100 (bench/storage-loop.ts) wrote
  -- 74,354 WAL bytes and read 2,396 buffers; now 68,954 and 1,766, in the same time within the
  -- machine's noise. \`finished\` reads the outcomes from here: joined to the batch again, a
  -- generic plan scanned the batch for each row (100 × 100), 1.7 ms more a completion.
  held AS (
    DELETE FROM delivery_queue x USING batch u
    WHERE x.delivery_id = ANY($13::text[]) AND x.delivery_id = u.id AND x.lease_token = u.token
    RETURNING u.*, x.account_id AS queue_account_id, x.webhook_id AS queue_webhook_id,
      x.ordering_key AS queue_ordering_key, x.order_state AS queue_order_state,
      x.order_seq AS queue_order_seq),
  finished AS (
    UPDATE deliveries d SET
      status = CASE u.kind WHEN 'succeeded' THEN 'succeeded' WHEN 'retry' THEN 'pending'
                           WHEN 'failed' THEN 'failed' ELSE d.status END,
      attempt_count = d.attempt_count + 1,
      auto_attempts = d.auto_attempts + CASE WHEN u.trigger = 'auto' THEN 1 ELSE 0 END,
      last_status_code = u.status_code, last_duration_ms = u.duration_ms,
      last_error = u.error, last_attempt_at = u.started_at,
      next_attempt_at = CASE u.kind WHEN 'retry' THEN u.next_at
                                    WHEN 'unchanged' THEN d.next_attempt_at ELSE NULL END,
      manual_requested = (u.trigger = 'auto' AND d.manual_requested AND u.kind <> 'succeeded'),
      updated_at = $12
    FROM held u
    WHERE d.id = u.id
    -- the key's order state it had (its queue row's), for releaseNext; when it is next due,
    -- from its new values: a manual retry asked for meanwhile (the flag kept), the retry, or,
    -- unchanged and still pending, its next attempt
    RETURNING d.id, d.status, d.manual_requested, d.created_at, d.attempt_count, d.webhook_id,
      d.ordering_key, u.queue_order_state AS order_state,
      -- a delivery done with leaves its key's order (the next of the key: releaseNext)
      u.kind NOT IN ('succeeded', 'failed') AS in_order, u.queue_ordering_key,
      u.queue_order_seq, CASE
        WHEN d.manual_requested THEN $12::bigint
        WHEN u.kind = 'retry' THEN u.next_at
        WHEN u.kind = 'unchanged' AND d.status = 'pending' THEN d.next_attempt_at
        ELSE NULL END AS due, u.queue_account_id, u.queue_webhook_id),
  -- the attempts: those of the deliveries just updated are known to be stored
  stored AS (${insertAttempts('SELECT f.id FROM finished f')}),
  again AS (
    INSERT INTO delivery_queue (delivery_id, account_id, webhook_id, due_at, ordering_key,
      order_state, order_seq)
    SELECT f.id, f.queue_account_id, f.queue_webhook_id, f.due,
      CASE WHEN f.in_order THEN f.queue_ordering_key END,
      CASE WHEN f.in_order THEN f.order_state END, CASE WHEN f.in_order THEN f.queue_order_seq END
    FROM finished f
    WHERE f.due IS NOT NULL OR f.status = 'pending'),
  rolled AS (${upsertRollups(23, EXPECTED)}),
  endpoints AS (
    SELECT w.id, w.failing_since, w.concurrency_limit, w.failure_streak,
      coalesce((SELECT true FROM delivery_queue x WHERE x.account_id = w.account_id
        AND x.webhook_id = w.id AND x.due_at <= $12 LIMIT 1), false) AS has_due
    FROM webhooks w WHERE w.id = ANY($22::text[]))`;

/**
 * RECORDED in a transaction, with more to follow: one row, `expected`, `stored` (the
 * deliveries whose attempt was kept), `finished` (the deliveries changed, each with when it is
 * next due) and `endpoints`.
 */
const RECORD = `${RECORDED}
  SELECT ${EXPECTED} AS expected,
    (SELECT coalesce(json_agg(delivery_id), '[]') FROM stored) AS stored,
    (SELECT coalesce(json_agg(f), '[]') FROM finished f) AS finished,
    (SELECT coalesce(json_agg(e), '[]') FROM endpoints e) AS endpoints`;

/**
 * RECORDED as the whole completion, a transaction of its own: for a batch of automatic
 * successes, none in a key's order (so no next of a key to release, no exhausted delivery, no
 * failure to count), it is all there is to do when every attempt is kept and every lease held
 * (`expected`, so the rollups are written) and no endpoint of the batch has a health or a limit
 * to change (none failing, throttled or with failures in a row). Otherwise it undoes itself
 * (rizler_undo, migration 12), and the completion runs as a transaction. It wakes the other
 * processes itself ($32, $33: wakeNotice) when an endpoint has more due, and says so (`woke`).
 * One round trip where BEGIN, RECORD and COMMIT took three: at 200 events/s nearly every
 * completion.
 */
const RECORD_ALONE = `${RECORDED},
  -- an endpoint to keep up: unsettled() below, the same rule in SQL; a delivery that left a
  -- key's order (its endpoint's ordering switched on while it was in flight): the next of the
  -- key is the transaction's to release
  ended AS (
    SELECT ${EXPECTED} AND coalesce((SELECT false FROM endpoints e
        WHERE e.failing_since IS NOT NULL OR e.concurrency_limit IS NOT NULL
          OR e.failure_streak > 0 LIMIT 1), true)
      AND NOT EXISTS (SELECT 1 FROM finished f WHERE f.order_state IS NOT NULL) AS alone,
      coalesce((SELECT true FROM endpoints e WHERE e.has_due LIMIT 1), false) AS woke)
  SELECT CASE WHEN alone THEN woke ELSE rizler_undo('the completion has more to do') END AS woke,
    CASE WHEN alone AND woke THEN pg_notify($32, $33) END AS notified
  FROM ended`;

/** What RECORD and RECORD_ALONE take, but the wake-up's. */
function recordParams(
  completed: readonly CompletedAttempt[],
  once: readonly CompletedAttempt[],
  now: number,
  expected: RollupBatch,
): unknown[] {
  return [
    ...attemptColumns(completed.map((c) => ({ attempt: c.attempt, webhookId: c.claim.webhookId }))),
    now,
    once.map((c) => c.claim.deliveryId),
    once.map((c) => c.claim.leaseToken),
    once.map((c) => c.outcome.kind),
    once.map((c) => c.claim.trigger),
    once.map((c) => (c.outcome.kind === 'retry' ? c.outcome.nextAttemptAt : null)),
    once.map((c) => c.attempt.statusCode),
    once.map((c) => c.attempt.durationMs),
    once.map((c) => c.attempt.error),
    once.map((c) => c.attempt.startedAt),
    [...new Set(completed.map((c) => c.claim.webhookId))].sort(),
    ...rollupColumns(expected),
    completed.length,
    once.length,
  ];
}

/** How many unsettled endpoints a process remembers (PostgresCompletion.unsettled). */
const UNSETTLED_MAX = 10_000;

/**
 * Whether an endpoint's row, as RECORDED reads it, has a health or a limit to keep up
 * (RECORD_ALONE's `alone` is the same rule in SQL: change both together).
 */
function unsettled(row: Row): boolean {
  return (
    row.failing_since !== null || row.concurrency_limit !== null || num(row.failure_streak) > 0
  );
}

export class PostgresCompletion extends PostgresPart {
  constructor(
    h: PostgresHandle,
    private readonly claims: PostgresClaim,
    private readonly operational: PostgresOperational,
  ) {
    super(h);
  }

  async completeAttempts(
    completed: CompletedAttempt[],
    policy: CompletionPolicy,
    next?: ClaimRequest,
  ): Promise<ClaimedDelivery[]> {
    if (completed.length === 0) return next ? this.claims.claimDue(next) : [];
    const woke =
      (await this.recordAlone(completed, policy.now)) ?? (await this.record(completed, policy));
    return this.refill(woke, next);
  }

  /**
   * Endpoints whose last completion here found them failing, throttled or with failures in a
   * row: a completion on one is a transaction from the start, where RECORD_ALONE would undo
   * itself. What other processes change shows in RECORDED's read (it undoes itself then). A
   * hint only: forgotten whole past UNSETTLED_MAX (endpoints deleted while unsettled stay).
   */
  private readonly unsettled = new Set<string>();

  /**
   * The completion as RECORD_ALONE, where it may be: whether it woke the workers, or null
   * when it is to run as a transaction (nothing of it is left written then).
   */
  private async recordAlone(completed: CompletedAttempt[], now: number): Promise<boolean | null> {
    const ids = new Set<string>();
    for (const c of completed) {
      if (c.claim.trigger !== 'auto' || c.outcome.kind !== 'succeeded' || c.claim.ordered) {
        return null;
      }
      if (this.unsettled.has(c.claim.webhookId) || ids.has(c.claim.deliveryId)) return null;
      ids.add(c.claim.deliveryId);
    }
    const expected = rollupsOf(
      completed,
      completed.map((c) => ({ c, createdAt: c.claim.createdAt })),
      new Map(),
    );
    try {
      const [row] = await this.h.byKey(RECORD_ALONE, [
        ...recordParams(completed, completed, now, expected),
        ...this.h.wakeNotice,
      ]);
      return row!.woke === true;
    } catch (err) {
      // Undone by itself, or by a deadlock or a serialization failure, which the transaction
      // runs again.
      if (undone(err) || retryable(err)) return null;
      throw err;
    }
  }

  /** The completion as a transaction: whether it woke the workers. */
  private async record(completed: CompletedAttempt[], policy: CompletionPolicy): Promise<boolean> {
    const { now } = policy;
    return this.tx(async (q, end) => {
      // The deliveries, only where our lease still holds (a stale worker changes nothing).
      // A manual retry asked for while an automatic attempt was in flight still gets its
      // attempt: due now, flag kept. One row per delivery: a repeat in the batch would find
      // the lease already released, as it does in SQLite.
      const byDelivery = new Map<string, CompletedAttempt>();
      for (const c of completed) {
        if (!byDelivery.has(c.claim.deliveryId)) byDelivery.set(c.claim.deliveryId, c);
      }
      const once = [...byDelivery.values()];
      // For the rollups: the status before a manual success (an automatic attempt is only
      // ever made on a pending delivery, and a manual failure changes nothing).
      const manualSuccesses = once.filter(
        (c) => c.claim.trigger === 'manual' && c.outcome.kind === 'succeeded',
      );
      const statusBefore = new Map<string, DeliveryStatus>(
        manualSuccesses.length === 0
          ? []
          : (
              await q('SELECT id, status FROM deliveries WHERE id = ANY($1::text[])', [
                manualSuccesses.map((c) => c.claim.deliveryId),
              ])
            ).map((r) => [String(r.id), r.status as DeliveryStatus]),
      );
      // The rollups as they are when every attempt is kept and every lease held, the claims'
      // creation times being their deliveries'.
      const expected = rollupsOf(
        completed,
        once.map((c) => ({ c, createdAt: c.claim.createdAt })),
        statusBefore,
      );
      // The keys the ordered heads among them release, as their claims tell (a delivery whose
      // lease was lost releases nothing: its key keeps a head, and the promotion finds one): the
      // lock and the promotion go out right behind RECORD, in its round trip. RECORD answers
      // with what really left a key's order; any other key (an endpoint whose ordering was
      // switched on while its delivery was in flight) is released after it.
      const predicted: FinishedDelivery[] = once
        .filter(
          (c) =>
            c.claim.ordered &&
            c.claim.orderingKey !== null &&
            (c.outcome.kind === 'succeeded' || c.outcome.kind === 'failed'),
        )
        .map((c) => ({
          deliveryId: c.claim.deliveryId,
          webhookId: c.claim.webhookId,
          orderingKey: c.claim.orderingKey,
          orderState: 'head',
        }));
      const [[recordedRow], releasedAhead] = await Promise.all([
        q(RECORD, recordParams(completed, once, now, expected)),
        predicted.length > 0 ? releaseNext(q, predicted, now) : 0,
      ]);
      if (this.unsettled.size > UNSETTLED_MAX) this.unsettled.clear();
      for (const r of recordedRow!.endpoints as Row[]) {
        if (unsettled(r)) this.unsettled.add(String(r.id));
        else this.unsettled.delete(String(r.id));
      }
      const stored = new Set((recordedRow!.stored as unknown[]).map(String));
      const requeued = recordedRow!.finished as Row[];
      // A delivery made due now by this statement (a manual retry asked for meanwhile, a retry
      // due at once): the endpoints' read, on the statement's snapshot, does not see it.
      let wake = requeued.some((r) => r.due !== null && num(r.due) <= now);
      // Deliveries that left `pending` in a key's order: the next of the key may go. RECORD
      // took them out of it, and answers with the order_state they had.
      const finished: FinishedDelivery[] = requeued
        .filter((r) => {
          const kind = byDelivery.get(String(r.id))!.outcome.kind;
          return r.order_state !== null && (kind === 'succeeded' || kind === 'failed');
        })
        .map((r) => ({
          deliveryId: String(r.id),
          webhookId: String(r.webhook_id),
          orderingKey: strOrNull(r.ordering_key),
          orderState: r.order_state as OrderState,
        }));
      const released = new Set(
        releasesOf(predicted).release.map((r) => pairKey(r.webhookId, r.orderingKey)),
      );
      const rest = finished.filter(
        (f) => f.orderingKey === null || !released.has(pairKey(f.webhookId, f.orderingKey)),
      );
      if (releasedAhead > 0) wake = true;
      if (rest.length > 0 && (await releaseNext(q, rest, now)) > 0) wake = true;
      // Otherwise, what this completion did: written last, before the commit.
      const rollups =
        recordedRow!.expected === true
          ? null
          : rollupsOf(
              completed.filter((c) => stored.has(c.claim.deliveryId)),
              requeued.map((r) => ({
                c: byDelivery.get(String(r.id))!,
                createdAt: num(r.created_at),
              })),
              statusBefore,
            );
      // SPEC §11: once per delivery (only this completion moves it to failed), never about an
      // operational event's own delivery.
      const attemptsOf = new Map(requeued.map((r) => [String(r.id), num(r.attempt_count)]));
      for (const c of once) {
        const attempts = attemptsOf.get(c.claim.deliveryId);
        if (attempts === undefined || c.outcome.kind !== 'failed') continue;
        if (isOperationalEventType(c.claim.eventType)) continue;
        const event = deliveryExhausted(c.claim, attempts, c.attempt.statusCode, c.attempt.error);
        await this.operational.publish(q, c.claim.accountId, event, now);
      }

      // The endpoints, locked in id order, after the deliveries. A claim locks endpoints
      // first, but then takes deliveries only with SKIP LOCKED, so it never waits on one and
      // the two never wait on each other in a cycle.
      const recorded = completed.filter((c) => stored.has(c.claim.deliveryId));
      if (recorded.length > 0) {
        // Claims lock the endpoint rows too, so locking them here serialised every claim and
        // completion of a busy endpoint across all workers: a second worker process added
        // nothing (bench). Most completions change nothing of the endpoint: a healthy endpoint
        // that succeeded again. Only the others are locked. A failure committed concurrently
        // with the unlocked read can leave failing_since set after this success: health.ts
        // never disables on such a stale mark. `has_due`: the endpoint has more due now; each
        // finished attempt freed a slot of it, and the workers that skipped it at its cap
        // (nextDueAt) must hear so (this one claims next, when asked to).
        const recordedIds = new Set(recorded.map((c) => c.claim.webhookId));
        const current = (recordedRow!.endpoints as Row[]).filter((r) =>
          recordedIds.has(String(r.id)),
        );
        if (current.some((r) => r.has_due === true)) wake = true;
        const failed = new Set(
          recorded.filter((c) => c.outcome.kind !== 'succeeded').map((c) => c.claim.webhookId),
        );
        const lockIds = current
          // a throttled endpoint grows back with each success
          .filter((r) => unsettled(r) || failed.has(String(r.id)))
          .map((r) => String(r.id))
          .sort();
        if (lockIds.length > 0) {
          const rows = await q(
            `SELECT id, account_id, status, failing_since, concurrency_limit, failure_streak,
               throttle_reason, throttled_since
             FROM webhooks WHERE id = ANY($1::text[])
             ORDER BY id FOR NO KEY UPDATE`,
            [lockIds],
          );
          const locked = new Set(lockIds);
          const concerned = recorded.filter((c) => locked.has(c.claim.webhookId));
          await this.recordHealth(q, rows, concerned, policy);
          const signals = new Map<string, ThrottleSignal[]>();
          for (const c of concerned) {
            let list = signals.get(c.claim.webhookId);
            if (!list) signals.set(c.claim.webhookId, (list = []));
            list.push(throttleSignal(c.outcome.kind === 'succeeded', c.attempt.statusCode));
          }
          await recordThrottle(q, rows, signals, policy.throttle ?? DEFAULT_THROTTLE, now);
        }
      }
      // The last statement goes with the COMMIT (end): one round trip for both.
      if (rollups) await writeRollups(wake ? q : end, rollups);
      if (wake) await this.notify(end);
      return wake;
    }, 'by-key');
  }

  /** After the completion: the wake-up, and the next claim when the worker asks for one. */
  private async refill(woke: boolean, next?: ClaimRequest): Promise<ClaimedDelivery[]> {
    if (this.operational.takeWake()) this.emitWake();
    if (!next) {
      if (woke) this.emitWake();
      return [];
    }
    // Nothing more due for the endpoints it recorded (woke is false), and the last claim left
    // nothing due that it knows of: a refill would walk the queue for what the loop's wake-ups
    // and alarms bring anyway. At 200 events/s, one to an endpoint (serve, latency bench), a
    // refill followed every completion, three statements that found nothing.
    if (!woke && !this.claims.leftSomethingDue) return [];
    // Here the claim is a transaction of its own: the completion's endpoint locks are never
    // held across the claim's SKIP LOCKED scan. The attempts are recorded whatever happens to
    // the claim, so a failed claim must not fail the call (the caller would record them
    // twice): the worker's own loop claims instead.
    try {
      return await this.claims.claimDue(next);
    } catch {
      this.emitWake();
      return [];
    }
  }

  /** Auto-disable (health.ts), on the endpoints locked by this completion. */
  private async recordHealth(
    q: Query,
    rows: Row[],
    completed: CompletedAttempt[],
    policy: CompletionPolicy,
  ): Promise<void> {
    const outcomes = new Map<string, HealthOutcome[]>();
    for (const c of completed) {
      let list = outcomes.get(c.claim.webhookId);
      if (!list) outcomes.set(c.claim.webhookId, (list = []));
      list.push({ succeeded: c.outcome.kind === 'succeeded', gone: c.endpointGone });
    }
    const health = rows.map((r) => ({
      id: String(r.id),
      accountId: String(r.account_id),
      status: String(r.status) as WebhookStatus,
      failingSince: numOrNull(r.failing_since),
    }));
    const toConfirm = health.filter((h) =>
      mayDisableAsFailing(h, outcomes.get(h.id) ?? [], policy),
    );
    const succeeded = new Set<string>();
    if (toConfirm.length > 0) {
      const found = await q(
        `SELECT u.id FROM unnest($1::text[], $2::bigint[]) AS u(id, since)
         WHERE EXISTS (SELECT 1 FROM attempts a
           WHERE a.webhook_id = u.id AND ${succeededSinceSql('u.since')})`,
        [toConfirm.map((h) => h.id), toConfirm.map((h) => h.failingSince)],
      );
      for (const r of found) succeeded.add(String(r.id));
    }
    const state = new Map(
      health.map((h) => {
        const change = applyOutcomes(h, outcomes.get(h.id) ?? [], policy, () =>
          succeeded.has(h.id),
        );
        return [
          h.id,
          {
            failingSince: change.failingSince,
            disabledReason: change.disable,
            changed: change.changed,
          },
        ];
      }),
    );
    const changed = [...state].filter(([, s]) => s.changed);
    if (changed.length === 0) return;
    await q(
      `UPDATE webhooks w SET failing_since = u.failing_since,
         status = CASE WHEN u.reason IS NULL THEN w.status ELSE 'disabled' END,
         disabled_reason = coalesce(u.reason, w.disabled_reason),
         updated_at = CASE WHEN u.reason IS NULL THEN w.updated_at ELSE $1 END
       FROM unnest($2::text[], $3::bigint[], $4::text[]) AS u(id, failing_since, reason)
       WHERE w.id = u.id`,
      [
        policy.now,
        changed.map(([id]) => id),
        changed.map(([, s]) => s.failingSince),
        changed.map(([, s]) => s.disabledReason),
      ],
    );
    const disabled = changed.filter(([, s]) => s.disabledReason !== null).map(([id]) => id);
    if (disabled.length > 0) await parkEndpoints(q, disabled);
    if (disabled.length > 0) {
      // The owners from the locked rows: the audit needs no second read of the endpoints.
      const accountOf = new Map(health.map((h) => [h.id, h.accountId]));
      await writeAudit(
        q,
        ...disabled.map((id) =>
          webhookAutoDisabled(accountOf.get(id)!, id, state.get(id)!.disabledReason!, policy.now),
        ),
      );
    }
    for (const [id, s] of changed) {
      const reason = s.disabledReason;
      if (reason)
        await this.operational.publishAbout(q, id, (w) => webhookDisabled(w, reason), policy.now);
    }
  }
}

/**
 * What a completion adds to the rollups: the attempts kept, and the new status of each
 * delivery it finished, in the slot of its creation (`statusBefore`: a manual success's status
 * before, read by the caller; otherwise pending).
 */
function rollupsOf(
  kept: readonly CompletedAttempt[],
  finished: readonly { c: CompletedAttempt; createdAt: number }[],
  statusBefore: ReadonlyMap<string, DeliveryStatus>,
): RollupBatch {
  const rollups = new RollupBatch();
  for (const c of kept) {
    rollups.attempt(
      c.claim.webhookId,
      c.claim.accountId,
      c.attempt.startedAt,
      c.attempt.durationMs,
    );
  }
  for (const { c, createdAt } of finished) {
    if (c.outcome.kind !== 'succeeded' && c.outcome.kind !== 'failed') continue;
    const before = statusBefore.get(c.claim.deliveryId) ?? 'pending';
    rollups.status(c.claim.webhookId, c.claim.accountId, createdAt, before, c.outcome.kind);
  }
  return rollups;
}
