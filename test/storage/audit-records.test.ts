// The audit records both engines write (src/storage/audit-records.ts), checked without an
// engine; the contract suite checks that each change writes its record.
import { describe, expect, it } from 'vitest';
import {
  accountCreated,
  accountUpdated,
  apiKeyRevoked,
  auditRow,
  firstApiKey,
  secretRotated,
  webhookAutoDisabled,
  webhookUpdated,
} from '../../src/storage/audit-records.js';
import { UNTHROTTLED } from '../../src/storage/throttle.js';
import type { Account, Webhook } from '../../src/storage/types.js';

const T = 1_700_000_000_000;
const actor = { type: 'admin' as const, id: null };

const account: Account = {
  id: 'acc_01abc',
  name: 'acme',
  status: 'active',
  limits: {
    maxEndpoints: null,
    apiRateLimitPerMinute: null,
    publishRateLimitPerMinute: null,
    endpointRateLimitPerMinute: null,
  },
  createdAt: T,
};

const webhook: Webhook = {
  id: 'wh_1',
  accountId: 'acc_01abc',
  url: 'https://example.com/hook',
  description: null,
  events: ['call.*'],
  status: 'enabled',
  disabledReason: null,
  rateLimitPerMinute: null,
  accountRateLimitPerMinute: null,
  sealedSecret: 'sealed-1',
  sealedPreviousSecret: null,
  previousSecretExpiresAt: null,
  throttle: UNTHROTTLED,
  headers: {},
  filter: null,
  ordering: 'none',
  createdAt: T,
  updatedAt: T,
};

describe('auditRow', () => {
  it('gives the audit_log columns in order, the changes as JSON that jsonb takes', () => {
    const row = auditRow({
      accountId: 'acc_1',
      actor: { type: 'api_key', id: 'key_1' },
      action: 'webhook.updated',
      targetId: 'wh_1',
      changes: { description: { old: 'a\ud800', new: 'b' } },
      at: T,
    });
    expect(row[0]).toMatch(/^aud_/);
    expect(row.slice(1)).toEqual([
      'acc_1',
      T,
      'api_key',
      'key_1',
      'webhook.updated',
      'wh_1',
      '{"description":{"old":"a\ufffd","new":"b"}}',
    ]);
  });
});

describe('accounts', () => {
  it('makes the default key from a bare hash, with every scope, and keeps a given key', () => {
    const key = firstApiKey(
      { id: 'acc_01abc', name: 'acme', createdAt: T } as never,
      'hash-of-key',
    );
    expect(key).toMatchObject({ id: 'key_01abc', name: 'Default key', keyHash: 'hash-of-key' });
    expect(key.scopes.length).toBeGreaterThan(1);
    const given = { ...key, id: 'key_given' };
    expect(firstApiKey({ id: 'acc_01abc' } as never, given)).toBe(given);
  });

  it('records a new account and its first key, at its creation time', () => {
    const key = firstApiKey(account, 'h');
    const [created, keyCreated] = accountCreated(account, key, actor);
    expect(created).toEqual({
      accountId: 'acc_01abc',
      actor,
      action: 'account.created',
      targetId: 'acc_01abc',
      changes: { name: { old: null, new: 'acme' }, status: { old: null, new: 'active' } },
      at: T,
    });
    expect(keyCreated).toMatchObject({ action: 'api_key.created', targetId: 'key_01abc', at: T });
    expect(keyCreated!.changes.name).toEqual({ old: null, new: 'Default key' });
  });

  it('records an update only when a field the log shows changed', () => {
    expect(accountUpdated(account, { ...account }, actor, T + 1)).toBeNull();
    const after = { ...account, limits: { ...account.limits, maxEndpoints: 5 } };
    expect(accountUpdated(account, after, actor, T + 1)).toEqual({
      accountId: 'acc_01abc',
      actor,
      action: 'account.updated',
      targetId: 'acc_01abc',
      changes: { max_endpoints: { old: null, new: 5 } },
      at: T + 1,
    });
  });

  it('records a revocation with its time', () => {
    expect(apiKeyRevoked('acc_1', 'key_1', actor, T).changes).toEqual({
      revoked_at: { old: null, new: new Date(T).toISOString() },
    });
  });
});

describe('webhooks', () => {
  it('calls a change of the status alone webhook.enabled or webhook.disabled', () => {
    const disabled = { ...webhook, status: 'disabled' as const, disabledReason: 'manual' as const };
    expect(webhookUpdated(webhook, disabled, actor, T)?.action).toBe('webhook.disabled');
    expect(webhookUpdated(disabled, webhook, actor, T)?.action).toBe('webhook.enabled');
    const moved = { ...disabled, url: 'https://example.com/other' };
    expect(webhookUpdated(webhook, moved, actor, T)?.action).toBe('webhook.updated');
    expect(webhookUpdated(webhook, { ...webhook, updatedAt: T + 1 }, actor, T)).toBeNull();
  });

  it('never shows a secret, only that it changed', () => {
    const rotated = secretRotated('acc_1', 'wh_1', { previousExpiresAt: T } as never, actor, T);
    expect(rotated.changes).toEqual({
      secret: { old: '[redacted]', new: '[redacted]' },
      previous_secret_expires_at: { old: null, new: new Date(T).toISOString() },
    });
    const resealed = { ...webhook, sealedSecret: 'sealed-2' };
    expect(webhookUpdated(webhook, resealed, actor, T)?.changes).toEqual({
      secret: { old: '[redacted]', new: '[redacted]' },
    });
  });

  it('records an automatic disable as the system, with its reason', () => {
    expect(webhookAutoDisabled('acc_1', 'wh_1', 'gone', T)).toEqual({
      accountId: 'acc_1',
      actor: { type: 'system', id: null },
      action: 'webhook.disabled',
      targetId: 'wh_1',
      changes: {
        status: { old: 'enabled', new: 'disabled' },
        disabled_reason: { old: null, new: 'gone' },
      },
      at: T,
    });
  });
});
