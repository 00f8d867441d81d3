// Operational events on the SQLite engine: stored and fanned out inside the transaction the
// engine has open for the change that causes them (see src/events/operational.ts).
import type { Stmt } from './statement.js';
import { filterSubject, type FilterCache } from '../../core/filter.js';
import { newId } from '../../core/ids.js';
import {
  OPERATOR_ACCOUNT_ID,
  OPERATOR_EVENTS,
  OPERATOR_WEBHOOK_ID,
  operationalEventsFor,
  type OperationalEvent,
} from '../operational-events.js';
import { fanOutEndpoint, receives } from '../fan-out.js';
import type { Row } from '../rows.js';

export class SqliteOperational {
  /** Deliveries were made since the last take: the engine wakes its workers after commit. */
  private madeDeliveries = false;

  constructor(
    private readonly stmt: Stmt,
    private readonly filters: FilterCache,
  ) {}

  /** Publishes `event` for the account (and the operator's copy); call inside a transaction. */
  publish(accountId: string, event: OperationalEvent, now: number): void {
    const endpointsOf = this.stmt(
      `SELECT id, url, events, filter, updated_at FROM webhooks
       WHERE account_id = ? AND status = 'enabled'`,
    );
    const insertEvent = this.stmt(
      `INSERT INTO events (id, account_id, type, timestamp, payload, created_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    );
    const insertDelivery = this.stmt(
      `INSERT INTO deliveries (id, account_id, webhook_id, event_id, event_type, url, status,
         next_attempt_at, due_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)`,
    );
    for (const { accountId: owner, event: e } of operationalEventsFor(accountId, event, now)) {
      const endpoints = endpointsOf.all(owner) as Row[];
      // The operator's copy is stored only when the operator's endpoint is on.
      if (owner === OPERATOR_ACCOUNT_ID && endpoints.length === 0) continue;
      insertEvent.run(e.id, owner, e.type, e.timestamp, e.payload, now);
      const subject = filterSubject(e);
      for (const endpoint of endpoints.map((r) => fanOutEndpoint(this.filters, r))) {
        if (!receives(endpoint, e.type, subject)) continue;
        insertDelivery.run(
          newId('dlv', now),
          owner,
          endpoint.id,
          e.id,
          e.type,
          endpoint.url,
          now,
          now,
          now,
          now,
        );
        this.madeDeliveries = true;
      }
    }
  }

  /** Publishes `event` about the endpoint `webhookId`, read as it is now. */
  publishAbout(
    webhookId: string,
    make: (w: { id: string; url: string }) => OperationalEvent,
    now: number,
  ): void {
    const row = this.stmt('SELECT id, account_id, url FROM webhooks WHERE id = ?').get(
      webhookId,
    ) as Row | undefined;
    if (!row) return;
    this.publish(String(row.account_id), make({ id: String(row.id), url: String(row.url) }), now);
  }

  takeWake(): boolean {
    const made = this.madeDeliveries;
    this.madeDeliveries = false;
    return made;
  }

  configureOperator(setting: { url: string; sealedSecret: string } | null, now: number): void {
    if (setting === null) {
      this.stmt(
        `UPDATE webhooks SET status = 'disabled', disabled_reason = 'manual', updated_at = ?
         WHERE id = ? AND status = 'enabled'`,
      ).run(now, OPERATOR_WEBHOOK_ID);
      return;
    }
    this.stmt(
      `INSERT INTO webhooks (id, account_id, url, description, events, status, secret,
         created_at, updated_at)
       VALUES (?, ?, ?, 'The installation operator (RIZLER_OPERATOR_WEBHOOK_URL)', ?, 'enabled', ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, secret = excluded.secret,
         events = excluded.events, status = 'enabled', disabled_reason = NULL,
         failing_since = NULL, updated_at = excluded.updated_at`,
    ).run(
      OPERATOR_WEBHOOK_ID,
      OPERATOR_ACCOUNT_ID,
      setting.url,
      JSON.stringify(OPERATOR_EVENTS),
      setting.sealedSecret,
      now,
      now,
    );
    // Deliveries that waited while it was off go out now, to the URL as it is now.
    this.stmt(
      `UPDATE deliveries SET url = ?, due_at = CASE
           WHEN due_at IS NULL AND lease_token IS NULL THEN max(coalesce(next_attempt_at, ?), ?)
           ELSE due_at END
       WHERE webhook_id = ? AND status = 'pending'`,
    ).run(setting.url, now, now, OPERATOR_WEBHOOK_ID);
  }
}
