// The background removal of what deleted webhooks and accounts leave behind, one mechanism for
// both: the delete marks its owner in deleted_owners (in its own transaction, so it answers at
// once whatever the history's size), and purgeDeleted removes the oldest mark's rows a batch
// of each kind per transaction until none is left, then the mark. A webhook leaves its
// attempts, deliveries and rollups; an account also its events, audit records, API keys,
// portal sessions, and last its endpoints and its own row. The rules both engines share; pure.
import type { PurgeResult } from './types.js';

export type DeletedKind = 'webhook' | 'account';

/** What an account owns beside its history, removed a batch at a time with it. */
export const ACCOUNT_TABLES = ['audit_log', 'api_keys', 'portal_sessions'] as const;

/** One batch of an owner's rows, by kind; `other`: the account's own rows (ACCOUNT_TABLES, endpoints, itself). */
export interface OwnerBatch extends PurgeResult {
  other: number;
}

export function emptyBatch(): OwnerBatch {
  return { events: 0, deliveries: 0, attempts: 0, rollups: 0, other: 0 };
}

/**
 * After a batch: `full`, some kind filled its batch, so more of the owner may be left;
 * `progressed`, it removed anything (a batch that could do nothing leaves the rest to the
 * next run rather than spin).
 */
export function batchOutcome(b: OwnerBatch, batch: number): { full: boolean; progressed: boolean } {
  const counts = [b.attempts, b.deliveries, b.events, b.rollups, b.other];
  return {
    full: counts.some((n) => n >= batch),
    progressed: counts.some((n) => n > 0),
  };
}

/** The batch as purgeDeleted reports it: the history's rows, and whether marks are left. */
export function purgeReport(
  b: OwnerBatch,
  remaining: boolean,
): PurgeResult & { remaining: boolean } {
  return {
    events: b.events,
    deliveries: b.deliveries,
    attempts: b.attempts,
    rollups: b.rollups,
    remaining,
  };
}

/** Every row the batch removed, as purgeDeletedAccounts counts them. */
export function rowsRemoved(b: OwnerBatch): number {
  return b.events + b.deliveries + b.attempts + b.rollups + b.other;
}
