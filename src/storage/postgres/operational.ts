// Operational events on the PostgreSQL engine: stored and fanned out inside the transaction the
// engine has open for the change that causes them (see src/events/operational.ts).
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
import { queuedOf, schedule } from './queue.js';

type Query = (text: string, values?: unknown[]) => Promise<Row[]>;

export class PostgresOperational {
  /** Deliveries were made: the engine wakes this process's worker after commit. */
  private madeDeliveries = false;

  constructor(
    private readonly filters: FilterCache,
    /** NOTIFY inside the transaction, for the other processes' workers. */
    private readonly notify: (q: Query) => Promise<void>,
  ) {}

  /** Publishes `event` for the account (and the operator's copy); call inside a transaction. */
  async publish(q: Query, accountId: string, event: OperationalEvent, now: number): Promise<void> {
    let made = false;
    for (const { accountId: owner, event: e } of operationalEventsFor(accountId, event, now)) {
      // KEY SHARE, as a publish: no endpoint is deleted under its new deliveries.
      const endpoints = await q(
        `SELECT id, url, events, filter::text AS filter, updated_at FROM webhooks
         WHERE account_id = $1 AND status = 'enabled' ORDER BY id FOR KEY SHARE`,
        [owner],
      );
      // The operator's copy is stored only when the operator's endpoint is on.
      if (owner === OPERATOR_ACCOUNT_ID && endpoints.length === 0) continue;
      await q(
        `INSERT INTO events (id, account_id, type, timestamp, payload, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [e.id, owner, e.type, e.timestamp, e.payload, now],
      );
      const subject = filterSubject(e);
      const targets = endpoints
        .map((r) => fanOutEndpoint(this.filters, r))
        .filter((endpoint) => receives(endpoint, e.type, subject));
      if (targets.length === 0) continue;
      await q(
        `WITH made AS (
           INSERT INTO deliveries (id, account_id, webhook_id, event_id, event_type, url, status,
             next_attempt_at, created_at, updated_at)
           SELECT u.id, $1, u.webhook_id, $2, $3, u.url, 'pending', $4, $4, $4
           FROM unnest($5::text[], $6::text[], $7::text[]) AS u(id, webhook_id, url)
           RETURNING id, webhook_id)
         INSERT INTO delivery_queue (delivery_id, account_id, webhook_id, due_at)
         SELECT id, $1, webhook_id, $4 FROM made`,
        [
          owner,
          e.id,
          e.type,
          now,
          targets.map(() => newId('dlv', now)),
          targets.map((endpoint) => endpoint.id),
          targets.map((endpoint) => endpoint.url),
        ],
      );
      made = true;
    }
    if (made) {
      await this.notify(q);
      this.madeDeliveries = true;
    }
  }

  /** Publishes an event about the endpoint `webhookId`, read as it is now. */
  async publishAbout(
    q: Query,
    webhookId: string,
    make: (w: { id: string; url: string }) => OperationalEvent,
    now: number,
  ): Promise<void> {
    const [row] = await q('SELECT id, account_id, url FROM webhooks WHERE id = $1', [webhookId]);
    if (!row) return;
    await this.publish(
      q,
      String(row.account_id),
      make({ id: webhookId, url: String(row.url) }),
      now,
    );
  }

  takeWake(): boolean {
    const made = this.madeDeliveries;
    this.madeDeliveries = false;
    return made;
  }

  async configureOperator(
    q: Query,
    setting: { url: string; sealedSecret: string } | null,
    now: number,
  ): Promise<void> {
    if (setting === null) {
      await q(
        `UPDATE webhooks SET status = 'disabled', disabled_reason = 'manual', updated_at = $1
         WHERE id = $2 AND status = 'enabled'`,
        [now, OPERATOR_WEBHOOK_ID],
      );
      return;
    }
    await q(
      `INSERT INTO webhooks (id, account_id, url, description, events, status, secret,
         created_at, updated_at)
       VALUES ($1, $2, $3, 'The installation operator (RIZLER_OPERATOR_WEBHOOK_URL)', $4::jsonb,
         'enabled', $5, $6, $6)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, secret = excluded.secret,
         events = excluded.events, status = 'enabled', disabled_reason = NULL,
         failing_since = NULL, updated_at = excluded.updated_at`,
      [
        OPERATOR_WEBHOOK_ID,
        OPERATOR_ACCOUNT_ID,
        setting.url,
        JSON.stringify(OPERATOR_EVENTS),
        setting.sealedSecret,
        now,
      ],
    );
    // Deliveries that waited while it was off go out now, to the URL as it is now.
    await q(
      `WITH moved AS (
         UPDATE deliveries SET url = $1 WHERE id IN (${queuedOf('$3')}) AND status = 'pending'
         RETURNING id, account_id, webhook_id, greatest(coalesce(next_attempt_at, $2), $2) AS due)
       ${schedule('moved', 'x.due_at IS NOT NULL OR x.lease_token IS NOT NULL')}`,
      [setting.url, now, OPERATOR_WEBHOOK_ID],
    );
    await this.notify(q);
  }
}
