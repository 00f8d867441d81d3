// A webhook's columns on create and after a patch, as both engines write them
// (src/storage/webhook-columns.ts); the contract suite checks what the engines store.
import { describe, expect, it } from 'vitest';
import { UNTHROTTLED } from '../../src/storage/throttle.js';
import type { Webhook } from '../../src/storage/types.js';
import { newWebhookColumns, patchedWebhook } from '../../src/storage/webhook-columns.js';

const T = 1_700_000_000_000;

const before: Webhook = {
  id: 'wh_1',
  accountId: 'acc_1',
  url: 'https://example.com/hook',
  description: 'orders',
  events: ['call.*'],
  status: 'enabled',
  disabledReason: null,
  rateLimitPerMinute: 60,
  accountRateLimitPerMinute: null,
  sealedSecret: 'sealed-1',
  sealedPreviousSecret: null,
  previousSecretExpiresAt: null,
  throttle: UNTHROTTLED,
  headers: { 'x-team': 'a' },
  filter: { type: 'x' },
  ordering: 'none',
  createdAt: T,
  updatedAt: T,
};

describe('newWebhookColumns', () => {
  it('fills the defaults, and a webhook created disabled is disabled by its owner', () => {
    const columns = newWebhookColumns({
      id: 'wh_2',
      accountId: 'acc_1',
      url: 'https://example.com/a',
      description: null,
      events: ['*'],
      status: 'disabled',
      rateLimitPerMinute: null,
      sealedSecret: 's',
      now: T,
    });
    expect(columns).toEqual({
      url: 'https://example.com/a',
      description: null,
      events: '["*"]',
      status: 'disabled',
      disabledReason: 'manual',
      rateLimitPerMinute: null,
      sealedSecret: 's',
      headers: '{}',
      filter: null,
      ordering: 'none',
    });
  });
});

describe('patchedWebhook', () => {
  it('keeps what the patch leaves out', () => {
    expect(patchedWebhook(before, {})).toEqual({
      url: before.url,
      description: 'orders',
      events: '["call.*"]',
      status: 'enabled',
      disabledReason: null,
      rateLimitPerMinute: 60,
      sealedSecret: 'sealed-1',
      headers: '{"x-team":"a"}',
      filter: '{"type":"x"}',
      ordering: 'none',
      statusChanged: false,
      reordered: false,
      wakes: false,
    });
  });

  it('clears what the patch sets to null', () => {
    const c = patchedWebhook(before, { description: null, rateLimitPerMinute: null, filter: null });
    expect([c.description, c.rateLimitPerMinute, c.filter]).toEqual([null, null, null]);
  });

  it('disables as manual, enables with no reason, and keeps the reason of one left disabled', () => {
    const disabled = patchedWebhook(before, { status: 'disabled' });
    expect([disabled.status, disabled.disabledReason, disabled.statusChanged]).toEqual([
      'disabled',
      'manual',
      true,
    ]);
    const failing = { ...before, status: 'disabled' as const, disabledReason: 'failing' as const };
    expect(patchedWebhook(failing, { url: 'https://example.com/new' }).disabledReason).toBe(
      'failing',
    );
    expect(patchedWebhook(failing, { status: 'disabled' }).disabledReason).toBe('manual');
    const enabled = patchedWebhook(failing, { status: 'enabled' });
    expect([enabled.disabledReason, enabled.statusChanged]).toEqual([null, true]);
    // Enabling wakes the workers for the deliveries that waited; disabling does not.
    expect([enabled.wakes, disabled.wakes]).toEqual([true, false]);
  });

  it('reorders only when the ordering changes', () => {
    expect(patchedWebhook(before, { ordering: 'none' }).reordered).toBe(false);
    const c = patchedWebhook(before, { ordering: 'per_key' });
    expect([c.ordering, c.reordered, c.wakes]).toEqual(['per_key', true, true]);
  });
});
