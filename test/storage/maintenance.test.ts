// The queue figures and the secret reseal both engines share (src/storage/maintenance.ts),
// without an engine; the contract suite runs them on both.
import { describe, expect, it } from 'vitest';
import { queueStats, RESEAL_PAGE, resealAll, resealed } from '../../src/storage/maintenance.js';
import type { Row } from '../../src/storage/rows.js';

describe('queueStats', () => {
  it('counts endpoints by state, a disabled one without a reason as manual', () => {
    const stats = queueStats({
      due: { n: '3', oldest: '1000' },
      later: { n: 7 },
      inFlight: { n: 2 },
      held: { n: 1 },
      throttledSince: { t: null },
      endpoints: [
        { status: 'enabled', disabled_reason: null, n: 4 },
        { status: 'disabled', disabled_reason: null, n: 1 },
        { status: 'disabled', disabled_reason: 'manual', n: 2 },
        { status: 'disabled', disabled_reason: 'gone', n: '1' },
      ],
      throttled: [{ throttle_reason: 'errors', n: 2 }],
    });
    expect(stats).toEqual({
      due: 3,
      oldestDueAt: 1000,
      inFlight: 2,
      // the leased are due later too (at their lease's end), and are not scheduled
      scheduled: 5,
      held: 1,
      oldestThrottledAt: null,
      endpoints: { enabled: 4, 'disabled:manual': 3, 'disabled:gone': 1 },
      throttled: { errors: 2 },
    });
  });

  it('has no oldest times on an empty queue', () => {
    const stats = queueStats({
      due: { n: 0, oldest: null },
      later: { n: 0 },
      inFlight: { n: 0 },
      held: { n: 0 },
      throttledSince: undefined,
      endpoints: [],
      throttled: [],
    });
    expect([stats.oldestDueAt, stats.oldestThrottledAt, stats.endpoints]).toEqual([null, null, {}]);
  });
});

describe('resealing secrets', () => {
  const upper = (s: string) => s.toUpperCase();

  it('changes only the endpoints whose sealed values change, the previous secret too', () => {
    expect(
      resealed(
        [
          { id: 'wh_1', secret: 'a', previous_secret: null },
          { id: 'wh_2', secret: 'B', previous_secret: 'C' },
          { id: 'wh_3', secret: 'D', previous_secret: 'e' },
        ],
        upper,
      ),
    ).toEqual([
      { id: 'wh_1', secret: 'A', previousSecret: null },
      { id: 'wh_3', secret: 'D', previousSecret: 'E' },
    ]);
  });

  it('goes through every endpoint a page at a time, after the last id of each page', async () => {
    const all: Row[] = Array.from({ length: RESEAL_PAGE + 3 }, (_, i) => ({
      id: `wh_${String(i).padStart(4, '0')}`,
      secret: i % 2 === 0 ? 'x' : 'Y',
      previous_secret: null,
    }));
    const pages: string[] = [];
    const written: string[] = [];
    const changed = await resealAll(
      upper,
      async (after) => {
        pages.push(after);
        return all.filter((r) => String(r.id) > after).slice(0, RESEAL_PAGE);
      },
      async (changes) => {
        written.push(...changes.map((c) => c.id));
        return changes.length;
      },
    );
    expect(pages).toEqual(['', `wh_0${RESEAL_PAGE - 1}`, `wh_0${RESEAL_PAGE + 2}`]);
    expect(changed).toBe(Math.ceil(all.length / 2));
    expect(written).toEqual(all.filter((r) => r.secret === 'x').map((r) => r.id));
  });
});
