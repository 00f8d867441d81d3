// The SQLite engine's endpoints: create, read, update (status, ordering, URL), rotate the
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
import { num, toWebhook, type Row } from '../rows.js';
import { SqlitePart, type SqliteHandle, type Stmt } from './connection.js';
import type { SqliteOperational } from './operational.js';
import { switchOrdering } from './ordering.js';
import { markDeleted } from './deleted.js';

/** Whether the account may have deliveries attempted (not suspended, not deleted). */
export function accountActive(stmt: Stmt, accountId: string): boolean {
  return (
    stmt("SELECT 1 FROM accounts WHERE id = ? AND status = 'active'").get(accountId) !== undefined
  );
}

/** A disabled endpoint's pending deliveries wait, off the due index, until it is enabled. */
export function parkEndpoint(stmt: Stmt, webhookId: string): void {
  stmt(
    'UPDATE deliveries SET due_at = NULL WHERE webhook_id = ? AND due_at IS NOT NULL AND lease_token IS NULL',
  ).run(webhookId);
}

/**
 * SQL: back on the due index, the deliveries that `scope` picks (a condition with its own
 * parameters, after three of the time): a manual retry due then, a pending delivery at its next
 * attempt; those waiting in a key's order stay off it until their head finishes. Enabling an
 * endpoint and reactivating an account both go through it.
 */
export const unparkDeliveries = (scope: string) => `
  UPDATE deliveries SET held = 0, due_at = CASE
      WHEN manual_requested = 1 THEN ?
      ELSE max(coalesce(next_attempt_at, ?), ?) END
  WHERE ${scope} AND due_at IS NULL
    AND (manual_requested = 1
      OR (status = 'pending' AND coalesce(order_state, '') <> 'waiting'))`;

function unparkEndpoint(stmt: Stmt, webhookId: string, now: number): void {
  stmt(unparkDeliveries('webhook_id = ?')).run(now, now, now, webhookId);
}

export class SqliteWebhooks extends SqlitePart {
  constructor(
    h: SqliteHandle,
    private readonly operational: SqliteOperational,
  ) {
    super(h);
  }

  async createWebhook(
    w: NewWebhook,
    maxEndpoints: number,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook | 'limit_reached'> {
    return this.tx(() => {
      const count = num(
        (
          this.stmt('SELECT count(*) AS n FROM webhooks WHERE account_id = ?').get(
            w.accountId,
          ) as Row
        ).n,
      );
      if (count >= maxEndpoints) return 'limit_reached' as const;
      const c = newWebhookColumns(w);
      this.stmt(
        `INSERT INTO webhooks (id, account_id, url, description, events, status, disabled_reason,
           rate_limit_per_minute, secret, headers, filter, created_at, updated_at, ordering)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        w.id,
        w.accountId,
        c.url,
        c.description,
        c.events,
        c.status,
        c.disabledReason,
        c.rateLimitPerMinute,
        c.sealedSecret,
        c.headers,
        c.filter,
        w.now,
        w.now,
        c.ordering,
      );
      this.stmt(
        `UPDATE webhooks SET account_rate_limit_per_minute =
           (SELECT endpoint_rate_limit_per_minute FROM accounts WHERE id = ?) WHERE id = ?`,
      ).run(w.accountId, w.id);
      const created = toWebhook(this.stmt('SELECT * FROM webhooks WHERE id = ?').get(w.id) as Row);
      this.audit(webhookCreated(created, actor, w.now));
      return created;
    });
  }

  async getWebhook(accountId: string, id: string): Promise<Webhook | null> {
    const row = await this.run(
      () =>
        this.stmt('SELECT * FROM webhooks WHERE account_id = ? AND id = ?').get(
          accountId,
          id,
        ) as Row,
    );
    return row ? toWebhook(row) : null;
  }

  async listWebhooks(accountId: string, page: Page): Promise<Webhook[]> {
    const rows = await this.run(
      () =>
        this.stmt(
          `SELECT * FROM webhooks WHERE account_id = ? AND (? IS NULL OR id < ?)
           ORDER BY id DESC LIMIT ?`,
        ).all(accountId, page.after, page.after, page.limit) as Row[],
    );
    return rows.map(toWebhook);
  }

  async countWebhooks(accountId: string): Promise<number> {
    return this.run(() =>
      num(
        (this.stmt('SELECT count(*) AS n FROM webhooks WHERE account_id = ?').get(accountId) as Row)
          .n,
      ),
    );
  }

  async updateWebhook(
    accountId: string,
    id: string,
    patch: WebhookPatch,
    now: number,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook | null> {
    const result = await this.tx(() => {
      const row = this.stmt('SELECT * FROM webhooks WHERE account_id = ? AND id = ?').get(
        accountId,
        id,
      ) as Row | undefined;
      if (!row) return null;
      const before = toWebhook(row);
      const c = patchedWebhook(before, patch);
      this.stmt(
        `UPDATE webhooks SET url = ?, description = ?, events = ?, status = ?, disabled_reason = ?,
           rate_limit_per_minute = ?, secret = ?, headers = ?, filter = ?, updated_at = ?,
           ordering = ?,
           failing_since = CASE WHEN ? = 'enabled' AND status = 'disabled' THEN NULL ELSE failing_since END
         WHERE id = ?`,
      ).run(
        c.url,
        c.description,
        c.events,
        c.status,
        c.disabledReason,
        c.rateLimitPerMinute,
        c.sealedSecret,
        c.headers,
        c.filter,
        now,
        c.ordering,
        c.status,
        id,
      );
      if (patch.url !== undefined) {
        this.stmt("UPDATE deliveries SET url = ? WHERE webhook_id = ? AND status = 'pending'").run(
          patch.url,
          id,
        );
      }
      if (c.statusChanged) {
        if (c.status === 'disabled') parkEndpoint(this.stmt, id);
        else if (accountActive(this.stmt, accountId)) unparkEndpoint(this.stmt, id, now);
        const after = { id, url: c.url };
        this.operational.publish(
          accountId,
          c.status === 'disabled' ? webhookDisabled(after, 'manual') : webhookEnabled(after),
          now,
        );
      }
      if (c.reordered) switchOrdering(this.stmt, id, c.ordering, now);
      const after = toWebhook(this.stmt('SELECT * FROM webhooks WHERE id = ?').get(id) as Row);
      const record = webhookUpdated(before, after, actor, now);
      if (record) this.audit(record);
      return {
        webhook: after,
        woke: c.wakes,
      };
    });
    if (this.operational.takeWake()) this.notify();
    if (!result) return null;
    if (result.woke) this.notify();
    return result.webhook;
  }

  async rotateSecret(
    accountId: string,
    id: string,
    rotation: SecretRotation,
    now: number,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Webhook | null> {
    return this.tx(() => {
      const info = this.stmt(
        `UPDATE webhooks SET previous_secret = ?, previous_secret_expires_at = ?, secret = ?,
           updated_at = ?
         WHERE account_id = ? AND id = ?`,
      ).run(
        rotation.sealedPreviousSecret,
        rotation.previousExpiresAt,
        rotation.sealedSecret,
        now,
        accountId,
        id,
      );
      if (info.changes === 0) return null;
      this.audit(secretRotated(accountId, id, rotation, actor, now));
      return toWebhook(this.stmt('SELECT * FROM webhooks WHERE id = ?').get(id) as Row);
    });
  }

  async deleteWebhook(
    accountId: string,
    id: string,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<boolean> {
    return this.tx(() => {
      const existing = this.stmt('SELECT * FROM webhooks WHERE account_id = ? AND id = ?').get(
        accountId,
        id,
      ) as Row | undefined;
      const info = this.stmt('DELETE FROM webhooks WHERE account_id = ? AND id = ?').run(
        accountId,
        id,
      );
      if (info.changes === 0) return false;
      // Its history goes in the background (purgeDeleted): removing 200,000 deliveries here
      // held the writer for 1.0-1.4 s, and every endpoint's deliveries with it.
      markDeleted((sql) => this.stmt(sql), 'webhook', id, Date.now());
      this.audit(webhookDeleted(toWebhook(existing!), actor, Date.now()));
      return true;
    });
  }

  async configureOperatorWebhook(
    setting: { url: string; sealedSecret: string } | null,
    now: number,
  ): Promise<void> {
    await this.tx(() => this.operational.configureOperator(setting, now));
    this.notify();
  }
}
