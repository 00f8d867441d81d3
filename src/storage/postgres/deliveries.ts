// The PostgreSQL engine's deliveries as the API sees them: the log with its filters, one
// delivery with its attempts, manual retry and recovery, the record of a test send, and the
// endpoint's stats.
import type {
  Delivery,
  DeliveryChanges,
  DeliveryChangesRequest,
  DeliveryDetail,
  DeliveryFilter,
  Page,
  StatsRequest,
  TestSendRecord,
  WebhookStats,
} from '../types.js';
import { num, toAttempt, toDelivery, type Row } from '../rows.js';
import { noStats, notDeletedWebhook, RollupBatch } from '../rollups.js';
import { changeReads, deliveryConditions, pageWhere } from '../list-filters.js';
import { attemptColumns, INSERT_ATTEMPTS } from './attempts.js';
import { PostgresPart } from './connection.js';
import { schedule } from './queue.js';
import { readStats, writeRollups } from './rollups.js';
import { accountActive } from './webhooks.js';
import { WAITING_FOR } from './ordering.js';

export class PostgresDeliveries extends PostgresPart {
  async listDeliveries(accountId: string, filter: DeliveryFilter, page: Page): Promise<Delivery[]> {
    const { where, args } = pageWhere(accountId, deliveryConditions(filter), page, (n) => `$${n}`);
    const rows = await this.query(
      `SELECT d.*, ${WAITING_FOR} FROM deliveries d
       WHERE ${where} AND ${notDeletedWebhook('webhook_id')}
       ORDER BY id DESC LIMIT $${args.length + 1}`,
      [...args, page.limit],
    );
    return rows.map(toDelivery);
  }

  async listDeliveryChanges(
    accountId: string,
    request: DeliveryChangesRequest,
  ): Promise<DeliveryChanges> {
    // Read first: an attempt recorded after it is read again by the next poll.
    const [last] = await this.query('SELECT coalesce(max(seq), 0) AS n FROM attempts');
    const found = new Map<string, Row>();
    const reads = changeReads(accountId, request, 'seq', (n) => `$${n}`);
    for (const rows of await Promise.all(
      reads.map(({ where, args }) =>
        this.query(
          `SELECT d.*, ${WAITING_FOR} FROM deliveries d
           WHERE ${where} AND ${notDeletedWebhook('d.webhook_id')}`,
          args,
        ),
      ),
    )) {
      for (const row of rows) found.set(String(row.id), row);
    }
    return { deliveries: [...found.values()].map(toDelivery), attemptCursor: num(last!.n) };
  }

  async getDelivery(accountId: string, id: string): Promise<DeliveryDetail | null> {
    const [row] = await this.query(
      `SELECT d.*, e.payload, ${WAITING_FOR} FROM deliveries d JOIN events e ON e.id = d.event_id
       WHERE d.account_id = $1 AND d.id = $2 AND ${notDeletedWebhook('d.webhook_id')}`,
      [accountId, id],
    );
    if (!row) return null;
    const attempts = (
      await this.query('SELECT * FROM attempts WHERE delivery_id = $1 ORDER BY seq', [id])
    ).map(toAttempt);
    return { ...toDelivery(row), payload: String(row.payload), attempts };
  }

  async requestRetry(accountId: string, id: string, now: number): Promise<Delivery | null> {
    const delivery = await this.tx(async (q) => {
      const [row] = await q(
        `SELECT d.id, w.status AS webhook_status FROM deliveries d
         LEFT JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.account_id = $1 AND d.id = $2
         FOR UPDATE OF d`,
        [accountId, id],
      );
      if (!row || row.webhook_status === null) return null;
      const enabled = row.webhook_status === 'enabled' && (await accountActive(q, accountId));
      const [updated] = await q(
        `UPDATE deliveries SET manual_requested = true, updated_at = $1,
           -- due now: no longer waiting among the held (it may be held again by a claim)
           held = held AND NOT $2
         WHERE id = $3
         RETURNING *`,
        [now, enabled, id],
      );
      // Due now, or parked while its endpoint or account is off. A leased delivery keeps its
      // lease; the worker re-checks the flag when it completes.
      const live = 'x.lease_token IS NOT NULL AND x.due_at > $1';
      await q(
        enabled
          ? `WITH r AS (SELECT $2::text AS id, $3::text AS account_id, $4::text AS webhook_id,
               $1::bigint AS due)
             ${schedule('r', live)}`
          : `INSERT INTO delivery_queue AS x (delivery_id, account_id, webhook_id, due_at)
             VALUES ($2, $3, $4, NULL)
             ON CONFLICT (delivery_id) DO UPDATE SET due_at = NULL WHERE NOT (${live})`,
        [now, id, updated!.account_id, updated!.webhook_id],
      );
      await this.notify(q);
      return toDelivery(updated!);
    });
    if (delivery) this.emitWake();
    return delivery;
  }

  async recoverFailed(
    accountId: string,
    webhookId: string,
    since: number,
    now: number,
  ): Promise<number> {
    const count = await this.tx(async (q) => {
      const [webhook] = await q('SELECT status FROM webhooks WHERE account_id = $1 AND id = $2', [
        accountId,
        webhookId,
      ]);
      if (!webhook) return 0;
      // Due now, or, while the endpoint or account is off, when it comes back.
      const rows = await q(
        `WITH r AS (
           UPDATE deliveries SET manual_requested = true, updated_at = $1
           WHERE webhook_id = $3 AND status = 'failed' AND created_at >= $4 AND NOT manual_requested
           RETURNING id, account_id, webhook_id, $2::bigint AS due),
         s AS (${schedule('r', 'false')})
         SELECT id FROM r`,
        [
          now,
          webhook.status === 'enabled' && (await accountActive(q, accountId)) ? now : null,
          webhookId,
          since,
        ],
      );
      if (rows.length > 0) await this.notify(q);
      return rows.length;
    });
    if (count > 0) this.emitWake();
    return count;
  }

  async recordTestSend(record: TestSendRecord): Promise<void> {
    const { attempt, now } = record;
    await this.tx(async (q) => {
      await q(
        `INSERT INTO events (id, account_id, type, timestamp, payload, test, created_at)
         VALUES ($1, $2, $3, $4, $5, true, $6)`,
        [
          record.event.id,
          record.accountId,
          record.event.type,
          record.event.timestamp,
          record.event.payload,
          now,
        ],
      );
      await q(
        `INSERT INTO deliveries (id, account_id, webhook_id, event_id, event_type, url, status,
           attempt_count, last_status_code, last_duration_ms, last_error, last_attempt_at, test,
           created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $11, true, $12, $12)`,
        [
          record.deliveryId,
          record.accountId,
          record.webhookId,
          record.event.id,
          record.event.type,
          attempt.url,
          record.succeeded ? 'succeeded' : 'failed',
          attempt.statusCode,
          attempt.durationMs,
          attempt.error,
          attempt.startedAt,
          now,
        ],
      );
      const stored = await q(
        INSERT_ATTEMPTS,
        attemptColumns([{ attempt, webhookId: record.webhookId }]),
      );
      if (stored.length > 0 && record.webhookId !== null) {
        const rollups = new RollupBatch();
        rollups.testSend(record, record.webhookId);
        await writeRollups(q, rollups);
      }
    });
  }

  async webhookStats(request: StatsRequest): Promise<WebhookStats> {
    const [owned] = await this.query('SELECT 1 FROM webhooks WHERE account_id = $1 AND id = $2', [
      request.accountId,
      request.webhookId,
    ]);
    if (!owned) return noStats();
    return readStats((text, values) => this.query(text, values), request);
  }
}
