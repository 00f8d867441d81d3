// Reading a claim's rows into the plan's inputs (src/storage/claim-plan.ts), as both engines
// hand them over; the plan itself is held to the contract suite on both engines.
import { describe, expect, it } from 'vitest';
import {
  leasableOfTurn,
  toCandidate,
  toEndpoint,
  type EndpointBucket,
  type TurnTaken,
} from '../../src/storage/claim-plan.js';
import type { ClaimRequest } from '../../src/storage/types.js';

const request = { defaultRateLimitPerMinute: 600 } as ClaimRequest;

const webhookRow = {
  id: 'wh_1',
  account_id: 'acc_1',
  url: 'https://example.com',
  description: null,
  events: '["*"]',
  status: 'enabled',
  disabled_reason: null,
  rate_limit_per_minute: null,
  account_rate_limit_per_minute: null,
  secret: 's',
  previous_secret: null,
  previous_secret_expires_at: null,
  concurrency_limit: null,
  failure_streak: 0,
  throttle_reason: null,
  throttled_since: null,
  headers: '{}',
  filter: null,
  ordering: 'none',
  created_at: 1,
  updated_at: 1,
  rate_tokens: null,
  rate_refilled_at: null,
};

describe('toCandidate', () => {
  const row = {
    id: 'dlv_1',
    account_id: 'acc_1',
    webhook_id: 'wh_1',
    event_id: 'evt_1',
    ordering_key: null,
    attempt_count: '2',
    auto_attempts: 1,
    order_state: 'waiting',
    created_at: '1700000000000',
  };

  it("reads a manual retry's flag as SQLite (0/1) and PostgreSQL (boolean) give it", () => {
    expect(toCandidate({ ...row, manual_requested: 1 }).manual).toBe(true);
    expect(toCandidate({ ...row, manual_requested: true }).manual).toBe(true);
    expect(toCandidate({ ...row, manual_requested: 0 }).manual).toBe(false);
    expect(toCandidate({ ...row, manual_requested: false }).manual).toBe(false);
  });

  it('reads the counts and times as numbers and a waiting delivery as waiting, in an order', () => {
    expect(toCandidate({ ...row, manual_requested: 0 })).toEqual({
      deliveryId: 'dlv_1',
      accountId: 'acc_1',
      webhookId: 'wh_1',
      eventId: 'evt_1',
      orderingKey: null,
      attemptCount: 2,
      autoAttempts: 1,
      manual: false,
      waiting: true,
      ordered: true,
      createdAt: 1_700_000_000_000,
    });
    expect(toCandidate({ ...row, order_state: null }).ordered).toBe(false);
  });
});

describe('toEndpoint', () => {
  it("takes the endpoint's rate limit, else its account's, else the service's", () => {
    expect(toEndpoint(webhookRow, 0, request).ratePerMinute).toBe(600);
    const ofAccount = { ...webhookRow, account_rate_limit_per_minute: 60 };
    expect(toEndpoint(ofAccount, 0, request).ratePerMinute).toBe(60);
    expect(toEndpoint({ ...ofAccount, rate_limit_per_minute: 6 }, 0, request).ratePerMinute).toBe(
      6,
    );
  });

  it('carries its leases, adaptive limit and token bucket', () => {
    const row = { ...webhookRow, concurrency_limit: 3, rate_tokens: 1.5, rate_refilled_at: 99 };
    const endpoint = toEndpoint(row, 2, request);
    expect(endpoint).toMatchObject({
      webhookId: 'wh_1',
      enabled: true,
      inFlight: 2,
      concurrencyLimit: 3,
      tokens: 1.5,
      refilledAt: 99,
    });
    expect(endpoint.webhook.id).toBe('wh_1');
    expect(toEndpoint({ ...webhookRow, status: 'disabled' }, 0, request).enabled).toBe(false);
  });
});

describe('leasableOfTurn', () => {
  const bucket = (webhookId: string, url: string, enabled = true): EndpointBucket => ({
    webhookId,
    url,
    enabled,
    inFlight: 0,
    concurrencyLimit: null,
    ratePerMinute: 600,
    tokens: null,
    refilledAt: null,
  });
  const endpoints = new Map(
    [
      bucket('a', 'https://x.example/a'),
      bucket('b', 'https://x.example/b?q=1'),
      bucket('c', 'https://y.example/c'),
      bucket('off', 'https://x.example/off', false),
    ].map((e) => [e.webhookId, e]),
  );
  const t = (accountId: string, webhookId: string | null, n: number): TurnTaken => ({
    accountId,
    webhookId,
    n,
  });
  const turn = [
    t('acc_1', 'a', 8),
    t('acc_1', 'b', 8),
    t('acc_1', 'off', 8),
    t('acc_1', null, 3),
    t('acc_2', 'c', 8),
  ];

  it("shares each origin's room among its endpoints in turn, and keeps what is read to park", () => {
    const room = new Map([
      ['https://x.example', 5],
      ['https://y.example', 2],
    ]);
    const { taken, cut } = leasableOfTurn(turn, endpoints, {
      limit: 100,
      originRoom: (origin) => room.get(origin)!,
    });
    expect(cut).toBe(true);
    expect(taken).toEqual([
      t('acc_1', 'a', 3),
      t('acc_1', 'b', 2),
      t('acc_1', 'off', 8),
      t('acc_1', null, 3),
      t('acc_2', 'c', 2),
    ]);
  });

  it('takes the limit in turn across accounts, then endpoints, and says when all fit', () => {
    const { taken } = leasableOfTurn(turn, endpoints, { limit: 6 });
    expect(taken.filter((e) => e.webhookId !== 'off' && e.webhookId !== null)).toEqual([
      t('acc_1', 'a', 2),
      t('acc_1', 'b', 1),
      t('acc_2', 'c', 3),
    ]);
    expect(leasableOfTurn(turn, endpoints, { limit: 24 })).toEqual({ taken: turn, cut: false });
  });
});
