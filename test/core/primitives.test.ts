import { describe, expect, it } from 'vitest';
import { idTime, newId } from '../../src/core/ids.js';
import { createSecretBox } from '../../src/core/secret-box.js';
import {
  planClaim,
  type ClaimCandidate,
  type EndpointBucket,
} from '../../src/storage/claim-plan.js';

describe('ids', () => {
  it('are prefixed, sort by creation time and carry it', () => {
    const a = newId('evt', 1_700_000_000_000);
    const b = newId('evt', 1_700_000_000_000);
    const c = newId('evt', 1_700_000_000_001);
    expect(a).toMatch(/^evt_[0-9A-Z]{26}$/);
    expect(a < b && b < c).toBe(true);
    expect(idTime(c)).toBe(1_700_000_000_001);
    expect(idTime('nonsense')).toBeNull();
    // Back to an earlier millisecond (a clock stepped back): its own time, its counter anew.
    const d = newId('dlv', 1_700_000_000_000);
    expect(idTime(d)).toBe(1_700_000_000_000);
    expect(d.slice(4, 18)).toBe(`${a.slice(4, 14)}0000`);
    expect(idTime(newId('evt', 5))).toBe(5);
  });

  it('stay unique and random across many refills of the random pool', () => {
    // 20,000 ids use 240,000 random bytes: the 4 KiB pool is refilled about 58 times.
    const ids = Array.from({ length: 20_000 }, () => newId('dlv', 1_700_000_000_000));
    expect(new Set(ids).size).toBe(ids.length);
    const randomParts = new Set(ids.map((id) => id.slice(-12)));
    expect(randomParts.size).toBe(ids.length);
    // Every character of the alphabet turns up in the random part, roughly evenly.
    const counts = new Map<string, number>();
    for (const id of ids) for (const ch of id.slice(-12)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(32);
    const expected = (ids.length * 12) / 32;
    for (const n of counts.values()) expect(Math.abs(n - expected) / expected).toBeLessThan(0.1);
  });
});

describe('secret box', () => {
  it('seals with AES-256-GCM under a key and opens again', () => {
    const box = createSecretBox('a passphrase of the operator');
    const sealed = box.seal('whsec_secret');
    expect(sealed).not.toContain('whsec_secret');
    expect(box.open(sealed)).toBe('whsec_secret');
    expect(box.seal('x')).not.toBe(box.seal('x')); // a fresh IV each time
    expect(() => createSecretBox('another key').open(sealed)).toThrow();
  });

  it('reads secrets written before a key was set, and refuses sealed ones without it', () => {
    const plain = createSecretBox(null);
    const stored = plain.seal('whsec_old');
    expect(createSecretBox('key').open(stored)).toBe('whsec_old');
    expect(() => plain.open(createSecretBox('key').seal('x'))).toThrow(/RIZLER_ENCRYPTION_KEY/);
  });

  it('rotates keys: the first key seals, every listed key opens', () => {
    const old = createSecretBox('old key');
    const sealedOld = old.seal('whsec_a');
    const rotated = createSecretBox('new key, old key');
    expect(rotated.open(sealedOld)).toBe('whsec_a');
    expect(rotated.isCurrent(sealedOld)).toBe(false);
    const resealed = rotated.seal(rotated.open(sealedOld));
    expect(rotated.isCurrent(resealed)).toBe(true);
    expect(createSecretBox('new key').open(resealed)).toBe('whsec_a');
    expect(() => createSecretBox('new key').open(sealedOld)).toThrow(/does not list/);
  });
});

describe('claim plan', () => {
  const candidate = (
    id: string,
    webhookId: string | null,
    accountId = 'acc_a',
  ): ClaimCandidate => ({
    deliveryId: id,
    accountId,
    webhookId,
    eventId: 'evt_' + id,
    orderingKey: null,
    attemptCount: 0,
    autoAttempts: 0,
    manual: false,
    waiting: false,
    ordered: false,
    createdAt: 0,
  });
  const endpoint = (over: Partial<EndpointBucket>): EndpointBucket => ({
    webhookId: 'wh_a',
    url: 'https://a.example/hooks',
    enabled: true,
    inFlight: 0,
    concurrencyLimit: null,
    ratePerMinute: 1000,
    tokens: null,
    refilledAt: null,
    ...over,
  });

  it('leases up to the in-flight cap and holds the rest', () => {
    const plan = planClaim(
      ['1', '2', '3', '4'].map((id) => candidate(id, 'wh_a')),
      new Map([['wh_a', endpoint({ inFlight: 1 })]]),
      { now: 0, maxInFlightPerEndpoint: 3, limit: 100 },
    );
    expect(plan.lease.map((c) => c.deliveryId)).toEqual(['1', '2']);
    expect(plan.hold).toEqual(['3', '4']);
  });

  it("caps a throttled endpoint at its adaptive limit, below the service's", () => {
    const plan = planClaim(
      ['1', '2', '3'].map((id) => candidate(id, 'wh_a')),
      new Map([['wh_a', endpoint({ inFlight: 1, concurrencyLimit: 2 })]]),
      { now: 0, maxInFlightPerEndpoint: 128, limit: 100 },
    );
    expect(plan.lease.map((c) => c.deliveryId)).toEqual(['1']);
    expect(plan.hold).toEqual(['2', '3']);
  });

  it('takes in turn across accounts, then endpoints, when it may take fewer than it could', () => {
    const backlog = Array.from({ length: 20 }, (_, i) => candidate(`a${i}`, 'wh_a', 'acc_a'));
    const plan = planClaim(
      [...backlog, candidate('b1', 'wh_b', 'acc_b'), candidate('c1', 'wh_c', 'acc_a')],
      new Map([
        ['wh_a', endpoint({})],
        ['wh_b', endpoint({ webhookId: 'wh_b' })],
        ['wh_c', endpoint({ webhookId: 'wh_c' })],
      ]),
      { now: 0, maxInFlightPerEndpoint: 100, limit: 4 },
    );
    // acc_a's turns alternate between its two endpoints; acc_b gets every other turn.
    expect(plan.lease.map((c) => c.deliveryId)).toEqual(['a0', 'b1', 'c1', 'a1']);
    // Not leased, not held: the rest stays due for the next claim.
    expect(plan.hold).toEqual([]);
    expect(plan.defer).toEqual([]);
    expect(plan.buckets).toContainEqual({ webhookId: 'wh_a', tokens: 998 });
  });

  it('leaves due, untouched, what an endpoint had room for but the claim did not take', () => {
    const plan = planClaim(
      ['1', '2', '3'].map((id) => candidate(id, 'wh_a')),
      new Map([['wh_a', endpoint({})]]),
      { now: 5, maxInFlightPerEndpoint: 2, limit: 1 },
    );
    expect(plan.lease.map((c) => c.deliveryId)).toEqual(['1']);
    expect(plan.hold).toEqual(['3']);
    expect(plan.defer).toEqual([]);
  });

  it('defers beyond the rate limit, spacing waits one token apart', () => {
    const plan = planClaim(
      ['1', '2', '3'].map((id) => candidate(id, 'wh_a')),
      new Map([['wh_a', endpoint({ ratePerMinute: 60, tokens: 1, refilledAt: 0 })]]),
      { now: 0, maxInFlightPerEndpoint: 10, limit: 100 },
    );
    expect(plan.lease.map((c) => c.deliveryId)).toEqual(['1']);
    expect(plan.defer).toEqual([
      { deliveryId: '2', dueAt: 1000 },
      { deliveryId: '3', dueAt: 2000 },
    ]);
    expect(plan.buckets).toEqual([{ webhookId: 'wh_a', tokens: 0 }]);
  });

  it('leases no more to an origin than the worker has room for, in turn across its endpoints', () => {
    const of = (webhookId: string, n: number) =>
      Array.from({ length: n }, (_, i) => candidate(`${webhookId}-${i}`, webhookId));
    const asked: string[] = [];
    const plan = planClaim(
      [...of('wh_a', 4), ...of('wh_b', 4), ...of('wh_c', 4)],
      new Map([
        ['wh_a', endpoint({ webhookId: 'wh_a', url: 'https://shared.example/a' })],
        ['wh_b', endpoint({ webhookId: 'wh_b', url: 'https://shared.example/b?x=1' })],
        ['wh_c', endpoint({ webhookId: 'wh_c', url: 'https://other.example:8443/c' })],
      ]),
      {
        now: 0,
        maxInFlightPerEndpoint: 10,
        limit: 100,
        originRoom: (origin) => {
          asked.push(origin);
          return origin === 'https://shared.example' ? 3 : 1;
        },
      },
    );
    // wh_a and wh_b share 3 slots, taken in turn; wh_c's origin has room for 1.
    expect(plan.lease.map((c) => c.deliveryId)).toEqual(['wh_a-0', 'wh_b-0', 'wh_c-0', 'wh_a-1']);
    // Each origin's room is asked once; what is over it stays due, untouched.
    expect(asked).toEqual(['https://shared.example', 'https://other.example:8443']);
    expect(plan.hold).toEqual([]);
    expect(plan.buckets).toContainEqual({ webhookId: 'wh_b', tokens: 999 });
  });

  it('parks deliveries of disabled or deleted endpoints', () => {
    const plan = planClaim(
      [candidate('1', 'wh_off'), candidate('2', 'wh_gone'), candidate('3', null)],
      new Map([['wh_off', endpoint({ webhookId: 'wh_off', enabled: false })]]),
      { now: 0, maxInFlightPerEndpoint: 10, limit: 100 },
    );
    expect(plan.park).toEqual(['1', '2', '3']);
    expect(plan.lease).toEqual([]);
  });
});
