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
import { webhookDisabled, webhookEnabled } from '../../events/operational.js';
import { REDACTED, webhookChanges } from '../../audit/changes.js';
import { num, toWebhook, type Row } from '../rows.js';
import { SqlitePart, type SqliteHandle, type Stmt } from './connection.js';
import type { SqliteOperational } from './operational.js';
import { switchOrdering } from './ordering.js';
import { markDeleted } from './rollups.js';

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

function unparkEndpoint(stmt: Stmt, webhookId: string, now: number): void {
  stmt(
    `UPDATE deliveries SET held = 0, due_at = CASE
         WHEN manual_requested = 1 THEN ?
         WHEN status = 'pending' AND coalesce(order_state, '') <> 'waiting'
           THEN max(coalesce(next_attempt_at, ?), ?)
         ELSE NULL END
     WHERE webhook_id = ? AND due_at IS NULL AND (status = 'pending' OR manual_requested = 1)`,
  ).run(now, now, now, webhookId);
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
      this.stmt(
        `INSERT INTO webhooks (id, account_id, url, description, events, status, disabled_reason,
           rate_limit_per_minute, secret, headers, filter, created_at, updated_at, ordering)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        w.id,
        w.accountId,
        w.url,
        w.description,
        JSON.stringify(w.events),
        w.status,
        w.status === 'disabled' ? 'manual' : null,
        w.rateLimitPerMinute,
        w.sealedSecret,
        JSON.stringify(w.headers ?? {}),
        w.filter ? JSON.stringify(w.filter) : null,
        w.now,
        w.now,
        w.ordering ?? 'none',
      );
      this.stmt(
        `UPDATE webhooks SET account_rate_limit_per_minute =
           (SELECT endpoint_rate_limit_per_minute FROM accounts WHERE id = ?) WHERE id = ?`,
      ).run(w.accountId, w.id);
      const created = toWebhook(this.stmt('SELECT * FROM webhooks WHERE id = ?').get(w.id) as Row);
      this.audit({
        accountId: w.accountId,
        actor,
        action: 'webhook.created',
        targetId: w.id,
        changes: webhookChanges(null, created),
        at: w.now,
      });
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
      const status = patch.status ?? before.status;
      const reason =
        status === 'enabled'
          ? null
          : patch.status === 'disabled'
            ? 'manual'
            : before.disabledReason;
      this.stmt(
        `UPDATE webhooks SET url = ?, description = ?, events = ?, status = ?, disabled_reason = ?,
           rate_limit_per_minute = ?, secret = ?, headers = ?, filter = ?, updated_at = ?,
           ordering = ?,
           failing_since = CASE WHEN ? = 'enabled' AND status = 'disabled' THEN NULL ELSE failing_since END
         WHERE id = ?`,
      ).run(
        patch.url ?? before.url,
        patch.description !== undefined ? patch.description : before.description,
        JSON.stringify(patch.events ?? before.events),
        status,
        reason,
        patch.rateLimitPerMinute !== undefined
          ? patch.rateLimitPerMinute
          : before.rateLimitPerMinute,
        patch.sealedSecret ?? before.sealedSecret,
        JSON.stringify(patch.headers ?? before.headers),
        (patch.filter !== undefined ? patch.filter : before.filter) === null
          ? null
          : JSON.stringify(patch.filter !== undefined ? patch.filter : before.filter),
        now,
        patch.ordering ?? before.ordering,
        status,
        id,
      );
      if (patch.url !== undefined) {
        this.stmt("UPDATE deliveries SET url = ? WHERE webhook_id = ? AND status = 'pending'").run(
          patch.url,
          id,
        );
      }
      if (before.status !== status) {
        if (status === 'disabled') parkEndpoint(this.stmt, id);
        else if (accountActive(this.stmt, accountId)) unparkEndpoint(this.stmt, id, now);
        const after = { id, url: patch.url ?? before.url };
        this.operational.publish(
          accountId,
          status === 'disabled' ? webhookDisabled(after, 'manual') : webhookEnabled(after),
          now,
        );
      }
      const reordered = patch.ordering !== undefined && patch.ordering !== before.ordering;
      if (reordered) switchOrdering((sql) => this.stmt(sql), id, patch.ordering!, now);
      const after = toWebhook(this.stmt('SELECT * FROM webhooks WHERE id = ?').get(id) as Row);
      this.auditWebhookChange(before, after, actor, now);
      return {
        webhook: after,
        woke: (before.status !== status && status === 'enabled') || reordered,
      };
    });
    if (this.operational.takeWake()) this.notify();
    if (!result) return null;
    if (result.woke) this.notify();
    return result.webhook;
  }

  /** `webhook.updated`, or `webhook.enabled` / `webhook.disabled` when only the status moved. */
  private auditWebhookChange(before: Webhook, after: Webhook, actor: Actor, now: number): void {
    const changes = webhookChanges(before, after);
    const fields = Object.keys(changes);
    if (fields.length === 0) return;
    const statusOnly = fields.every((f) => f === 'status' || f === 'disabled_reason');
    this.audit({
      accountId: after.accountId,
      actor,
      action: statusOnly ? `webhook.${after.status}` : 'webhook.updated',
      targetId: after.id,
      changes,
      at: now,
    });
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
      this.audit({
        accountId,
        actor,
        action: 'secret.rotated',
        targetId: id,
        changes: {
          secret: { old: REDACTED, new: REDACTED },
          previous_secret_expires_at: {
            old: null,
            new: new Date(rotation.previousExpiresAt).toISOString(),
          },
        },
        at: now,
      });
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
      this.audit({
        accountId,
        actor,
        action: 'webhook.deleted',
        targetId: id,
        changes: webhookChanges(toWebhook(existing!), null),
        at: Date.now(),
      });
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
