// The adaptive per-endpoint concurrency rule (src/storage/throttle.ts), pure.
import { describe, expect, it } from 'vitest';
import {
  UNTHROTTLED,
  applySignals,
  effectiveCap,
  throttleSignal,
  type ThrottleSignal,
} from '../../src/storage/throttle.js';

const settings = { maxConcurrency: 128, probes: 2, errorStreak: 5 };
const times = (signal: ThrottleSignal, n: number): ThrottleSignal[] => Array(n).fill(signal);

describe('adaptive endpoint concurrency', () => {
  it('reads an outcome: no answer, an overloaded answer, another error, a success', () => {
    expect(throttleSignal(true, 200)).toBe('success');
    expect(throttleSignal(false, null)).toBe('no_answer');
    for (const code of [429, 502, 503, 504]) expect(throttleSignal(false, code)).toBe('overloaded');
    for (const code of [400, 404, 500, 301]) expect(throttleSignal(false, code)).toBe('error');
  });

  it('halves the limit on each attempt without an answer, down to the probes', () => {
    const once = applySignals(UNTHROTTLED, ['no_answer'], settings, 1000);
    expect(once).toEqual({ limit: 64, streak: 1, reason: 'timeouts', since: 1000 });
    const many = applySignals(once, times('no_answer', 20), settings, 2000);
    expect(many).toEqual({ limit: 2, streak: 21, reason: 'timeouts', since: 1000 });
  });

  it('cuts on overloaded answers at once, and on other errors only after a streak', () => {
    expect(applySignals(UNTHROTTLED, ['overloaded'], settings, 0).limit).toBe(64);
    const four = applySignals(UNTHROTTLED, times('error', 4), settings, 0);
    expect(four).toEqual({ limit: null, streak: 4, reason: null, since: null });
    const five = applySignals(four, ['error'], settings, 7);
    expect(five).toEqual({ limit: 64, streak: 5, reason: 'errors', since: 7 });
    // An error answer between successes never cuts: a healthy endpoint that rejects some
    // events keeps its full width.
    const mixed = applySignals(
      UNTHROTTLED,
      ['error', 'success', 'error', 'error', 'success', 'error'],
      settings,
      0,
    );
    expect(mixed).toEqual({ limit: null, streak: 1, reason: null, since: null });
  });

  it('grows back by one per success and is unthrottled at the maximum', () => {
    const probing = { limit: 2, streak: 9, reason: 'timeouts' as const, since: 5 };
    const one = applySignals(probing, ['success'], settings, 10);
    expect(one).toEqual({ limit: 3, streak: 0, reason: 'timeouts', since: 5 });
    const back = applySignals(probing, times('success', 126), settings, 10);
    expect(back).toEqual(UNTHROTTLED);
  });

  it('returns the same state when nothing changes, so engines write nothing', () => {
    expect(applySignals(UNTHROTTLED, times('success', 3), settings, 0)).toBe(UNTHROTTLED);
  });

  it('caps the claim at the smaller of the adaptive and the service limit', () => {
    expect(effectiveCap(null, 128)).toBe(128);
    expect(effectiveCap(2, 128)).toBe(2);
    expect(effectiveCap(300, 128)).toBe(128);
  });
});
