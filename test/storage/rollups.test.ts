// The stats rollups both engines write and read (src/storage/rollups.ts), without an engine;
// the contract suite checks webhookStats on both.
import { describe, expect, it } from 'vitest';
import { foldStats, noStats, RollupBatch, SLOT_MS } from '../../src/storage/rollups.js';
import type { TestSendRecord } from '../../src/storage/types.js';
import { storedHeaders } from '../../src/core/request-headers.js';

const S = 1_700_000_100_000 - (1_700_000_100_000 % SLOT_MS);

function testSend(succeeded: boolean): TestSendRecord {
  return {
    accountId: 'acc_1',
    webhookId: 'wh_1',
    event: {
      id: 'evt_1',
      type: 'webhook.test',
      timestamp: '',
      payload: '{}',
      idempotencyKey: null,
    },
    deliveryId: 'dlv_1',
    attempt: {
      deliveryId: 'dlv_1',
      attempt: 1,
      trigger: 'test',
      url: 'https://example.com',
      startedAt: S + 10,
      durationMs: 42,
      statusCode: succeeded ? 200 : 500,
      responseBody: null,
      error: null,
      requestHeaders: storedHeaders({}),
    },
    succeeded,
    // recorded after the attempt, in the next slot
    now: S + SLOT_MS + 5,
  };
}

describe('RollupBatch.testSend', () => {
  it('counts the attempt where it started and the delivery, new and finished, where it was made', () => {
    const batch = new RollupBatch();
    batch.testSend(testSend(true), 'wh_1');
    const [attemptSlot, deliverySlot] = batch.deltas();
    expect(attemptSlot).toMatchObject({ slot: S, succeeded: 0, failed: 0, lastAttemptAt: S + 10 });
    expect(attemptSlot!.histogram.total).toBe(1);
    expect(deliverySlot).toMatchObject({ slot: S + SLOT_MS, succeeded: 1, failed: 0 });
    expect(deliverySlot!.histogram.total).toBe(0);
  });

  it('counts a failed test send as failed', () => {
    const batch = new RollupBatch();
    batch.testSend(testSend(false), 'wh_1');
    expect(batch.deltas().map((d) => [d.succeeded, d.failed])).toEqual([
      [0, 0],
      [0, 1],
    ]);
  });
});

describe('foldStats', () => {
  it('is the empty answer with no rows and nothing pending', () => {
    expect(foldStats([], new Map(), null, S, SLOT_MS)).toEqual(noStats());
  });
});
