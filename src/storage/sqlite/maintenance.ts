// The SQLite engine's upkeep: the retention purge and the deleted endpoints' history, the queue
// figures for metrics and `rizler-webhooks status`, and resealing secrets under a new key.
import type { PurgeResult, QueueStats, QueueStatsOptions } from '../types.js';
import { num, numOrNull } from '../rows.js';
import { DEFAULT_THROTTLE, effectiveCap } from '../throttle.js';
import { queueWalk } from './claim.js';
import { queueStats, RESEAL_PAGE, resealAll } from '../maintenance.js';
import type { Row } from '../rows.js';
import { SqlitePart, type SqliteConnection } from './connection.js';
import { purgeReport } from '../deleted-owners.js';
import { purgeDeletedBatch } from './deleted.js';
import { purgeExpiredRollups } from './rollups.js';

export class SqliteMaintenance extends SqlitePart {
  constructor(private readonly db: SqliteConnection) {
    super(db);
  }

  async purge(before: number, batch: number): Promise<PurgeResult> {
    return this.tx(() => {
      const attempts = this.stmt(
        `DELETE FROM attempts WHERE rowid IN (
           SELECT a.rowid FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
           WHERE d.created_at < ? AND d.status <> 'pending' LIMIT ?)`,
      ).run(before, batch).changes;
      const deliveries = this.stmt(
        `DELETE FROM deliveries WHERE id IN (
           SELECT d.id FROM deliveries d WHERE d.created_at < ? AND d.status <> 'pending'
             AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
           LIMIT ?)`,
      ).run(before, batch).changes;
      const events = this.stmt(
        `DELETE FROM events WHERE id IN (
           SELECT e.id FROM events e WHERE e.created_at < ?
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
           LIMIT ?)`,
      ).run(before, batch).changes;
      const rollups = purgeExpiredRollups((sql) => this.stmt(sql), before, batch);
      return { events, deliveries, attempts, rollups };
    });
  }

  async purgeDeleted(batch: number): Promise<PurgeResult & { remaining: boolean }> {
    return this.tx(() => {
      const { remaining, ...purged } = purgeDeletedBatch(this.stmt, batch, Date.now());
      return purgeReport(purged, remaining);
    });
  }

  async queueStats(now: number, options: QueueStatsOptions = {}): Promise<QueueStats> {
    const maxPerEndpoint = options.maxInFlightPerEndpoint ?? DEFAULT_THROTTLE.maxConcurrency;
    return this.run(() => {
      const inFlight = this.stmt(
        `SELECT count(*) AS n FROM deliveries INDEXED BY deliveries_leased
         WHERE lease_token IS NOT NULL AND due_at > ?`,
      ).get(now) as Row;
      // The claim leaves an endpoint's backlog due while it is at its cap: those count as held.
      const webhook = this.stmt('SELECT status, concurrency_limit FROM webhooks WHERE id = ?');
      const leased = this.stmt(
        `SELECT count(*) AS n FROM deliveries INDEXED BY deliveries_leased
         WHERE webhook_id = ? AND lease_token IS NOT NULL AND due_at > ?`,
      );
      const queue = queueWalk(this.stmt, now, (webhookId) => {
        const row = webhook.get(webhookId) as Row | undefined;
        if (!row || row.status !== 'enabled') return false;
        const cap = effectiveCap(numOrNull(row.concurrency_limit), maxPerEndpoint);
        return num((leased.get(webhookId, now) as Row).n) >= cap;
      });
      const since = [queue.deferredSince, queue.oldestHeldAt].filter((t) => t !== null);
      const endpoints = this.stmt(
        'SELECT status, disabled_reason, count(*) AS n FROM webhooks GROUP BY status, disabled_reason',
      ).all() as Row[];
      const throttled = this.stmt(
        `SELECT throttle_reason, count(*) AS n FROM webhooks
         WHERE concurrency_limit IS NOT NULL GROUP BY throttle_reason`,
      ).all() as Row[];
      return queueStats({
        due: { n: queue.due, oldest: queue.oldestDueAt },
        later: { n: queue.later },
        inFlight,
        held: { n: queue.held },
        throttledSince: { t: since.length > 0 ? Math.min(...since) : null },
        endpoints,
        throttled,
      });
    });
  }

  async resealSecrets(reseal: (sealed: string) => string): Promise<number> {
    const changed = await resealAll(
      reseal,
      (after) =>
        this.run(
          () =>
            this.stmt(
              'SELECT id, secret, previous_secret FROM webhooks WHERE id > ? ORDER BY id LIMIT ?',
            ).all(after, RESEAL_PAGE) as Row[],
        ),
      (changes) =>
        this.tx(() => {
          const update = this.stmt(
            'UPDATE webhooks SET secret = ?, previous_secret = ? WHERE id = ?',
          );
          for (const c of changes) update.run(c.secret, c.previousSecret, c.id);
          return changes.length;
        }),
    );
    if (changed > 0) await this.run(() => this.db.scrubFreedPages());
    return changed;
  }
}
