// The auto-disable rule both engines apply (src/storage/health.ts).
import { describe, expect, it, vi } from 'vitest';
import { applyOutcomes, mayDisableAsFailing } from '../../src/storage/health.js';

const DAY = 86_400_000;
const policy = { now: 10 * DAY, autoDisableAfterMs: DAY };
const fail = { succeeded: false, gone: false };
const ok = { succeeded: true, gone: false };
const gone = { succeeded: false, gone: true };
const never = () => false;

describe('applyOutcomes', () => {
  it('marks the first failure, and a success clears the mark', () => {
    const healthy = { status: 'enabled' as const, failingSince: null };
    expect(applyOutcomes(healthy, [fail], policy, never)).toEqual({
      failingSince: policy.now,
      disable: null,
      changed: true,
    });
    const marked = { status: 'enabled' as const, failingSince: policy.now - 1 };
    expect(applyOutcomes(marked, [ok], policy, never)).toEqual({
      failingSince: null,
      disable: null,
      changed: true,
    });
    expect(applyOutcomes(healthy, [ok, ok], policy, never).changed).toBe(false);
  });

  it('reports no change when a batch leaves the mark where it was', () => {
    const healthy = { status: 'enabled' as const, failingSince: null };
    expect(applyOutcomes(healthy, [fail, ok], policy, never)).toEqual({
      failingSince: null,
      disable: null,
      changed: false,
    });
    const marked = { status: 'enabled' as const, failingSince: policy.now - 1 };
    expect(applyOutcomes(marked, [fail], policy, never).changed).toBe(false);
    // A success and a failure again: the mark moves to this failure.
    expect(applyOutcomes(marked, [ok, fail], policy, never)).toEqual({
      failingSince: policy.now,
      disable: null,
      changed: true,
    });
    expect(applyOutcomes(healthy, [fail, ok, fail], policy, never).changed).toBe(true);
  });

  it('disables at once on 410 Gone, and as failing after the window', () => {
    const healthy = { status: 'enabled' as const, failingSince: null };
    expect(applyOutcomes(healthy, [gone], policy, never).disable).toBe('gone');
    const failing = { status: 'enabled' as const, failingSince: policy.now - DAY + 1 };
    expect(applyOutcomes(failing, [fail], policy, never).disable).toBeNull();
    const long = { status: 'enabled' as const, failingSince: policy.now - DAY };
    expect(applyOutcomes(long, [fail], policy, never)).toEqual({
      failingSince: policy.now - DAY,
      disable: 'failing',
      changed: true,
    });
  });

  it('never disables an endpoint already disabled', () => {
    const off = { status: 'disabled' as const, failingSince: 0 };
    expect(applyOutcomes(off, [gone, fail], policy, never).disable).toBeNull();
  });

  it('starts the window again when a success came after the mark', () => {
    const stale = { status: 'enabled' as const, failingSince: policy.now - 2 * DAY };
    const succeededSince = vi.fn(() => true);
    expect(applyOutcomes(stale, [fail], policy, succeededSince)).toEqual({
      failingSince: policy.now,
      disable: null,
      changed: true,
    });
    expect(succeededSince).toHaveBeenCalledWith(policy.now - 2 * DAY);
  });

  it('asks about successes only when it would disable as failing', () => {
    const succeededSince = vi.fn(() => false);
    const recent = { status: 'enabled' as const, failingSince: policy.now - 1 };
    applyOutcomes(recent, [fail, fail], policy, succeededSince);
    applyOutcomes({ status: 'enabled', failingSince: null }, [gone], policy, succeededSince);
    expect(succeededSince).not.toHaveBeenCalled();
    expect(mayDisableAsFailing(recent, [fail], policy)).toBe(false);
    const old = { status: 'enabled' as const, failingSince: policy.now - DAY };
    expect(mayDisableAsFailing(old, [fail], policy)).toBe(true);
    expect(mayDisableAsFailing(old, [ok], policy)).toBe(false);
  });
});
