// The SQLite engine's completion: records a batch of finished attempts (each delivery's
// outcome, its rollups, the next of a key's order, exhausted-delivery events), applies them to
// each endpoint's health (auto-disable) and adaptive limit, and frees held rows — in one
// transaction with the next claim when the worker asks for one.
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
import { num, numOrNull, type Row } from '../rows.js';
import { RollupBatch } from '../rollups.js';
import { applyOutcomes, succeededSinceSql, type HealthOutcome } from '../health.js';
import { DEFAULT_THROTTLE, throttleSignal, type ThrottleSignal } from '../throttle.js';
import type { FinishedDelivery, OrderState } from '../ordering.js';
import { webhookAutoDisabled } from '../audit-records.js';
import { insertAttempt, insertFoundAttempt } from './attempts.js';
import { anyDue, dueOn, recordThrottle, type SqliteClaim } from './claim.js';
import { SqlitePart, type SqliteHandle } from './connection.js';
import type { SqliteOperational } from './operational.js';
import { releaseNext } from './ordering.js';
import { writeRollups } from './rollups.js';
import { parkEndpoint } from './webhooks.js';

/**
 * What an attempt's outcome does to its delivery, in one statement with no read first: SET
 * expressions see the row as it was, so a manual retry asked for during an auto attempt, and
 * a manual failure that leaves the status as it was, are decided in SQL.
 */
const OUTCOME = `
  status = CASE :kind WHEN 'succeeded' THEN 'succeeded' WHEN 'retry' THEN 'pending'
                      WHEN 'failed' THEN 'failed' ELSE status END,
  next_attempt_at = CASE :kind WHEN 'retry' THEN :next WHEN 'unchanged' THEN next_attempt_at
                               ELSE NULL END,
  due_at = CASE
    WHEN :auto = 1 AND manual_requested = 1 AND :kind <> 'succeeded' THEN :now
    WHEN :kind = 'retry' THEN :next
    WHEN :kind = 'unchanged' AND status = 'pending' THEN next_attempt_at
    ELSE NULL END,
  manual_requested = CASE
    WHEN :auto = 1 AND manual_requested = 1 AND :kind <> 'succeeded' THEN 1 ELSE 0 END,
  attempt_count = attempt_count + 1, auto_attempts = auto_attempts + :auto,
  last_status_code = :code, last_duration_ms = :duration, last_error = :error,
  last_attempt_at = :started, lease_token = NULL, held = 0, updated_at = :now`;

/**
 * The leased row an attempt finished, found by the rowid its claim read when it has one (one
 * seek of the table, where the id costs a seek of its index first; the subquery runs only
 * without it), and still checked by id and lease.
 */
const LEASED_ROW = `rowid = coalesce(:row, (SELECT rowid FROM deliveries WHERE id = :id))
  AND id = :id AND lease_token = :lease`;

export class SqliteCompletion extends SqlitePart {
  constructor(
    h: SqliteHandle,
    private readonly claims: SqliteClaim,
    private readonly operational: SqliteOperational,
  ) {
    super(h);
  }

  async completeAttempts(
    completed: CompletedAttempt[],
    policy: CompletionPolicy,
    next?: ClaimRequest,
  ): Promise<ClaimedDelivery[]> {
    if (completed.length === 0) return next ? this.claims.claimDue(next) : [];
    const { now } = policy;
    // One commit for both. Measured in the bench, each transaction spent 360-460 µs in BEGIN
    // and COMMIT, as long as recording about 20 attempts, and the claim rewrites pages the
    // completion has just written.
    const { woke, claimed } = await this.tx(() => {
      let wake = false;
      const freed = new Map<string, number>();
      const freedEndpoints = new Map<string, { accountId: string; webhookId: string }>();
      const health = new Map<string, HealthOutcome[]>();
      const signals = new Map<string, ThrottleSignal[]>();
      // One statement per outcome (OUTCOME).
      const update = this.stmt(
        `UPDATE deliveries SET ${OUTCOME} WHERE ${LEASED_ROW}
         RETURNING manual_requested, created_at, attempt_count, order_state`,
      );
      // Without RETURNING, which costs SQLite an ephemeral table per statement (a third of the
      // update's time: 26 against 38 µs a row here). What it would return, an unordered
      // delivery's claim already knows: its creation, and its attempt count (this attempt's
      // number: only the lease holder's completion counts). A manual retry asked for
      // meanwhile is left due now by OUTCOME, where the refill below, or anyDue, finds it.
      const updateUnordered = this.stmt(`UPDATE deliveries SET ${OUTCOME} WHERE ${LEASED_ROW}`);
      // Each endpoint's row, read once a transaction: for its ordering here, its health
      // (recordHealth) and its adaptive limit (recordThrottle); nothing below writes it before
      // then, and health writes none of the limit's columns. At one event a request, where a
      // completion records one attempt, the limit's own read of the row was one statement of 24.
      const readEndpoint = this.stmt(
        `SELECT account_id, status, failing_since, ordering, concurrency_limit, failure_streak,
           throttle_reason, throttled_since FROM webhooks WHERE id = ?`,
      );
      const endpointRows = new Map<string, Row | undefined>();
      const endpointOf = (webhookId: string): Row | undefined => {
        if (!endpointRows.has(webhookId)) {
          endpointRows.set(webhookId, readEndpoint.get(webhookId) as Row | undefined);
        }
        return endpointRows.get(webhookId);
      };
      // A keyed delivery may have entered its key's order since its claim (its endpoint's
      // ordering switched on while it was in flight) only on an endpoint that keeps order now:
      // switching ordering off takes every delivery out of order in the transaction that writes
      // the endpoint's `ordering`. Call events carry a key by default (the call's id, SPEC §10),
      // so on an endpoint without ordering nearly every delivery is keyed and needs no RETURNING.
      const mayBeInOrder = (webhookId: string): boolean =>
        endpointOf(webhookId)?.ordering !== 'none';
      const rollups = new RollupBatch();
      // Deliveries that left `pending` in a key's order: the next of the key may go.
      const finished: FinishedDelivery[] = [];
      for (const { claim, attempt, outcome, endpointGone } of completed) {
        const auto = claim.trigger === 'auto' ? 1 : 0;
        const before = this.statusBefore(claim, outcome);
        const params = {
          kind: outcome.kind,
          next: outcome.kind === 'retry' ? outcome.nextAttemptAt : null,
          auto,
          now,
          code: attempt.statusCode,
          duration: attempt.durationMs,
          error: attempt.error,
          started: attempt.startedAt,
          id: claim.deliveryId,
          lease: claim.leaseToken,
          row: claim.rowKey ?? null,
        };
        let updated: Row | undefined;
        // By its key and its endpoint's ordering now, not by the claim's `ordered`: a keyed
        // delivery may have entered its key's order since its claim. Its row says.
        if (claim.orderingKey !== null && mayBeInOrder(claim.webhookId)) {
          updated = update.get(params) as Row | undefined;
        } else if (updateUnordered.run(params).changes > 0) {
          updated = {
            manual_requested: 0,
            created_at: claim.createdAt,
            attempt_count: claim.attempt,
            order_state: null,
          };
        }
        // The attempt is kept while its delivery is. Not updated: the lease was lost (the
        // attempt still counts) or the delivery is gone (its webhook was deleted mid-attempt:
        // nothing to record).
        if (updated) insertFoundAttempt(this.stmt, attempt, claim.webhookId);
        else if (!insertAttempt(this.stmt, attempt, claim.webhookId)) continue;
        rollups.attempt(claim.webhookId, claim.accountId, attempt.startedAt, attempt.durationMs);
        if (updated && outcome.kind !== 'unchanged' && outcome.kind !== 'retry') {
          if (updated.order_state !== null) {
            finished.push({
              deliveryId: claim.deliveryId,
              webhookId: claim.webhookId,
              orderingKey: claim.orderingKey,
              orderState: updated.order_state as OrderState,
            });
          }
          rollups.status(
            claim.webhookId,
            claim.accountId,
            num(updated.created_at),
            before,
            outcome.kind,
          );
        }
        // A manual retry asked for while this attempt was in flight still gets its attempt.
        if (updated?.manual_requested === 1) wake = true;
        // SPEC §11: once per delivery (only this completion moves it to failed), never about
        // an operational event's own delivery.
        if (updated && outcome.kind === 'failed' && !isOperationalEventType(claim.eventType)) {
          const exhausted = deliveryExhausted(
            claim,
            num(updated.attempt_count),
            attempt.statusCode,
            attempt.error,
          );
          this.operational.publish(claim.accountId, exhausted, now);
        }
        const succeeded = outcome.kind === 'succeeded';
        let list = health.get(claim.webhookId);
        if (!list) health.set(claim.webhookId, (list = []));
        list.push({ succeeded, gone: endpointGone });
        freed.set(claim.webhookId, (freed.get(claim.webhookId) ?? 0) + 1);
        freedEndpoints.set(claim.webhookId, claim);
        let signalled = signals.get(claim.webhookId);
        if (!signalled) signals.set(claim.webhookId, (signalled = []));
        signalled.push(throttleSignal(succeeded, attempt.statusCode));
      }
      if (finished.length > 0 && releaseNext((sql) => this.stmt(sql), finished, now) > 0) {
        wake = true;
      }
      for (const [webhookId, outcomes] of health) {
        this.recordHealth(webhookId, endpointOf(webhookId), outcomes, policy);
      }
      writeRollups((sql) => this.stmt(sql), rollups);
      recordThrottle(
        (sql) => this.stmt(sql),
        endpointOf,
        signals,
        policy.throttle ?? DEFAULT_THROTTLE,
        now,
      );
      // Each finished attempt frees a slot of its endpoint: when this transaction claims too,
      // the endpoint's due deliveries are its first candidates; otherwise the worker is woken
      // if any are due.
      if (next) {
        // A freed endpoint with nothing due is left out of the claim's first reads: one seek
        // here, where the claim reads its row and counts its leases before it reads nothing. At
        // one event a request, where the event's one delivery was the endpoint's only one, two
        // statements of the event's 23.
        const due = dueOn(this.stmt);
        for (const e of freedEndpoints.values()) if (!due(e, next.now)) freed.delete(e.webhookId);
        return { woke: wake, claimed: this.claims.claimWithin(next, freed) };
      }
      if (!wake) wake = anyDue(this.stmt, freedEndpoints.values(), now);
      return { woke: wake, claimed: [] };
    });
    // With `next`, what became due was claimed just now; the caller claims again if its batch
    // came back full.
    if ((woke && !next) || this.operational.takeWake()) this.notify();
    return claimed;
  }

  /**
   * The status a delivery had before this attempt, for the rollups. An automatic attempt is
   * only ever made on a pending delivery; a manual one may be made on any, and only its
   * success changes the status (then the row is read, a rare path).
   */
  private statusBefore(
    claim: CompletedAttempt['claim'],
    outcome: CompletedAttempt['outcome'],
  ): DeliveryStatus {
    if (claim.trigger === 'auto' || outcome.kind !== 'succeeded') return 'pending';
    const row = this.stmt('SELECT status FROM deliveries WHERE id = ?').get(claim.deliveryId) as
      Row | undefined;
    return (row?.status as DeliveryStatus | undefined) ?? 'pending';
  }

  /** Auto-disable (health.ts) from the endpoint's row as read: one write when anything changed. */
  private recordHealth(
    webhookId: string,
    row: Row | undefined,
    outcomes: HealthOutcome[],
    policy: CompletionPolicy,
  ): void {
    if (!row) return;
    const change = applyOutcomes(
      { status: String(row.status) as WebhookStatus, failingSince: numOrNull(row.failing_since) },
      outcomes,
      policy,
      (since) =>
        num(
          (
            this.stmt(
              `SELECT EXISTS (SELECT 1 FROM attempts a
                 WHERE a.webhook_id = ? AND ${succeededSinceSql('?')}) AS found`,
            ).get(webhookId, since) as Row
          ).found,
        ) === 1,
    );
    if (!change.changed) return;
    const reason = change.disable;
    this.stmt(
      `UPDATE webhooks SET failing_since = ?,
         status = CASE WHEN ? IS NULL THEN status ELSE 'disabled' END,
         disabled_reason = coalesce(?, disabled_reason),
         updated_at = CASE WHEN ? IS NULL THEN updated_at ELSE ? END
       WHERE id = ?`,
    ).run(change.failingSince, reason, reason, reason, policy.now, webhookId);
    if (reason) {
      parkEndpoint(this.stmt, webhookId);
      this.audit(webhookAutoDisabled(String(row.account_id), webhookId, reason, policy.now));
      this.operational.publishAbout(webhookId, (w) => webhookDisabled(w, reason), policy.now);
    }
  }
}
