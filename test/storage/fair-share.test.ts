// Fair share inside one claim (src/storage/fair-share.ts), pure.
import { describe, expect, it } from 'vitest';
import { fairOrder } from '../../src/storage/fair-share.js';

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
