// The PostgreSQL engine's upkeep: the retention purge and the deleted endpoints' history, the
// queue figures for metrics and `rizler-webhooks status`, and resealing secrets under a new key.
import type { PurgeResult, QueueStats, QueueStatsOptions } from '../types.js';
import { numOrNull } from '../rows.js';
import { DEFAULT_THROTTLE } from '../throttle.js';
import { SCHEDULED_PAIRS } from './claim.js';
import { queueStats, RESEAL_PAGE, resealAll } from '../maintenance.js';
import { PostgresPart } from './connection.js';
import { DEQUEUE_GONE } from './queue.js';
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
        `WITH gone AS (
           DELETE FROM deliveries WHERE id IN (
             SELECT d.id FROM deliveries d WHERE d.created_at < $1 AND d.status <> 'pending'
               AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = d.id)
             LIMIT $2)
           RETURNING id)
         ${DEQUEUE_GONE}`,
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

  async queueStats(now: number, options: QueueStatsOptions = {}): Promise<QueueStats> {
    const cap = options.maxInFlightPerEndpoint ?? DEFAULT_THROTTLE.maxConcurrency;
    const [inFlight] = await this.query(
      'SELECT count(*) AS n FROM delivery_queue WHERE lease_token IS NOT NULL AND due_at > $1',
      [now],
    );
    // Endpoint by endpoint from the index by endpoint: the claim leaves an endpoint's backlog
    // due while it is at its cap, and those count as held. Two counts per endpoint with
    // anything scheduled: a scrape's cost, not a claim's.
    const [queue] = await this.query(
      `${SCHEDULED_PAIRS},
       per AS (
         SELECT coalesce(w.status = 'enabled' AND (
             SELECT count(*) FROM (
               SELECT 1 FROM delivery_queue x WHERE x.webhook_id = p.webhook_id
                 AND x.lease_token IS NOT NULL AND x.due_at > $2 LIMIT $3) y
           ) >= least(coalesce(w.concurrency_limit, $3), $3), false) AS at_cap,
           d.n AS due_n, d.t AS due_t, l.n AS later_n, l.deferred
         FROM pairs p LEFT JOIN webhooks w ON w.id = p.webhook_id
         CROSS JOIN LATERAL (
           SELECT count(*) AS n, min(x.due_at) AS t FROM delivery_queue x
           WHERE x.account_id = p.account_id AND x.webhook_id = p.webhook_id
             AND x.due_at <= $2) d
         CROSS JOIN LATERAL (
           SELECT count(*) AS n, min(CASE WHEN x.lease_token IS NULL
               AND coalesce(y.next_attempt_at, y.updated_at) <= $2
               THEN coalesce(y.next_attempt_at, y.updated_at) END) AS deferred
           FROM delivery_queue x JOIN deliveries y ON y.id = x.delivery_id
           WHERE x.account_id = p.account_id AND x.webhook_id = p.webhook_id
             AND x.due_at > $2) l)
       SELECT coalesce(sum(due_n) FILTER (WHERE NOT at_cap), 0) AS due,
         min(due_t) FILTER (WHERE NOT at_cap AND due_n > 0) AS oldest_due,
         coalesce(sum(due_n) FILTER (WHERE at_cap), 0) AS held,
         min(due_t) FILTER (WHERE at_cap AND due_n > 0) AS oldest_held,
         coalesce(sum(later_n), 0) AS later, min(deferred) AS deferred
       FROM per`,
      [2 ** 31 - 1, now, cap],
    );
    const since = [numOrNull(queue!.deferred), numOrNull(queue!.oldest_held)].filter(
      (t) => t !== null,
    );
    const endpoints = await this.query(
      'SELECT status, disabled_reason, count(*) AS n FROM webhooks GROUP BY status, disabled_reason',
    );
    const throttled = await this.query(
      `SELECT throttle_reason, count(*) AS n FROM webhooks
       WHERE concurrency_limit IS NOT NULL GROUP BY throttle_reason`,
    );
    return queueStats({
      due: { n: queue!.due, oldest: queue!.oldest_due },
      later: { n: queue!.later },
      inFlight: inFlight!,
      held: { n: queue!.held },
      throttledSince: { t: since.length > 0 ? Math.min(...since) : null },
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
