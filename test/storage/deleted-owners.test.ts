// The rules of the deleted owners' purge both engines share (src/storage/deleted-owners.ts);
// the contract suite purges deleted webhooks and accounts on both engines.
import { describe, expect, it } from 'vitest';
import {
  batchOutcome,
  emptyBatch,
  purgeReport,
  rowsRemoved,
} from '../../src/storage/deleted-owners.js';

describe('batchOutcome', () => {
  it('did nothing: not full, no progress', () => {
    expect(batchOutcome(emptyBatch(), 10)).toEqual({ full: false, progressed: false });
  });

  it('is full when any kind filled its batch, the account’s own rows included', () => {
    expect(batchOutcome({ ...emptyBatch(), attempts: 10 }, 10)).toEqual({
      full: true,
      progressed: true,
    });
    expect(batchOutcome({ ...emptyBatch(), other: 10 }, 10).full).toBe(true);
    expect(batchOutcome({ ...emptyBatch(), events: 9, rollups: 9 }, 10)).toEqual({
      full: false,
      progressed: true,
    });
  });
});

describe('reporting a batch', () => {
  const batch = { events: 1, deliveries: 2, attempts: 3, rollups: 4, other: 5 };

  it('purgeDeleted reports the history only', () => {
    expect(purgeReport(batch, true)).toEqual({
      events: 1,
      deliveries: 2,
      attempts: 3,
      rollups: 4,
      remaining: true,
    });
  });

  it('purgeDeletedAccounts counts every row', () => {
    expect(rowsRemoved(batch)).toBe(15);
  });
});
