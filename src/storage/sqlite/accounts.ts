// The SQLite engine's side of AccessStorage: accounts with status and limits, API keys,
// portal sessions, the audit log, and the background removal of deleted accounts' rows.
import {
  ACCOUNT_COLUMNS,
  accountColumns,
  toApiKey,
  toAuditEntry,
  toPortalSession,
} from '../access-rows.js';
import {
  accountCreated,
  accountUpdated,
  apiKeyCreated,
  apiKeyRevoked,
  firstApiKey,
  portalSessionCreated,
} from '../audit-records.js';
import { rowsRemoved } from '../deleted-owners.js';
import { num, toAccount, type Row } from '../rows.js';
import {
  SYSTEM_ACTOR,
  type Account,
  type AccountPatch,
  type Actor,
  type Page,
  type ApiKey,
  type AuditEntry,
  type KeyCredential,
  type NewAccount,
  type NewApiKey,
  type NewPortalSession,
  type PortalCredential,
  type PortalSession,
} from '../types.js';
import { writeAudit } from './audit.js';
import type { SqliteHandle } from './connection.js';
import { markDeleted, purgeDeletedBatch } from './deleted.js';
import { unparkDeliveries } from './webhooks.js';

export class SqliteAccess {
  constructor(private readonly h: SqliteHandle) {}

  private liveAccount(id: string): Account | null {
    const row = this.h
      .stmt("SELECT * FROM accounts WHERE id = ? AND status <> 'deleted'")
      .get(id) as Row | undefined;
    return row ? toAccount(row) : null;
  }

  private insertKey(accountId: string, key: NewApiKey, now: number): void {
    this.h
      .stmt(
        `INSERT INTO api_keys (id, account_id, name, scopes, prefix, key_hash, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        key.id,
        accountId,
        key.name,
        JSON.stringify(key.scopes),
        key.prefix,
        key.keyHash,
        now,
        key.expiresAt,
      );
  }

  async createAccount(
    account: NewAccount,
    firstKey: string | NewApiKey,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Account> {
    const key = firstApiKey(account, firstKey);
    return this.h.tx(() => {
      this.h
        .stmt('INSERT INTO accounts (id, name, api_key_hash, created_at) VALUES (?, ?, ?, ?)')
        .run(account.id, account.name, `moved:${account.id}`, account.createdAt);
      this.insertKey(account.id, key, account.createdAt);
      const created = this.liveAccount(account.id)!;
      for (const record of accountCreated(created, key, actor)) writeAudit(this.h.stmt, record);
      return created;
    });
  }

  async findApiKey(keyHash: string, now: number): Promise<KeyCredential | null> {
    const row = await this.h.run(
      () =>
        this.h
          .stmt(
            `SELECT k.*, ${ACCOUNT_COLUMNS} FROM api_keys k JOIN accounts a ON a.id = k.account_id
             WHERE k.key_hash = ? AND k.revoked_at IS NULL
               AND (k.expires_at IS NULL OR k.expires_at > ?) AND a.status <> 'deleted'`,
          )
          .get(keyHash, now) as Row | undefined,
    );
    return row ? { key: toApiKey(row), account: toAccount(accountColumns(row)) } : null;
  }

  async findAccountByKeyHash(keyHash: string, now = Date.now()): Promise<Account | null> {
    return (await this.findApiKey(keyHash, now))?.account ?? null;
  }

  async getAccount(id: string): Promise<Account | null> {
    return this.h.run(() => this.liveAccount(id));
  }

  async countAccounts(): Promise<number> {
    return this.h.run(() =>
      num(
        (this.h.stmt("SELECT count(*) AS n FROM accounts WHERE status <> 'deleted'").get() as Row)
          .n,
      ),
    );
  }

  async listAccounts(page: Page): Promise<Account[]> {
    const rows = await this.h.run(
      () =>
        this.h
          .stmt(
            `SELECT * FROM accounts WHERE status <> 'deleted' AND (? IS NULL OR id < ?)
             ORDER BY id DESC LIMIT ?`,
          )
          .all(page.after, page.after, page.limit) as Row[],
    );
    return rows.map(toAccount);
  }

  /**
   * Off the due index: the account's deliveries wait (the claim never sees them). Those leased
   * live at `now` keep their lease. Returns how many it parked.
   */
  private park(accountId: string, now: number): number {
    return this.h
      .stmt(
        `UPDATE deliveries SET due_at = NULL, held = 0
         WHERE account_id = ? AND (due_at IS NOT NULL OR held = 1)
           AND (lease_token IS NULL OR due_at <= ?)`,
      )
      .run(accountId, now).changes;
  }

  /** Back on the due index, for its enabled endpoints, as enabling an endpoint does. */
  private unpark(accountId: string, now: number): number {
    return this.h
      .stmt(
        unparkDeliveries(
          `account_id = ?
           AND webhook_id IN (SELECT id FROM webhooks WHERE account_id = ? AND status = 'enabled')`,
        ),
      )
      .run(now, now, now, accountId, accountId).changes;
  }

  async updateAccount(
    id: string,
    patch: AccountPatch,
    actor: Actor,
    now: number,
  ): Promise<Account | null> {
    const result = await this.h.tx(() => {
      const before = this.liveAccount(id);
      if (!before) return null;
      const limits = { ...before.limits, ...patch.limits };
      this.h
        .stmt(
          `UPDATE accounts SET name = ?, status = ?, max_endpoints = ?, api_rate_limit_per_minute = ?,
             publish_rate_limit_per_minute = ?, endpoint_rate_limit_per_minute = ?
           WHERE id = ?`,
        )
        .run(
          patch.name ?? before.name,
          patch.status ?? before.status,
          limits.maxEndpoints,
          limits.apiRateLimitPerMinute,
          limits.publishRateLimitPerMinute,
          limits.endpointRateLimitPerMinute,
          id,
        );
      if (limits.endpointRateLimitPerMinute !== before.limits.endpointRateLimitPerMinute) {
        this.h
          .stmt('UPDATE webhooks SET account_rate_limit_per_minute = ? WHERE account_id = ?')
          .run(limits.endpointRateLimitPerMinute, id);
      }
      let woke = false;
      if (patch.status && patch.status !== before.status) {
        if (patch.status === 'suspended') this.park(id, now);
        else woke = this.unpark(id, now) > 0;
      }
      const after = this.liveAccount(id)!;
      const record = accountUpdated(before, after, actor, now);
      if (record) writeAudit(this.h.stmt, record);
      return { account: after, woke };
    });
    if (result?.woke) this.h.notify();
    return result?.account ?? null;
  }

  async deleteAccount(id: string, _actor: Actor, now: number): Promise<boolean> {
    // The account's audit log goes with it, so the deletion is not recorded there; the
    // operator's own logs have the request.
    return this.h.tx(() => {
      const info = this.h
        .stmt(
          "UPDATE accounts SET status = 'deleted', deleted_at = ? WHERE id = ? AND status <> 'deleted'",
        )
        .run(now, id);
      if (info.changes === 0) return false;
      this.park(id, now);
      // Its rows go in the background, with deleted endpoints' history (deleted.ts).
      markDeleted(this.h.stmt, 'account', id, now);
      return true;
    });
  }

  /** One batch of the oldest deleted account's rows (the deleted owners' purge, deleted.ts). */
  async purgeDeletedAccounts(batch: number): Promise<number> {
    return this.h.tx(() =>
      rowsRemoved(purgeDeletedBatch(this.h.stmt, batch, Date.now(), 'account')),
    );
  }

  async parkInactiveAccounts(now: number): Promise<number> {
    return this.h.tx(() => {
      let n = 0;
      const ids = this.h.stmt("SELECT id FROM accounts WHERE status <> 'active'").all() as Row[];
      for (const row of ids) n += this.park(String(row.id), now);
      return n;
    });
  }

  // ---- API keys ----

  async createApiKey(
    accountId: string,
    key: NewApiKey,
    actor: Actor,
    now: number,
  ): Promise<ApiKey> {
    return this.h.tx(() => {
      this.insertKey(accountId, key, now);
      writeAudit(this.h.stmt, apiKeyCreated(accountId, key, actor, now));
      return toApiKey(this.h.stmt('SELECT * FROM api_keys WHERE id = ?').get(key.id) as Row);
    });
  }

  async listApiKeys(accountId: string, page: Page): Promise<ApiKey[]> {
    const rows = await this.h.run(
      () =>
        this.h
          .stmt(
            `SELECT * FROM api_keys WHERE account_id = ? AND revoked_at IS NULL
               AND (? IS NULL OR id < ?)
             ORDER BY id DESC LIMIT ?`,
          )
          .all(accountId, page.after, page.after, page.limit) as Row[],
    );
    return rows.map(toApiKey);
  }

  async revokeApiKey(accountId: string, id: string, actor: Actor, now: number): Promise<boolean> {
    return this.h.tx(() => {
      const row = this.h
        .stmt('SELECT * FROM api_keys WHERE account_id = ? AND id = ? AND revoked_at IS NULL')
        .get(accountId, id) as Row | undefined;
      if (!row) return false;
      this.h.stmt('UPDATE api_keys SET revoked_at = ? WHERE id = ?').run(now, id);
      writeAudit(this.h.stmt, apiKeyRevoked(accountId, id, actor, now));
      return true;
    });
  }

  async touchApiKeys(lastUsed: Map<string, number>): Promise<void> {
    if (lastUsed.size === 0) return;
    await this.h.tx(() => {
      const touch = this.h.stmt(
        'UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?',
      );
      for (const [id, at] of lastUsed) touch.run(at, id);
    });
  }

  // ---- portal sessions ----

  async createPortalSession(session: NewPortalSession, actor: Actor): Promise<PortalSession> {
    return this.h.tx(() => {
      this.h
        .stmt(
          `INSERT INTO portal_sessions (id, account_id, token_hash, read_only, created_at, expires_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
        )
        .run(
          session.id,
          session.accountId,
          session.tokenHash,
          session.readOnly ? 1 : 0,
          session.now,
          session.expiresAt,
        );
      writeAudit(this.h.stmt, portalSessionCreated(session, actor));
      return toPortalSession(
        this.h.stmt('SELECT * FROM portal_sessions WHERE id = ?').get(session.id) as Row,
      );
    });
  }

  async findPortalSession(tokenHash: string, now: number): Promise<PortalCredential | null> {
    const row = await this.h.run(
      () =>
        this.h
          .stmt(
            `SELECT s.*, ${ACCOUNT_COLUMNS} FROM portal_sessions s
             JOIN accounts a ON a.id = s.account_id
             WHERE s.token_hash = ? AND s.expires_at > ? AND a.status <> 'deleted'`,
          )
          .get(tokenHash, now) as Row | undefined,
    );
    return row ? { session: toPortalSession(row), account: toAccount(accountColumns(row)) } : null;
  }

  // ---- the audit log ----

  async listAuditLog(accountId: string, page: Page): Promise<AuditEntry[]> {
    const rows = await this.h.run(
      () =>
        this.h
          .stmt(
            `SELECT * FROM audit_log WHERE account_id = ? AND (? IS NULL OR id < ?)
             ORDER BY id DESC LIMIT ?`,
          )
          .all(accountId, page.after, page.after, page.limit) as Row[],
    );
    return rows.map(toAuditEntry);
  }

  async purgeAuditLog(before: number, batch: number): Promise<number> {
    return this.h.tx(() => {
      const audit = this.h
        .stmt('DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? LIMIT ?)')
        .run(before, batch).changes;
      // Expired portal sessions go with the same sweep: nothing can use them any more.
      this.h
        .stmt(
          'DELETE FROM portal_sessions WHERE id IN (SELECT id FROM portal_sessions WHERE expires_at < ? LIMIT ?)',
        )
        .run(before, batch);
      return audit;
    });
  }
}
