import { describe, expect, it } from 'vitest';
import { parseDuration, parseDurationList } from '../../src/core/duration.js';
import { nextRetry, parseRetryAfter } from '../../src/core/retry.js';
import { decideOutcome } from '../../src/worker/pipeline.js';

const SCHEDULE = parseDurationList('1m,5m,30m,2h,6h');

describe('retry schedule', () => {
  it('parses the documented duration forms', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('1m')).toBe(60_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(SCHEDULE).toEqual([60_000, 300_000, 1_800_000, 7_200_000, 21_600_000]);
    expect(parseDurationList('')).toEqual([]);
    expect(() => parseDuration('5 minutes')).toThrow(/500ms, 5s, 1m, 2h or 7d/);
  });

  it('takes the next delay for each failed attempt, then is exhausted', () => {
    const mid = () => 0.5; // no jitter
    expect(nextRetry(SCHEDULE, 1, null, mid)).toEqual({ kind: 'retry', delayMs: 60_000 });
    expect(nextRetry(SCHEDULE, 5, null, mid)).toEqual({ kind: 'retry', delayMs: 21_600_000 });
    expect(nextRetry(SCHEDULE, 6, null, mid).kind).toBe('exhausted');
    expect(nextRetry([], 1, null, mid).kind).toBe('exhausted');
  });

  it('jitters by at most ±10 %', () => {
    expect(nextRetry(SCHEDULE, 1, null, () => 0).delayMs).toBe(54_000);
    expect(nextRetry(SCHEDULE, 1, null, () => 0.999999).delayMs).toBe(66_000);
    for (let i = 0; i < 1000; i++) {
      const d = nextRetry(SCHEDULE, 2, null).delayMs;
      expect(d).toBeGreaterThanOrEqual(270_000);
      expect(d).toBeLessThanOrEqual(330_000);
    }
  });

  it('lets Retry-After postpone a retry but never hasten it', () => {
    expect(nextRetry(SCHEDULE, 1, 600_000, () => 0.5).delayMs).toBe(600_000);
    expect(nextRetry(SCHEDULE, 1, 1_000, () => 0.5).delayMs).toBe(60_000);
    expect(parseRetryAfter('120', 0)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:01:00 GMT', 0)).toBe(60_000);
    expect(parseRetryAfter('soon', 0)).toBeNull();
    expect(parseRetryAfter(undefined, 0)).toBeNull();
  });

  it('decides each attempt outcome', () => {
    const auto = { trigger: 'auto' as const, autoAttempts: 0 };
    expect(decideOutcome(auto, { succeeded: true, retryAfterMs: null }, SCHEDULE, 0)).toEqual({
      kind: 'succeeded',
    });
    expect(
      decideOutcome(auto, { succeeded: false, retryAfterMs: null }, SCHEDULE, 1000, () => 0.5),
    ).toEqual({
      kind: 'retry',
      nextAttemptAt: 61_000,
    });
    expect(
      decideOutcome(
        { trigger: 'auto', autoAttempts: 5 },
        { succeeded: false, retryAfterMs: null },
        SCHEDULE,
        0,
      ),
    ).toEqual({ kind: 'failed' });
    // A manual attempt never restarts automatic retries.
    expect(
      decideOutcome(
        { trigger: 'manual', autoAttempts: 6 },
        { succeeded: false, retryAfterMs: null },
        SCHEDULE,
        0,
      ),
    ).toEqual({ kind: 'unchanged' });
    expect(
      decideOutcome(
        { trigger: 'manual', autoAttempts: 6 },
        { succeeded: true, retryAfterMs: null },
        SCHEDULE,
        0,
      ),
    ).toEqual({ kind: 'succeeded' });
  });
});
