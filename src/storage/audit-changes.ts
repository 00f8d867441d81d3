// What an audit record says changed: each field whose value differs, with its old and new
// value. Pure: no I/O. Secrets and keys never appear; a changed secret shows as redacted.
import type { AuditChanges, Webhook } from './types.js';

export const REDACTED = '[redacted]';

/** The fields of `before` and `after` (either may be null: created, deleted) that differ. */
export function diff(
  before: Record<string, unknown> | null,
  after: Record<string, unknown> | null,
): AuditChanges {
  const changes: AuditChanges = {};
  const keys = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  for (const key of keys) {
    const old = before ? (before[key] ?? null) : null;
    const value = after ? (after[key] ?? null) : null;
    if (JSON.stringify(old) !== JSON.stringify(value)) changes[key] = { old, new: value };
  }
  return changes;
}

/** A webhook as the audit log shows it: API field names, the secret only as "changed". */
export function auditedWebhook(w: Webhook): Record<string, unknown> {
  return {
    url: w.url,
    description: w.description,
    events: w.events,
    status: w.status,
    disabled_reason: w.disabledReason,
    rate_limit_per_minute: w.rateLimitPerMinute,
    // Only whether it changed: the sealed value differs whenever the secret does.
    secret: w.sealedSecret,
  };
}

/** The changes between two webhook states, with the secret's values redacted. */
export function webhookChanges(before: Webhook | null, after: Webhook | null): AuditChanges {
  const changes = diff(before && auditedWebhook(before), after && auditedWebhook(after));
  if (changes.secret) {
    changes.secret = { old: before ? REDACTED : null, new: after ? REDACTED : null };
  }
  return changes;
}

/** A UTF-16 surrogate without its other half: a JS string (and a JSON "\ud800") may hold one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The changes as both engines store them: JSON that any JSON column takes. A lone surrogate
 * becomes U+FFFD, as it does in every text column once encoded as UTF-8; left as it is,
 * JSON.stringify writes it as a "\ud800" escape, which PostgreSQL's jsonb refuses (a webhook
 * description or key name holding one would fail its change with a 500).
 */
export function changesJson(changes: AuditChanges): string {
  return JSON.stringify(changes, (_key, value: unknown) =>
    typeof value === 'string' ? value.replace(LONE_SURROGATE, '\ufffd') : value,
  );
}
