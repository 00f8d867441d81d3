// Retry policy is data (the schedule) plus this small pure function.

/** ±10 % jitter keeps a burst of failures from retrying in lockstep. */
export const JITTER = 0.1;

export interface RetryDecision {
  /** 'retry' at `delayMs` from now, or 'exhausted' when the schedule has no more delays. */
  kind: 'retry' | 'exhausted';
  delayMs: number;
}

/**
 * What happens after the `failedAutoAttempts`-th automatic attempt failed (1 for the first
 * attempt). `retryAfterMs` is the receiver's own `Retry-After` (429/503), which postpones
 * the retry when it asks for longer than the schedule.
 */
export function nextRetry(
  schedule: readonly number[],
  failedAutoAttempts: number,
  retryAfterMs: number | null,
  random: () => number = Math.random,
): RetryDecision {
  const base = schedule[failedAutoAttempts - 1];
  if (base === undefined) return { kind: 'exhausted', delayMs: 0 };
  const jittered = Math.round(base * (1 - JITTER + 2 * JITTER * random()));
  const delayMs = retryAfterMs !== null && retryAfterMs > jittered ? retryAfterMs : jittered;
  return { kind: 'retry', delayMs };
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds from `now`; null when absent or bad. */
export function parseRetryAfter(value: string | undefined, now: number): number | null {
  if (value === undefined || value === '') return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}
