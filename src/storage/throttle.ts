// Adaptive per-endpoint concurrency, shared by both engines: how many attempts the claim may
// have in flight to one endpoint, adapted to how the endpoint answers, as TCP adapts its
// window (AIMD). Pure: the engines read the state from the endpoint's row, apply the
// outcomes a completion recorded, and write the result in the same transaction, so every
// worker process sees one state per endpoint.
//
// The rule:
// - An attempt that got no answer (timed out, refused, reset) or an answer that says
//   "overloaded" (429, 502, 503, 504) halves the endpoint's limit at once: those are the
//   attempts that hold a slot for long or ask us to slow down.
// - Any other failed answer (a 4xx or 500) answers fast and holds nothing, so it is only
//   counted; from `errorStreak` failures in a row on, each further one halves the limit too.
// - The limit never goes below `probes`: a few attempts keep probing, so the endpoint is seen
//   to recover. Each success adds one (a limit of 2 is back to 256 after 254 successes, in a
//   few round trips since each round trip succeeds at the current width) and ends the streak.
// - At `maxConcurrency` the endpoint is no longer throttled: its state is cleared (null).
// Deliveries over the limit wait due, unread (fair-share.ts takeInTurn), and the failed ones per the
// retry schedule: a dead endpoint holds `probes` slots, never the worker.

import {
  DEFAULT_ENDPOINT_PROBES,
  DEFAULT_MAX_IN_FLIGHT_PER_ENDPOINT,
  DEFAULT_THROTTLE_ERROR_STREAK,
} from '../config.js';

export type ThrottleReason = 'timeouts' | 'overloaded' | 'errors';

/** How an attempt ended, as the throttle sees it. */
export type ThrottleSignal = 'success' | 'no_answer' | 'overloaded' | 'error';

export interface ThrottleState {
  /** Attempts allowed in flight at once; null: not throttled (the service maximum). */
  limit: number | null;
  /** Failed attempts in a row since the last success. */
  streak: number;
  reason: ThrottleReason | null;
  /** When the endpoint was last throttled from an unthrottled state. */
  since: number | null;
}

export interface ThrottleSettings {
  /** The per-endpoint maximum (RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT). */
  maxConcurrency: number;
  /** The floor a failing endpoint is cut to (RIZLER_ENDPOINT_PROBES). */
  probes: number;
  /** Error answers in a row before they cut the limit (RIZLER_THROTTLE_ERROR_STREAK). */
  errorStreak: number;
}

/** The defaults of RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT, _ENDPOINT_PROBES, _THROTTLE_ERROR_STREAK. */
export const DEFAULT_THROTTLE: ThrottleSettings = {
  maxConcurrency: DEFAULT_MAX_IN_FLIGHT_PER_ENDPOINT,
  probes: DEFAULT_ENDPOINT_PROBES,
  errorStreak: DEFAULT_THROTTLE_ERROR_STREAK,
};

export const UNTHROTTLED: ThrottleState = { limit: null, streak: 0, reason: null, since: null };

/** What an attempt's status code says about the endpoint. */
export function throttleSignal(succeeded: boolean, statusCode: number | null): ThrottleSignal {
  if (succeeded) return 'success';
  if (statusCode === null) return 'no_answer';
  if (statusCode === 429 || statusCode === 502 || statusCode === 503 || statusCode === 504) {
    return 'overloaded';
  }
  return 'error';
}

/** Applies outcomes in the order they came; returns the same object when nothing changed. */
export function applySignals(
  state: ThrottleState,
  signals: readonly ThrottleSignal[],
  settings: ThrottleSettings,
  now: number,
): ThrottleState {
  const max = Math.max(1, settings.maxConcurrency);
  const floor = Math.max(1, Math.min(settings.probes, max));
  let { limit, streak, reason, since } = state;
  for (const signal of signals) {
    if (signal === 'success') {
      streak = 0;
      if (limit !== null) {
        limit += 1;
        if (limit >= max) {
          limit = null;
          reason = null;
          since = null;
        }
      }
      continue;
    }
    streak += 1;
    const cut = signal === 'no_answer' || signal === 'overloaded' || streak >= settings.errorStreak;
    if (!cut) continue;
    const current = limit ?? max;
    const next = Math.max(floor, Math.floor(current / 2));
    if (limit === null) since = now;
    limit = next;
    reason =
      signal === 'no_answer' ? 'timeouts' : signal === 'overloaded' ? 'overloaded' : 'errors';
  }
  if (
    limit === state.limit &&
    streak === state.streak &&
    reason === state.reason &&
    since === state.since
  ) {
    return state;
  }
  return { limit, streak, reason, since };
}

/** The state as the engines store it on the endpoint's row (both engines, same columns). */
export function throttleOf(row: Record<string, unknown>): ThrottleState {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    limit: n(row.concurrency_limit),
    streak: n(row.failure_streak) ?? 0,
    reason: (row.throttle_reason ?? null) as ThrottleReason | null,
    since: n(row.throttled_since),
  };
}

/** The in-flight cap a claim applies to the endpoint now. */
export function effectiveCap(limit: number | null, maxInFlightPerEndpoint: number): number {
  return limit === null ? maxInFlightPerEndpoint : Math.min(limit, maxInFlightPerEndpoint);
}
