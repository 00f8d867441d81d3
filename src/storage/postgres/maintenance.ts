// The PostgreSQL engine's upkeep: the retention purge and the deleted endpoints' history, the
// queue figures for metrics and `rizler-webhooks status`, and resealing secrets under a new key.
import type { PurgeResult, QueueStats } from '../types.js';
import { queueStats, RESEAL_PAGE, resealAll } from '../maintenance.js';
import { PostgresPart } from './connection.js';
import { purgeReport } from '../deleted-owners.js';
import { purgeDeletedBatch } from './deleted.js';
import { purgeExpiredRollups } from './rollups.js';

export class PostgresMaintenance extends PostgresPart {
  async purge(before: number, batch: number): Promise<PurgeResult> {
    return this.tx(async (q) => {
      const attempts = await q(
        `DELETE FROM attempts WHERE seq IN (
           SELECT a.seq FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
           WHERE d.created_at < $1 AND d.status <> 'pending' LIMIT $2)
         RETURNING 1`,
        [before, batch],
      );
      const deliveries = await q(
        `DELETE FROM deliveries WHERE id IN (
           SELECT d.id FROM deliveries d WHERE d.created_at < $1 AND d.status <> 'pending'
             AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
           LIMIT $2)
         RETURNING 1`,
        [before, batch],
      );
      const events = await q(
        `DELETE FROM events WHERE id IN (
           SELECT e.id FROM events e WHERE e.created_at < $1
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
           LIMIT $2)
         RETURNING 1`,
        [before, batch],
      );
      const rollups = await purgeExpiredRollups(q, before, batch);
      return {
        events: events.length,
        deliveries: deliveries.length,
        attempts: attempts.length,
        rollups,
      };
    });
  }

  async purgeDeleted(batch: number): Promise<PurgeResult & { remaining: boolean }> {
    return this.tx(async (q) => {
      const { remaining, ...purged } = await purgeDeletedBatch(q, batch, Date.now());
      return purgeReport(purged, remaining);
    });
  }

  async queueStats(now: number): Promise<QueueStats> {
    const [due] = await this.query(
      'SELECT count(*) AS n, min(due_at) AS oldest FROM deliveries WHERE due_at <= $1',
      [now],
    );
    const [later] = await this.query('SELECT count(*) AS n FROM deliveries WHERE due_at > $1', [
      now,
    ]);
    const [inFlight] = await this.query(
      'SELECT count(*) AS n FROM deliveries WHERE lease_token IS NOT NULL AND due_at > $1',
      [now],
    );
    const [held] = await this.query('SELECT count(*) AS n FROM deliveries WHERE held');
    // The longest-throttled delivery: held at the in-flight cap, or put off by the rate limit
    // (due_at moved past a due time that has come).
    const [longestThrottled] = await this.query(
      `SELECT least(
         (SELECT min(coalesce(next_attempt_at, created_at)) FROM deliveries WHERE held),
         (SELECT min(coalesce(next_attempt_at, updated_at)) FROM deliveries
          WHERE due_at > $1 AND lease_token IS NULL AND coalesce(next_attempt_at, updated_at) <= $1)
       ) AS t`,
      [now],
    );
    const endpoints = await this.query(
      'SELECT status, disabled_reason, count(*) AS n FROM webhooks GROUP BY status, disabled_reason',
    );
    const throttled = await this.query(
      `SELECT throttle_reason, count(*) AS n FROM webhooks
       WHERE concurrency_limit IS NOT NULL GROUP BY throttle_reason`,
    );
    return queueStats({
      due: due!,
      later: later!,
      inFlight: inFlight!,
      held: held!,
      throttledSince: longestThrottled,
      endpoints,
      throttled,
    });
  }

  async resealSecrets(reseal: (sealed: string) => string): Promise<number> {
    return resealAll(
      reseal,
      (after) =>
        this.query(
          'SELECT id, secret, previous_secret FROM webhooks WHERE id > $1 ORDER BY id LIMIT $2',
          [after, RESEAL_PAGE],
        ),
      (changes) =>
        this.tx(async (q) => {
          for (const c of changes) {
            await q('UPDATE webhooks SET secret = $1, previous_secret = $2 WHERE id = $3', [
              c.secret,
              c.previousSecret,
              c.id,
            ]);
          }
          return changes.length;
        }),
    );
  }
}
