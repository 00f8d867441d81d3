// Auto-disable (SPEC §4), written once for both engines: an endpoint that answers 410 Gone is
// disabled at once; one that has failed without a success for `autoDisableAfterMs` is disabled
// as failing. `failing_since` is the first failure since the last success.
//
// The engines differ only in how they read and write the endpoint row. PostgreSQL records a
// success without locking an endpoint whose unlocked read shows it healthy (most completions
// are such, and locking them serialised every claim and completion of a busy endpoint), so a
// failure committed concurrently can leave `failing_since` set after that success. Such a
// stale mark can only cause harm by disabling the endpoint, so before disabling as failing
// the engines ask whether any attempt succeeded since the mark (`confirmFailing`); if one did,
// the window starts again at this failure.
import type { DisabledReason, WebhookStatus } from './types.js';

export interface EndpointHealth {
  status: WebhookStatus;
  failingSince: number | null;
}

export interface HealthOutcome {
  succeeded: boolean;
  /** The endpoint answered 410 Gone. */
  gone: boolean;
}

export interface HealthPolicy {
  now: number;
  autoDisableAfterMs: number;
}

export interface HealthChange {
  failingSince: number | null;
  /** Set when these outcomes disable the endpoint. */
  disable: Extract<DisabledReason, 'gone' | 'failing'> | null;
  /** Anything to write: the endpoint is disabled, or its mark ends elsewhere than it began. */
  changed: boolean;
}

/**
 * Applies one endpoint's outcomes, in the order they came, to its health. `succeededSince`
 * answers whether an attempt succeeded at or after a time; it is asked only when the outcomes
 * would disable the endpoint as failing, which happens at most once per window
 * (`mayDisableAsFailing` tells an engine beforehand whether it will be asked).
 */
export function applyOutcomes(
  health: EndpointHealth,
  outcomes: readonly HealthOutcome[],
  policy: HealthPolicy,
  succeededSince: (since: number) => boolean,
): HealthChange {
  let failingSince = health.failingSince;
  let disable: HealthChange['disable'] = null;
  for (const outcome of outcomes) {
    if (outcome.succeeded) {
      failingSince = null;
      continue;
    }
    failingSince ??= policy.now;
    if (health.status !== 'enabled' || disable !== null) continue;
    if (outcome.gone) {
      disable = 'gone';
    } else if (failingSince <= policy.now - policy.autoDisableAfterMs) {
      if (succeededSince(failingSince)) {
        // A stale mark: a success came after it. Failing again from this failure.
        failingSince = policy.now;
      } else {
        disable = 'failing';
      }
    }
  }
  // Only the end state counts: a failure and then a success in one batch leave the mark (and
  // the row) as they were.
  const changed = disable !== null || failingSince !== health.failingSince;
  return { failingSince, disable, changed };
}

/** Whether applyOutcomes may ask `succeededSince` about an endpoint in this state. */
export function mayDisableAsFailing(
  health: EndpointHealth,
  outcomes: readonly HealthOutcome[],
  policy: HealthPolicy,
): boolean {
  return (
    health.status === 'enabled' &&
    health.failingSince !== null &&
    health.failingSince <= policy.now - policy.autoDisableAfterMs &&
    outcomes.some((o) => !o.succeeded)
  );
}

/**
 * The SQL of "attempt `a` succeeded at or after `since`", the same in both engines: an answer
 * in 2xx, from a delivery's attempt (a test send says nothing of the deliveries' health).
 */
export function succeededSinceSql(since: string): string {
  return `a.started_at >= ${since} AND a.status_code BETWEEN 200 AND 299 AND a.error IS NULL
    AND a.trigger <> 'test'`;
}
