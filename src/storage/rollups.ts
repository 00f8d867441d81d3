// Delivery rollups: per endpoint and 5-minute slot, the deliveries created in the slot that
// have succeeded and failed so far, and a histogram of the response times of the attempts
// started in it. Both engines keep them in the transaction that records an attempt (one upsert
// per endpoint and slot of the batch) and answer stats from them, so a stats call reads at most
// 2,016 rows (7 days) however many deliveries there were. Pending deliveries are counted from
// the engines' partial index of pending rows: that count is bounded by the backlog, not by the
// traffic, and keeping it in rollups would put a write on every publish.
//
// Why 5 minutes: every window's series buckets (5 min, 1 h, 6 h) and start are multiples of it,
// so slots add up to a window exactly; 1-minute slots would make a 7-day answer read 10,080.
import { DurationHistogram } from '../core/histogram.js';
import type { DeliveryStatus, StatsBucket, TestSendRecord, WebhookStats } from './types.js';

export const SLOT_MS = 5 * 60_000;

/**
 * SQL condition, for both engines: the row's webhook is not one deleted and awaiting the
 * background purge. The logs hide such deliveries from the moment of the delete.
 */
export function notDeletedWebhook(column: string): string {
  return `(${column} IS NULL OR ${column} NOT IN (SELECT id FROM deleted_owners))`;
}

export function slotOf(time: number): number {
  return Math.floor(time / SLOT_MS) * SLOT_MS;
}

/** One row's change: counts to add, a histogram to merge, a time to keep the latest of. */
export interface RollupDelta {
  webhookId: string;
  slot: number;
  accountId: string;
  succeeded: number;
  failed: number;
  /** Start of the latest attempt in the slot, or null when none is added. */
  lastAttemptAt: number | null;
  histogram: DurationHistogram;
}

/** What one transaction adds to the rollups, gathered in memory and written once per row. */
export class RollupBatch {
  private readonly rows = new Map<string, RollupDelta>();

  private row(webhookId: string, accountId: string, time: number): RollupDelta {
    const slot = slotOf(time);
    const key = `${webhookId} ${slot}`;
    let row = this.rows.get(key);
    if (!row) {
      row = {
        webhookId,
        slot,
        accountId,
        succeeded: 0,
        failed: 0,
        lastAttemptAt: null,
        histogram: new DurationHistogram(),
      };
      this.rows.set(key, row);
    }
    return row;
  }

  /** An attempt was stored: its response time counts in the slot it started in. */
  attempt(webhookId: string, accountId: string, startedAt: number, durationMs: number): void {
    const row = this.row(webhookId, accountId, startedAt);
    row.histogram.add(durationMs);
    row.lastAttemptAt = Math.max(row.lastAttemptAt ?? startedAt, startedAt);
  }

  /**
   * A delivery's status changed from `from` (null: it is new) to `to`: it moves between the
   * counts of the slot it was created in.
   */
  status(
    webhookId: string,
    accountId: string,
    createdAt: number,
    from: DeliveryStatus | null,
    to: DeliveryStatus,
  ): void {
    if (from === to) return;
    const row = this.row(webhookId, accountId, createdAt);
    if (from === 'succeeded') row.succeeded--;
    if (from === 'failed') row.failed--;
    if (to === 'succeeded') row.succeeded++;
    if (to === 'failed') row.failed++;
  }

  /** A test send was recorded: its one attempt, and its delivery, created already finished. */
  testSend(record: TestSendRecord, webhookId: string): void {
    const { accountId, attempt, now } = record;
    this.attempt(webhookId, accountId, attempt.startedAt, attempt.durationMs);
    this.status(webhookId, accountId, now, null, record.succeeded ? 'succeeded' : 'failed');
  }

  /** The rows to upsert, in key order (so two transactions lock them in the same order). */
  deltas(): RollupDelta[] {
    return [...this.rows.values()]
      .filter((r) => r.succeeded !== 0 || r.failed !== 0 || r.histogram.total > 0)
      .sort((a, b) =>
        a.webhookId < b.webhookId ? -1 : a.webhookId > b.webhookId ? 1 : a.slot - b.slot,
      );
  }
}

/** The stats of an endpoint the caller does not own (or that has no history). */
export function noStats(): WebhookStats {
  return { succeeded: 0, failed: 0, pending: 0, lastDeliveryAt: null, buckets: [] };
}

/** A stored rollup row, as an engine reads it. */
export interface RollupRow {
  slot: number;
  succeeded: number;
  failed: number;
  histogram: unknown;
}

/**
 * The answer of webhookStats from an endpoint's rollup rows since `since` and its pending
 * deliveries per bucket (`pending`: bucket index → count).
 */
export function foldStats(
  rows: readonly RollupRow[],
  pending: ReadonlyMap<number, number>,
  lastDeliveryAt: number | null,
  since: number,
  bucketMs: number,
): WebhookStats {
  const stats: WebhookStats = { ...noStats(), lastDeliveryAt };
  const buckets = new Map<number, StatsBucket>();
  const bucket = (index: number): StatsBucket => {
    let b = buckets.get(index);
    if (!b) {
      b = {
        start: since + index * bucketMs,
        succeeded: 0,
        failed: 0,
        pending: 0,
        durations: new DurationHistogram(),
      };
      buckets.set(index, b);
    }
    return b;
  };
  for (const row of rows) {
    const b = bucket(Math.floor((row.slot - since) / bucketMs));
    b.succeeded += row.succeeded;
    b.failed += row.failed;
    b.durations.merge(DurationHistogram.from(row.histogram));
    stats.succeeded += row.succeeded;
    stats.failed += row.failed;
  }
  for (const [index, n] of pending) {
    // SQLite may divide as reals: the bucket is the whole part.
    bucket(Math.floor(index)).pending += n;
    stats.pending += n;
  }
  // A slot that held only attempts of older deliveries (or whose counts went back to zero)
  // makes no bucket of its own, as before rollups.
  stats.buckets = [...buckets.values()]
    .filter((b) => b.succeeded + b.failed + b.pending > 0 || b.durations.total > 0)
    .sort((a, b) => a.start - b.start);
  return stats;
}
