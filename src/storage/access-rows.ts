// Rows of the access tables (api_keys, portal_sessions, audit_log) to domain objects, shared by
// both engines: SQLite hands JSON back as text and booleans as 0/1, PostgreSQL as values.
import type { ApiKey, AuditChanges, AuditEntry, PortalSession, Scope } from './access-types.js';
import { num, numOrNull, strOrNull, type Row } from './rows.js';

function json<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

export function toApiKey(row: Row): ApiKey {
  return {
    id: String(row.id),
    accountId: String(row.account_id),
    name: String(row.name),
    scopes: json<Scope[]>(row.scopes),
    prefix: String(row.prefix),
    createdAt: num(row.created_at),
    expiresAt: numOrNull(row.expires_at),
    lastUsedAt: numOrNull(row.last_used_at),
  };
}

export function toPortalSession(row: Row): PortalSession {
  return {
    id: String(row.id),
    accountId: String(row.account_id),
    readOnly: row.read_only === true || row.read_only === 1,
    createdAt: num(row.created_at),
    expiresAt: num(row.expires_at),
  };
}

export function toAuditEntry(row: Row): AuditEntry {
  return {
    id: String(row.id),
    accountId: String(row.account_id),
    at: num(row.at),
    actor: {
      type: String(row.actor_type) as AuditEntry['actor']['type'],
      id: strOrNull(row.actor_id),
    },
    action: String(row.action),
    targetId: String(row.target_id),
    changes: json<AuditChanges>(row.changes),
  };
}

/** Columns prefixed `a_` in a join, read as an account row. */
export function accountColumns(row: Row): Row {
  const out: Row = {};
  for (const [key, value] of Object.entries(row)) {
    if (key.startsWith('a_')) out[key.slice(2)] = value;
  }
  return out;
}
