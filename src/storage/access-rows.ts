// Rows of the access tables (api_keys, portal_sessions, audit_log) to domain objects, shared by
// both engines: SQLite hands JSON back as text and booleans as 0/1, PostgreSQL as values.
import type { ApiKey, AuditChanges, AuditEntry, PortalSession, Scope } from './access-types.js';
import { bool, json, num, numOrNull, strOrNull, type Row } from './rows.js';

/** The account's columns as `a_*` beside another table's, for one-lookup authentication. */
export const ACCOUNT_COLUMNS = `a.id AS a_id, a.name AS a_name, a.status AS a_status,
  a.max_endpoints AS a_max_endpoints, a.api_rate_limit_per_minute AS a_api_rate_limit_per_minute,
  a.publish_rate_limit_per_minute AS a_publish_rate_limit_per_minute,
  a.endpoint_rate_limit_per_minute AS a_endpoint_rate_limit_per_minute,
  a.created_at AS a_created_at`;

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
    readOnly: bool(row.read_only),
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
