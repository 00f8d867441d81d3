// This process's holds on accounts' endpoints (src/storage/postgres/local-holds.ts), pure:
// a publish waits its turn behind a claim or another publish, one at a time, and never long.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocalHolds, WAIT_MAX_MS } from '../../src/storage/postgres/local-holds.js';

/** A promise's state after the microtasks queued so far have run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return done;
}

describe('local holds', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives a turn at once when nothing of this process holds the account', async () => {
    const holds = new LocalHolds();
    const release = await holds.turn('a');
    expect(holds.size).toBe(1);
    release();
    release();
    expect(holds.size).toBe(0);
  });

  it('gives a publish its turn when the claims holding the account end, and not before', async () => {
    const holds = new LocalHolds();
    const claimA = holds.hold(['a', 'b']);
    const claimB = holds.hold(['a']);
    const turn = holds.turn('a');
    expect(await settled(turn)).toBe(false);
    claimA();
    expect(await settled(turn)).toBe(false);
    claimB();
    expect(await settled(turn)).toBe(true);
    // Handed over: the publish holds the account, and the next publish waits for it.
    const next = holds.turn('a');
    expect(await settled(next)).toBe(false);
    (await turn)();
    expect(await settled(next)).toBe(true);
    (await next)();
    expect(holds.size).toBe(0);
  });

  it('lets one publish wait at a time: the others go ahead at once', async () => {
    const holds = new LocalHolds();
    const first = await holds.turn('a');
    const waiting = holds.turn('a');
    const ahead = holds.turn('a');
    expect(await settled(ahead)).toBe(true);
    expect(await settled(waiting)).toBe(false);
    // Another account is not held.
    expect(await settled(holds.turn('b').then((r) => r()))).toBe(true);
    first();
    expect(await settled(waiting)).toBe(false);
    (await ahead)();
    expect(await settled(waiting)).toBe(true);
    (await waiting)();
    expect(holds.size).toBe(0);
  });

  it('waits no longer than WAIT_MAX_MS, and leaves nothing behind', async () => {
    vi.useFakeTimers();
    const holds = new LocalHolds();
    const claim = holds.hold(['a']);
    const turn = holds.turn('a');
    await vi.advanceTimersByTimeAsync(WAIT_MAX_MS - 1);
    expect(await settled(turn)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled(turn)).toBe(true);
    // Gone ahead, it holds beside the claim; the next publish may wait again.
    const next = holds.turn('a');
    claim();
    expect(await settled(next)).toBe(false);
    (await turn)();
    expect(await settled(next)).toBe(true);
    (await next)();
    expect(holds.size).toBe(0);
  });
});
