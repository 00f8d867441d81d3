// Fair share across claims and inside one (src/storage/fair-share.ts), pure: the engines
// give takeInTurn their index by endpoint as a TurnSource; here it is a map.
import { describe, expect, it } from 'vitest';
import {
  fairOrder,
  takeInTurn,
  type Rotation,
  type TurnSource,
} from '../../src/storage/fair-share.js';

const item = (accountId: string, webhookId: string, n: number) => ({
  accountId,
  webhookId,
  id: `${webhookId}:${n}`,
});

describe('fair share', () => {
  it('keeps everything, in order, when the claim may take it all', () => {
    const items = [item('a', 'w1', 1), item('a', 'w1', 2), item('b', 'w2', 1)];
    expect(fairOrder(items, 3)).toEqual(items);
  });

  it('takes in turn across accounts, then across an account’s endpoints', () => {
    const items = [
      ...[1, 2, 3, 4].map((n) => item('a', 'w1', n)),
      ...[1, 2].map((n) => item('a', 'w2', n)),
      item('b', 'w3', 1),
      item('c', 'w4', 1),
    ];
    expect(fairOrder(items, 6).map((i) => i.id)).toEqual([
      'w1:1',
      'w3:1',
      'w4:1',
      'w2:1',
      'w1:2',
      'w2:2',
    ]);
  });

  it("gives a newcomer a turn whatever the length of another account's backlog", () => {
    const backlog = Array.from({ length: 10_000 }, (_, n) => item('a', 'w1', n));
    const picked = fairOrder([...backlog, item('b', 'w2', 0)], 2);
    expect(picked.map((i) => i.id)).toEqual(['w1:0', 'w2:0']);
  });
});

/** Accounts → endpoints → how many are due, as an index by endpoint would answer. */
function source(due: Record<string, Record<string, number>>) {
  const took: string[] = [];
  const next = (ids: string[], after: string) => ids.sort().find((id) => id > after) ?? null;
  const src: TurnSource = {
    nextAccount: (after) => next(Object.keys(due), after),
    nextEndpoint: (account, after) => next(Object.keys(due[account] ?? {}), after),
    takeOrphans: () => 0,
    take: (account, webhook, n, offset) => {
      const got = Math.max(0, Math.min(n, due[account]![webhook]! - offset));
      for (let i = 0; i < got; i++) took.push(webhook);
      return got;
    },
  };
  return { src, took };
}

describe('taking in turn across claims', () => {
  it('starts each claim after the last account the one before served', () => {
    const { src, took } = source({ a: { wa: 100 }, b: { wb: 100 }, c: { wc: 100 } });
    const rotation: Rotation = { cursor: '' };
    // Window 8: a first pass of 8 from the first account fills it.
    takeInTurn(src, rotation, 8, () => 50);
    takeInTurn(src, rotation, 8, () => 50);
    takeInTurn(src, rotation, 8, () => 50);
    expect(took.filter((w, i) => i % 8 === 0)).toEqual(['wa', 'wb', 'wc']);
    expect(rotation.cursor).toBe('c');
  });

  it('skips an endpoint with no room without taking from it', () => {
    const { src, took } = source({ a: { full: 1000, open: 3 } });
    const rotation: Rotation = { cursor: '' };
    expect(takeInTurn(src, rotation, 100, (w) => (w === 'full' ? 0 : 10))).toBe(3);
    expect(new Set(took)).toEqual(new Set(['open']));
  });

  it("goes on within an account's endpoints from where a cut-short claim stopped", () => {
    const endpoints = Object.fromEntries(['w1', 'w2', 'w3', 'w4'].map((w) => [w, 1]));
    const { src, took } = source({ a: endpoints });
    const rotation: Rotation = { cursor: '' };
    takeInTurn(src, rotation, 2, () => 10);
    expect(rotation.endpoints?.get('a')).toBe('w2');
    takeInTurn(src, rotation, 2, () => 10);
    expect(took).toEqual(['w1', 'w2', 'w3', 'w4']);
  });

  it('shares what is left of the window among the endpoints that had more', () => {
    const { src, took } = source({ a: { w1: 100, w2: 100 }, b: { w3: 2 } });
    const rotation: Rotation = { cursor: '' };
    expect(takeInTurn(src, rotation, 40, () => 100)).toBe(40);
    const count = (w: string) => took.filter((t) => t === w).length;
    expect(count('w3')).toBe(2);
    expect(count('w1')).toBe(19);
    expect(count('w2')).toBe(19);
  });

  it('takes from an endpoint no more than its room, over both passes', () => {
    const { src, took } = source({ a: { w1: 100 } });
    expect(takeInTurn(src, { cursor: '' }, 50, () => 12)).toBe(12);
    expect(took).toHaveLength(12);
  });
});
