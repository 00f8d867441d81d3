// The SQLite engine's deliveries as the API sees them: the log with its filters, one delivery
// with its attempts, manual retry and recovery, the record of a test send, and the endpoint's
// stats.
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
import { insertAttempt } from './attempts.js';
import { SqlitePart } from './connection.js';
import { readStats, writeRollups } from './rollups.js';
import { accountActive } from './webhooks.js';
import { WAITING_FOR } from './ordering.js';

export class SqliteDeliveries extends SqlitePart {
  async listDeliveries(accountId: string, filter: DeliveryFilter, page: Page): Promise<Delivery[]> {
    const { where, args } = pageWhere(accountId, deliveryConditions(filter), page, () => '?');
    const rows = await this.run(
      () =>
        this.stmt(
          `SELECT d.*, ${WAITING_FOR} FROM deliveries d
           WHERE ${where} AND ${notDeletedWebhook('webhook_id')}
           ORDER BY id DESC LIMIT ?`,
        ).all(...args, page.limit) as Row[],
    );
    return rows.map(toDelivery);
  }

  async listDeliveryChanges(
    accountId: string,
    request: DeliveryChangesRequest,
  ): Promise<DeliveryChanges> {
    return this.run(() => {
      // Read first: an attempt recorded after it is read again by the next poll. (SQLite gives
      // a new row the highest rowid plus one: were the newest attempts purged with a deleted
      // endpoint before any other was recorded, the next would take a number already read.)
      const cursor = num(this.stmt('SELECT coalesce(max(rowid), 0) AS n FROM attempts').get()!.n);
      const found = new Map<string, Row>();
      for (const { where, args } of changeReads(accountId, request, 'rowid', () => '?')) {
        const rows = this.stmt(
          `SELECT d.*, ${WAITING_FOR} FROM deliveries d
           WHERE ${where} AND ${notDeletedWebhook('d.webhook_id')}`,
        ).all(...args);
        for (const row of rows) found.set(String(row.id), row);
      }
      return { deliveries: [...found.values()].map(toDelivery), attemptCursor: cursor };
    });
  }

  async getDelivery(accountId: string, id: string): Promise<DeliveryDetail | null> {
    return this.run(() => {
      const row = this.stmt(
        `SELECT d.*, e.payload, ${WAITING_FOR} FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.account_id = ? AND d.id = ? AND ${notDeletedWebhook('d.webhook_id')}`,
      ).get(accountId, id) as Row | undefined;
      if (!row) return null;
      const attempts = (
        this.stmt('SELECT * FROM attempts WHERE delivery_id = ? ORDER BY rowid').all(id) as Row[]
      ).map(toAttempt);
      return { ...toDelivery(row), payload: String(row.payload), attempts };
    });
  }

  async requestRetry(accountId: string, id: string, now: number): Promise<Delivery | null> {
    const delivery = await this.tx(() => {
      const row = this.stmt(
        `SELECT d.*, w.status AS webhook_status FROM deliveries d
         LEFT JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.account_id = ? AND d.id = ?`,
      ).get(accountId, id) as Row | undefined;
      if (!row) return null;
      if (row.webhook_status === null || row.webhook_status === undefined) return 'no_endpoint';
      const enabled = row.webhook_status === 'enabled' && accountActive(this.stmt, accountId);
      // A leased delivery keeps its lease; the worker re-checks the flag when it completes.
      this.stmt(
        `UPDATE deliveries SET manual_requested = 1, held = 0, updated_at = ?,
           due_at = CASE WHEN lease_token IS NOT NULL AND due_at > ? THEN due_at
                         WHEN ? THEN ? ELSE NULL END
         WHERE id = ?`,
      ).run(now, now, enabled ? 1 : 0, now, id);
      return toDelivery(
        this.stmt(`SELECT d.*, ${WAITING_FOR} FROM deliveries d WHERE d.id = ?`).get(id) as Row,
      );
    });
    if (delivery === 'no_endpoint') return null;
    if (delivery) this.notify();
    return delivery;
  }

  async recoverFailed(
    accountId: string,
    webhookId: string,
    since: number,
    now: number,
  ): Promise<number> {
    const count = await this.tx(() => {
      const webhook = this.stmt('SELECT status FROM webhooks WHERE account_id = ? AND id = ?').get(
        accountId,
        webhookId,
      ) as Row | undefined;
      if (!webhook) return 0;
      const enabled = webhook.status === 'enabled' && accountActive(this.stmt, accountId);
      return this.stmt(
        `UPDATE deliveries SET manual_requested = 1, held = 0, updated_at = ?, due_at = ?
         WHERE webhook_id = ? AND status = 'failed' AND created_at >= ? AND manual_requested = 0`,
      ).run(now, enabled ? now : null, webhookId, since).changes;
    });
    if (count > 0) this.notify();
    return count;
  }

  async recordTestSend(record: TestSendRecord): Promise<void> {
    const { attempt, now } = record;
    await this.tx(() => {
      this.stmt(
        `INSERT INTO events (id, account_id, type, timestamp, payload, test, created_at)
         VALUES (?, ?, ?, ?, ?, 1, ?)`,
      ).run(
        record.event.id,
        record.accountId,
        record.event.type,
        record.event.timestamp,
        record.event.payload,
        now,
      );
      this.stmt(
        `INSERT INTO deliveries (id, account_id, webhook_id, event_id, event_type, url, status,
           attempt_count, last_status_code, last_duration_ms, last_error, last_attempt_at, test,
           created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, 1, ?, ?)`,
      ).run(
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
        now,
      );
      if (insertAttempt(this.stmt, attempt, record.webhookId) && record.webhookId !== null) {
        const rollups = new RollupBatch();
        rollups.testSend(record, record.webhookId);
        writeRollups((sql) => this.stmt(sql), rollups);
      }
    });
  }

  async webhookStats(request: StatsRequest): Promise<WebhookStats> {
    return this.run(() => {
      const owned = this.stmt('SELECT 1 FROM webhooks WHERE account_id = ? AND id = ?').get(
        request.accountId,
        request.webhookId,
      );
      if (!owned) return noStats();
      return readStats((sql) => this.stmt(sql), request);
    });
  }
}
