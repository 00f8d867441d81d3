// The PostgreSQL engine's side of AccessStorage: accounts with status and limits, API keys,
// portal sessions, the audit log, and the background removal of deleted accounts' rows.
// Authentication is one indexed lookup per request, with no cache: a revoked key answers 401
// on every process from the commit of its revocation on.
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
import { num, toAccount } from '../rows.js';
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
import type { PostgresHandle, Query } from './connection.js';
import { markDeleted, purgeDeletedBatch } from './deleted.js';
import { unparkDeliveries } from './webhooks.js';

/**
 * Off the due index: the account's deliveries wait. Rows a claim holds right now are skipped
 * (waiting for them could deadlock with it); that claim leases them once, and their next
 * retry is parked by `parkInactiveAccounts`. Those leased live at `now` keep their lease.
 * Returns how many it parked.
 */
async function park(q: Query, accountId: string, now: number): Promise<number> {
  const parked = await q(
    `UPDATE delivery_queue SET due_at = NULL WHERE delivery_id IN (
       SELECT delivery_id FROM delivery_queue
       WHERE account_id = $1 AND due_at IS NOT NULL AND (lease_token IS NULL OR due_at <= $2)
       FOR UPDATE SKIP LOCKED)
     RETURNING 1`,
    [accountId, now],
  );
  return parked.length;
}

export class PostgresAccess {
  constructor(private readonly h: PostgresHandle) {}

  private async liveAccount(q: Query, id: string, lock = false): Promise<Account | null> {
    const [row] = await q(
      `SELECT * FROM accounts WHERE id = $1 AND status <> 'deleted'${lock ? ' FOR UPDATE' : ''}`,
      [id],
    );
    return row ? toAccount(row) : null;
  }

  private async insertKey(q: Query, accountId: string, key: NewApiKey, now: number) {
    const [row] = await q(
      `INSERT INTO api_keys (id, account_id, name, scopes, prefix, key_hash, created_at, expires_at)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8) RETURNING *`,
      [
        key.id,
        accountId,
        key.name,
        JSON.stringify(key.scopes),
        key.prefix,
        key.keyHash,
        now,
        key.expiresAt,
      ],
    );
    return toApiKey(row!);
  }

  async createAccount(
    account: NewAccount,
    firstKey: string | NewApiKey,
    actor: Actor = SYSTEM_ACTOR,
  ): Promise<Account> {
    const key = firstApiKey(account, firstKey);
    return this.h.tx(async (q) => {
      const [row] = await q(
        'INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3) RETURNING *',
        [account.id, account.name, account.createdAt],
      );
      await this.insertKey(q, account.id, key, account.createdAt);
      const created = toAccount(row!);
      await writeAudit(q, ...accountCreated(created, key, actor));
      return created;
    });
  }

  async findApiKey(keyHash: string, now: number): Promise<KeyCredential | null> {
    const [row] = await this.h.query(
      `SELECT k.*, ${ACCOUNT_COLUMNS} FROM api_keys k JOIN accounts a ON a.id = k.account_id
       WHERE k.key_hash = $1 AND k.revoked_at IS NULL
         AND (k.expires_at IS NULL OR k.expires_at > $2) AND a.status <> 'deleted'`,
      [keyHash, now],
    );
    return row ? { key: toApiKey(row), account: toAccount(accountColumns(row)) } : null;
  }

  async findAccountByKeyHash(keyHash: string, now = Date.now()): Promise<Account | null> {
    return (await this.findApiKey(keyHash, now))?.account ?? null;
  }

  async getAccount(id: string): Promise<Account | null> {
    return this.liveAccount(this.h.query, id);
  }

  async countAccounts(): Promise<number> {
    const [row] = await this.h.query(
      "SELECT count(*) AS n FROM accounts WHERE status <> 'deleted'",
    );
    return num(row!.n);
  }

  async listAccounts(page: Page): Promise<Account[]> {
    const rows = await this.h.query(
      `SELECT * FROM accounts WHERE status <> 'deleted' AND ($1::text IS NULL OR id < $1)
       ORDER BY id DESC LIMIT $2`,
      [page.after, page.limit],
    );
    return rows.map(toAccount);
  }

  async updateAccount(
    id: string,
    patch: AccountPatch,
    actor: Actor,
    now: number,
  ): Promise<Account | null> {
    const result = await this.h.tx(async (q) => {
      const before = await this.liveAccount(q, id, true);
      if (!before) return null;
      const limits = { ...before.limits, ...patch.limits };
      const [row] = await q(
        `UPDATE accounts SET name = $1, status = $2, max_endpoints = $3,
           api_rate_limit_per_minute = $4, publish_rate_limit_per_minute = $5,
           endpoint_rate_limit_per_minute = $6
         WHERE id = $7 RETURNING *`,
        [
          patch.name ?? before.name,
          patch.status ?? before.status,
          limits.maxEndpoints,
          limits.apiRateLimitPerMinute,
          limits.publishRateLimitPerMinute,
          limits.endpointRateLimitPerMinute,
          id,
        ],
      );
      const statusChanged = patch.status !== undefined && patch.status !== before.status;
      if (
        statusChanged ||
        limits.endpointRateLimitPerMinute !== before.limits.endpointRateLimitPerMinute
      ) {
        // The endpoints first, in id order as claims lock them, then their deliveries.
        await q('SELECT id FROM webhooks WHERE account_id = $1 ORDER BY id FOR NO KEY UPDATE', [
          id,
        ]);
        await q('UPDATE webhooks SET account_rate_limit_per_minute = $1 WHERE account_id = $2', [
          limits.endpointRateLimitPerMinute,
          id,
        ]);
      }
      let woke = false;
      if (statusChanged) {
        if (patch.status === 'suspended') {
          await park(q, id, now);
        } else {
          const rows = await q(
            unparkDeliveries(
              `x.webhook_id IN (SELECT id FROM webhooks WHERE account_id = $2 AND status = 'enabled')`,
            ),
            [now, id],
          );
          woke = rows.length > 0;
          if (woke) await this.h.notify(q);
        }
      }
      const after = toAccount(row!);
      const record = accountUpdated(before, after, actor, now);
      if (record) await writeAudit(q, record);
      return { account: after, woke };
    });
    if (result?.woke) this.h.emitWake();
    return result?.account ?? null;
  }

  async deleteAccount(id: string, _actor: Actor, now: number): Promise<boolean> {
    // The account's audit log goes with it, so the deletion is not recorded there.
    return this.h.tx(async (q) => {
      const rows = await q(
        `UPDATE accounts SET status = 'deleted', deleted_at = $1
         WHERE id = $2 AND status <> 'deleted' RETURNING id`,
        [now, id],
      );
      if (rows.length === 0) return false;
      await q('SELECT id FROM webhooks WHERE account_id = $1 ORDER BY id FOR NO KEY UPDATE', [id]);
      await park(q, id, now);
      // Its rows go in the background, with deleted endpoints' history (deleted.ts).
      await markDeleted(q, 'account', id, now);
      return true;
    });
  }

  /** One batch of the oldest deleted account's rows (the deleted owners' purge, deleted.ts). */
  async purgeDeletedAccounts(batch: number): Promise<number> {
    return this.h.tx(async (q) =>
      rowsRemoved(await purgeDeletedBatch(q, batch, Date.now(), 'account')),
    );
  }

  async parkInactiveAccounts(now: number): Promise<number> {
    const ids = await this.h.query("SELECT id FROM accounts WHERE status <> 'active'");
    let n = 0;
    for (const row of ids) {
      n += await this.h.tx((q) => park(q, String(row.id), now));
    }
    return n;
  }

  // ---- API keys ----

  async createApiKey(
    accountId: string,
    key: NewApiKey,
    actor: Actor,
    now: number,
  ): Promise<ApiKey> {
    return this.h.tx(async (q) => {
      const created = await this.insertKey(q, accountId, key, now);
      await writeAudit(q, apiKeyCreated(accountId, key, actor, now));
      return created;
    });
  }

  async listApiKeys(accountId: string, page: Page): Promise<ApiKey[]> {
    const rows = await this.h.query(
      `SELECT * FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL
         AND ($2::text IS NULL OR id < $2)
       ORDER BY id DESC LIMIT $3`,
      [accountId, page.after, page.limit],
    );
    return rows.map(toApiKey);
  }

  async revokeApiKey(accountId: string, id: string, actor: Actor, now: number): Promise<boolean> {
    return this.h.tx(async (q) => {
      const rows = await q(
        `UPDATE api_keys SET revoked_at = $1
         WHERE account_id = $2 AND id = $3 AND revoked_at IS NULL RETURNING id`,
        [now, accountId, id],
      );
      if (rows.length === 0) return false;
      await writeAudit(q, apiKeyRevoked(accountId, id, actor, now));
      return true;
    });
  }

  async touchApiKeys(lastUsed: Map<string, number>): Promise<void> {
    if (lastUsed.size === 0) return;
    await this.h.query(
      `UPDATE api_keys k SET last_used_at = greatest(coalesce(k.last_used_at, 0), u.at)
       FROM unnest($1::text[], $2::bigint[]) AS u(id, at) WHERE k.id = u.id`,
      [[...lastUsed.keys()], [...lastUsed.values()]],
    );
  }

  // ---- portal sessions ----

  async createPortalSession(session: NewPortalSession, actor: Actor): Promise<PortalSession> {
    return this.h.tx(async (q) => {
      const [row] = await q(
        `INSERT INTO portal_sessions (id, account_id, token_hash, read_only, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
        [
          session.id,
          session.accountId,
          session.tokenHash,
          session.readOnly,
          session.now,
          session.expiresAt,
        ],
      );
      await writeAudit(q, portalSessionCreated(session, actor));
      return toPortalSession(row!);
    });
  }

  async findPortalSession(tokenHash: string, now: number): Promise<PortalCredential | null> {
    const [row] = await this.h.query(
      `SELECT s.*, ${ACCOUNT_COLUMNS} FROM portal_sessions s
       JOIN accounts a ON a.id = s.account_id
       WHERE s.token_hash = $1 AND s.expires_at > $2 AND a.status <> 'deleted'`,
      [tokenHash, now],
    );
    return row ? { session: toPortalSession(row), account: toAccount(accountColumns(row)) } : null;
  }

  // ---- the audit log ----

  async listAuditLog(accountId: string, page: Page): Promise<AuditEntry[]> {
    const rows = await this.h.query(
      `SELECT * FROM audit_log WHERE account_id = $1 AND ($2::text IS NULL OR id < $2)
       ORDER BY id DESC LIMIT $3`,
      [accountId, page.after, page.limit],
    );
    return rows.map(toAuditEntry);
  }

  async purgeAuditLog(before: number, batch: number): Promise<number> {
    return this.h.tx(async (q) => {
      const rows = await q(
        `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 LIMIT $2)
         RETURNING 1`,
        [before, batch],
      );
      // Expired portal sessions go with the same sweep: nothing can use them any more.
      await q(
        `DELETE FROM portal_sessions WHERE id IN (
           SELECT id FROM portal_sessions WHERE expires_at < $1 LIMIT $2)`,
        [before, batch],
      );
      return rows.length;
    });
  }
}
