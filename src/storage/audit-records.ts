// The audit records storage writes, one builder per kind of change, shared by both engines:
// each engine's method that makes a change builds its record here and writes it (audit.ts of
// the engine) in the change's transaction. Pure: no I/O.
import { changesJson, diff, REDACTED, webhookChanges } from './audit-changes.js';
import { newId } from '../core/ids.js';
import {
  SCOPES,
  SYSTEM_ACTOR,
  type Account,
  type Actor,
  type ApiKey,
  type AuditEntry,
  type DisabledReason,
  type NewAccount,
  type NewApiKey,
  type NewPortalSession,
  type SecretRotation,
  type Webhook,
} from './types.js';

/** An audit log entry as a change writes it; the id is made when it is stored. */
export type AuditRecord = Omit<AuditEntry, 'id'>;

/** An audit_log row's values in column order: id, account_id, at, actor_type, actor_id, action, target_id, changes. */
export type AuditRow = [
  id: string,
  accountId: string,
  at: number,
  actorType: string,
  actorId: string | null,
  action: string,
  targetId: string,
  changes: string,
];

export function auditRow(record: AuditRecord): AuditRow {
  return [
    newId('aud', record.at),
    record.accountId,
    record.at,
    record.actor.type,
    record.actor.id,
    record.action,
    record.targetId,
    changesJson(record.changes),
  ];
}

// ---- accounts, keys, portal sessions ----

/** The audit log's view of an account: the fields PATCH changes, in API names. */
function auditedAccount(a: Account): Record<string, unknown> {
  return {
    name: a.name,
    status: a.status,
    max_endpoints: a.limits.maxEndpoints,
    api_rate_limit_per_minute: a.limits.apiRateLimitPerMinute,
    publish_rate_limit_per_minute: a.limits.publishRateLimitPerMinute,
    endpoint_rate_limit_per_minute: a.limits.endpointRateLimitPerMinute,
  };
}

function auditedKey(k: NewApiKey | ApiKey): Record<string, unknown> {
  return { name: k.name, scopes: k.scopes, prefix: k.prefix, expires_at: k.expiresAt };
}

/** A new account's first key: given whole, or only its hash (the default key, every scope). */
export function firstApiKey(account: NewAccount, firstKey: string | NewApiKey): NewApiKey {
  if (typeof firstKey !== 'string') return firstKey;
  return {
    id: `key_${account.id.slice(account.id.indexOf('_') + 1)}`,
    name: 'Default key',
    scopes: [...SCOPES],
    prefix: 'rzk_',
    keyHash: firstKey,
    expiresAt: null,
  };
}

/** `account.created` and `api_key.created` for its first key. */
export function accountCreated(created: Account, key: NewApiKey, actor: Actor): AuditRecord[] {
  const at = created.createdAt;
  return [
    {
      accountId: created.id,
      actor,
      action: 'account.created',
      targetId: created.id,
      changes: diff(null, auditedAccount(created)),
      at,
    },
    apiKeyCreated(created.id, key, actor, at),
  ];
}

/** `account.updated`, or nothing when the patch changed nothing the log shows. */
export function accountUpdated(
  before: Account,
  after: Account,
  actor: Actor,
  at: number,
): AuditRecord | null {
  const changes = diff(auditedAccount(before), auditedAccount(after));
  if (Object.keys(changes).length === 0) return null;
  return { accountId: after.id, actor, action: 'account.updated', targetId: after.id, changes, at };
}

export function apiKeyCreated(
  accountId: string,
  key: NewApiKey,
  actor: Actor,
  at: number,
): AuditRecord {
  return {
    accountId,
    actor,
    action: 'api_key.created',
    targetId: key.id,
    changes: diff(null, auditedKey(key)),
    at,
  };
}

export function apiKeyRevoked(
  accountId: string,
  keyId: string,
  actor: Actor,
  at: number,
): AuditRecord {
  return {
    accountId,
    actor,
    action: 'api_key.revoked',
    targetId: keyId,
    changes: { revoked_at: { old: null, new: new Date(at).toISOString() } },
    at,
  };
}

export function portalSessionCreated(session: NewPortalSession, actor: Actor): AuditRecord {
  return {
    accountId: session.accountId,
    actor,
    action: 'portal_session.created',
    targetId: session.id,
    changes: diff(null, {
      read_only: session.readOnly,
      expires_at: new Date(session.expiresAt).toISOString(),
    }),
    at: session.now,
  };
}

// ---- webhooks ----

export function webhookCreated(created: Webhook, actor: Actor, at: number): AuditRecord {
  return {
    accountId: created.accountId,
    actor,
    action: 'webhook.created',
    targetId: created.id,
    changes: webhookChanges(null, created),
    at,
  };
}

/**
 * `webhook.updated`, or `webhook.enabled` / `webhook.disabled` when only the status moved;
 * nothing when nothing the log shows changed.
 */
export function webhookUpdated(
  before: Webhook,
  after: Webhook,
  actor: Actor,
  at: number,
): AuditRecord | null {
  const changes = webhookChanges(before, after);
  const fields = Object.keys(changes);
  if (fields.length === 0) return null;
  const statusOnly = fields.every((f) => f === 'status' || f === 'disabled_reason');
  return {
    accountId: after.accountId,
    actor,
    action: statusOnly ? `webhook.${after.status}` : 'webhook.updated',
    targetId: after.id,
    changes,
    at,
  };
}

export function secretRotated(
  accountId: string,
  webhookId: string,
  rotation: SecretRotation,
  actor: Actor,
  at: number,
): AuditRecord {
  return {
    accountId,
    actor,
    action: 'secret.rotated',
    targetId: webhookId,
    changes: {
      secret: { old: REDACTED, new: REDACTED },
      previous_secret_expires_at: {
        old: null,
        new: new Date(rotation.previousExpiresAt).toISOString(),
      },
    },
    at,
  };
}

export function webhookDeleted(deleted: Webhook, actor: Actor, at: number): AuditRecord {
  return {
    accountId: deleted.accountId,
    actor,
    action: 'webhook.deleted',
    targetId: deleted.id,
    changes: webhookChanges(deleted, null),
    at,
  };
}

/** The completions disabled the endpoint (health.ts): the system did it. */
export function webhookAutoDisabled(
  accountId: string,
  webhookId: string,
  reason: DisabledReason,
  at: number,
): AuditRecord {
  return {
    accountId,
    actor: SYSTEM_ACTOR,
    action: 'webhook.disabled',
    targetId: webhookId,
    changes: {
      status: { old: 'enabled', new: 'disabled' },
      disabled_reason: { old: null, new: reason },
    },
    at,
  };
}
