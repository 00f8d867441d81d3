// The PostgreSQL engine's endpoints: create, read, update (status, ordering, URL), rotate the
// secret, delete; each change audited in its transaction. Also the rules other parts share
// about an endpoint's deliveries: parked while it is disabled, due again when it is enabled.
import {
  SYSTEM_ACTOR,
  type Actor,
  type NewWebhook,
  type Page,
  type SecretRotation,
  type Webhook,
  type WebhookPatch,
} from '../types.js';
import { webhookDisabled, webhookEnabled } from '../operational-events.js';
import { secretRotated, webhookCreated, webhookDeleted, webhookUpdated } from '../audit-records.js';
import { newWebhookColumns, patchedWebhook } from '../webhook-columns.js';
import { num, toWebhook } from '../rows.js';
import { writeAudit } from './audit.js';
import { PostgresPart, type PostgresHandle, type Query } from './connection.js';
import { queuedOf, schedule } from './queue.js';
import type { PostgresOperational } from './operational.js';
import { switchOrdering } from './ordering.js';
import { markDeleted } from './deleted.js';

/** Whether the account may have deliveries attempted (not suspended, not deleted). */
export async function accountActive(q: Query, accountId: string): Promise<boolean> {
  const rows = await q("SELECT 1 FROM accounts WHERE id = $1 AND status = 'active'", [accountId]);
  return rows.length > 0;
}

/**
 * A disabled endpoint's pending deliveries wait, off the due index, until it is enabled.
 * Rows a claim has locked right now are skipped rather than waited for: that claim is about
 * to lock this endpoint (which we hold), sees it disabled and parks them itself, and waiting
 * here would deadlock with it.
 */
export async function parkEndpoints(q: Query, webhookIds: string[]): Promise<void> {
  await q(
    `UPDATE delivery_queue SET due_at = NULL WHERE delivery_id IN (
       SELECT delivery_id FROM delivery_queue
       WHERE webhook_id = ANY($1::text[]) AND due_at IS NOT NULL AND lease_token IS NULL
       FOR UPDATE SKIP LOCKED)`,
    [webhookIds],
  );
}

/**
 * SQL: back on the due index at $1, the parked deliveries whose rows in the queue `x` `scope`
 * picks (a condition with its own parameters from $2): a manual retry due then, a pending
 * delivery at its next attempt; those waiting in a key's order stay off it until their head
 * finishes. A row for each. Enabling an endpoint and reactivating an account both go
 * through it.
 */
export const unparkDeliveries = (scope: string) => `
  WITH r AS (
    SELECT d.id, d.account_id, d.webhook_id, CASE
        WHEN d.manual_requested THEN $1
        ELSE greatest(coalesce(d.next_attempt_at, $1), $1) END AS due
    FROM delivery_queue x JOIN deliveries d ON d.id = x.delivery_id
    WHERE ${scope} AND x.due_at IS NULL
      AND (d.manual_requested
        OR (d.status = 'pending' AND coalesce(x.order_state, '') <> 'waiting')))
  ${schedule('r', 'x.due_at IS NOT NULL')}
  RETURNING 1`;

async function unparkEndpoint(q: Query, webhookId: string, now: number): Promise<void> {
  await q(unparkDeliveries('x.webhook_id = $2'), [now, webhookId]);
}

export class PostgresWebhooks extends PostgresPart {
  constructor(
    h: PostgresHandle,
    private readonly operational: PostgresOperational,
  ) {
    super(h);
  }

  async createWebhook(
    w: NewWebhook,
    maxEndpoints: number,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook | 'limit_reached'> {
    return this.tx(async (q) => {
      // Two concurrent creates must not both pass the count: serialize them per account.
      await q("SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || $1, 0))", [
        w.accountId,
      ]);
      const [count] = await q('SELECT count(*) AS n FROM webhooks WHERE account_id = $1', [
        w.accountId,
      ]);
      if (num(count!.n) >= maxEndpoints) return 'limit_reached' as const;
      const c = newWebhookColumns(w);
      const [row] = await q(
        `INSERT INTO webhooks (id, account_id, url, description, events, status, disabled_reason,
           rate_limit_per_minute, secret, created_at, updated_at, headers, filter,
           account_rate_limit_per_minute, ordering)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $10, $11::json, $12::json,
           (SELECT endpoint_rate_limit_per_minute FROM accounts WHERE id = $2), $13)
         RETURNING *`,
        [
          w.id,
          w.accountId,
          c.url,
          c.description,
          c.events,
          c.status,
          c.disabledReason,
          c.rateLimitPerMinute,
          c.sealedSecret,
          w.now,
          c.headers,
          c.filter,
          c.ordering,
        ],
      );
      const created = toWebhook(row!);
      await writeAudit(q, webhookCreated(created, actor, w.now));
      return created;
    });
  }

  async getWebhook(accountId: string, id: string): Promise<Webhook | null> {
    const [row] = await this.query('SELECT * FROM webhooks WHERE account_id = $1 AND id = $2', [
      accountId,
      id,
    ]);
    return row ? toWebhook(row) : null;
  }

  async listWebhooks(accountId: string, page: Page): Promise<Webhook[]> {
    const rows = await this.query(
      `SELECT * FROM webhooks WHERE account_id = $1 AND ($2::text IS NULL OR id < $2)
       ORDER BY id DESC LIMIT $3`,
      [accountId, page.after, page.limit],
    );
    return rows.map(toWebhook);
  }

  async countWebhooks(accountId: string): Promise<number> {
    const [row] = await this.query('SELECT count(*) AS n FROM webhooks WHERE account_id = $1', [
      accountId,
    ]);
    return num(row!.n);
  }

  async updateWebhook(
    accountId: string,
    id: string,
    patch: WebhookPatch,
    now: number,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook | null> {
    const result = await this.tx(async (q) => {
      // A change of `ordering` locks out publishes to the endpoint (FOR UPDATE conflicts with
      // their KEY SHARE) until it has placed every pending delivery (ordering.ts).
      const [row] = await q(
        `SELECT * FROM webhooks WHERE account_id = $1 AND id = $2
         ${patch.ordering !== undefined ? 'FOR UPDATE' : 'FOR NO KEY UPDATE'}`,
        [accountId, id],
      );
      if (!row) return null;
      const before = toWebhook(row);
      const c = patchedWebhook(before, patch);
      const [updated] = await q(
        `UPDATE webhooks SET url = $1, description = $2, events = $3::jsonb, status = $4,
           disabled_reason = $5, rate_limit_per_minute = $6, secret = $7, updated_at = $8,
           headers = $10::json, filter = $11::json,
           failing_since = CASE WHEN $4 = 'enabled' AND status = 'disabled' THEN NULL
                                ELSE failing_since END,
           ordering = $12
         WHERE id = $9
         RETURNING *`,
        [
          c.url,
          c.description,
          c.events,
          c.status,
          c.disabledReason,
          c.rateLimitPerMinute,
          c.sealedSecret,
          now,
          id,
          c.headers,
          c.filter,
          c.ordering,
        ],
      );
      if (patch.url !== undefined) {
        await q(
          `UPDATE deliveries SET url = $1 WHERE id IN (${queuedOf('$2')}) AND status = 'pending'`,
          [patch.url, id],
        );
      }
      if (c.statusChanged) {
        if (c.status === 'disabled') await parkEndpoints(q, [id]);
        else if (await accountActive(q, accountId)) await unparkEndpoint(q, id, now);
        const after = { id, url: c.url };
        await this.operational.publish(
          q,
          accountId,
          c.status === 'disabled' ? webhookDisabled(after, 'manual') : webhookEnabled(after),
          now,
        );
      }
      if (c.reordered) await switchOrdering(q, id, c.ordering, now);
      if (c.wakes) await this.notify(q);
      const after = toWebhook(updated!);
      const record = webhookUpdated(before, after, actor, now);
      if (record) await writeAudit(q, record);
      return { webhook: after, woke: c.wakes };
    });
    if (this.operational.takeWake()) this.emitWake();
    if (!result) return null;
    if (result.woke) this.emitWake();
    return result.webhook;
  }

  async rotateSecret(
    accountId: string,
    id: string,
    rotation: SecretRotation,
    now: number,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook | null> {
    return this.tx(async (q) => {
      const [row] = await q(
        `UPDATE webhooks SET previous_secret = $6, previous_secret_expires_at = $1, secret = $2,
           updated_at = $3
         WHERE account_id = $4 AND id = $5
         RETURNING *`,
        [
          rotation.previousExpiresAt,
          rotation.sealedSecret,
          now,
          accountId,
          id,
          rotation.sealedPreviousSecret,
        ],
      );
      if (!row) return null;
      await writeAudit(q, secretRotated(accountId, id, rotation, actor, now));
      return toWebhook(row);
    });
  }

  async deleteWebhook(
    accountId: string,
    id: string,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<boolean> {
    return this.tx(async (q) => {
      // The endpoint only: its history goes in the background (purgeDeleted), in batches, so
      // no transaction holds a long history's locks. A publish holds KEY SHARE on the endpoint,
      // which this DELETE waits for; deliveries it committed are purged with the rest.
      const deleted = await q(
        'DELETE FROM webhooks WHERE account_id = $1 AND id = $2 RETURNING *',
        [accountId, id],
      );
      if (deleted.length === 0) return false;
      await markDeleted(q, 'webhook', id, Date.now());
      await writeAudit(q, webhookDeleted(toWebhook(deleted[0]!), actor, Date.now()));
      return true;
    });
  }

  async configureOperatorWebhook(
    setting: { url: string; sealedSecret: string } | null,
    now: number,
  ): Promise<void> {
    await this.tx((q) => this.operational.configureOperator(q, setting, now));
    this.emitWake();
  }
}
