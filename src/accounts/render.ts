// Accounts, keys and audit records as the API shows them.
import { Type, type Static } from '@sinclair/typebox';
import type { Config } from '../config.js';
import { iso, isoOrNull } from '../http/context.js';
import type { Account, ApiKey, AuditEntry } from '../storage/index.js';

export const LimitsBody = Type.Object({
  max_endpoints: Type.Integer(),
  api_rate_limit_per_minute: Type.Integer(),
  endpoint_rate_limit_per_minute: Type.Integer(),
  publish_rate_limit_per_minute: Type.Union([Type.Integer(), Type.Null()]),
});

export const AccountBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('suspended')]),
  limits: LimitsBody,
  usage: Type.Object({ endpoints: Type.Integer() }),
  created_at: Type.String(),
});

/** The limits in force: the account's own where the operator set one, else the service's. */
export function effectiveLimits(account: Account, config: Config): Static<typeof LimitsBody> {
  const own = account.limits;
  return {
    max_endpoints: own.maxEndpoints ?? config.maxEndpoints,
    api_rate_limit_per_minute: own.apiRateLimitPerMinute ?? config.apiRateLimit,
    endpoint_rate_limit_per_minute: own.endpointRateLimitPerMinute ?? config.endpointRateLimit,
    publish_rate_limit_per_minute: own.publishRateLimitPerMinute ?? config.publishRateLimit,
  };
}

export function renderAccount(
  account: Account,
  endpoints: number,
  config: Config,
): Static<typeof AccountBody> {
  return {
    id: account.id,
    name: account.name,
    status: account.status,
    limits: effectiveLimits(account, config),
    usage: { endpoints },
    created_at: iso(account.createdAt),
  };
}

export const ScopeSchema = Type.Union([
  Type.Literal('publish'),
  Type.Literal('read'),
  Type.Literal('manage'),
  Type.Literal('keys'),
]);

export const ApiKeyBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(ScopeSchema),
  prefix: Type.String({ description: "The key's first characters, to tell keys apart." }),
  created_at: Type.String(),
  expires_at: Type.Union([Type.String(), Type.Null()]),
  last_used_at: Type.Union([Type.String(), Type.Null()]),
});

export function renderApiKey(key: ApiKey, lastUsedHere: number | null): Static<typeof ApiKeyBody> {
  const lastUsed = Math.max(key.lastUsedAt ?? 0, lastUsedHere ?? 0);
  return {
    id: key.id,
    name: key.name,
    scopes: key.scopes,
    prefix: key.prefix,
    created_at: iso(key.createdAt),
    expires_at: isoOrNull(key.expiresAt),
    last_used_at: lastUsed > 0 ? iso(lastUsed) : null,
  };
}

export const AuditEntryBody = Type.Object({
  id: Type.String(),
  at: Type.String(),
  actor: Type.Object({
    type: Type.Union([
      Type.Literal('api_key'),
      Type.Literal('portal_session'),
      Type.Literal('admin'),
      Type.Literal('system'),
    ]),
    id: Type.Union([Type.String(), Type.Null()]),
  }),
  action: Type.String({ description: '`<object>.<verb>`, e.g. `webhook.updated`' }),
  target_id: Type.String(),
  changes: Type.Record(Type.String(), Type.Object({ old: Type.Unknown(), new: Type.Unknown() }), {
    description: 'Each changed field with its old and new value; never a secret or a key.',
  }),
});

export function renderAudit(entry: AuditEntry): Static<typeof AuditEntryBody> {
  return {
    id: entry.id,
    at: iso(entry.at),
    actor: entry.actor,
    action: entry.action,
    target_id: entry.targetId,
    changes: entry.changes,
  };
}
