// A long delivery history, put in fast through the storage contract (publish, claim, complete,
// a thousand at a time) instead of over HTTP and a receiver: what stats and deletes are tested
// and measured against.
import { newId } from '../../src/core/ids.js';
import type { Storage } from '../../src/storage/index.js';
import { storedHeaders } from '../../src/core/request-headers.js';

export interface HistoryOptions {
  accountId: string;
  /** Deliveries to make (one per event: the account should have one subscribed endpoint). */
  count: number;
  /** When the i-th delivery is published and attempted. */
  at: (i: number) => number;
  /** The i-th attempt's response time (ms). */
  durationMs: (i: number) => number;
  /** Whether the i-th attempt succeeds (default: all do); a failure is final. */
  succeeded?: (i: number) => boolean;
  batch?: number;
}

export async function recordHistory(storage: Storage, options: HistoryOptions): Promise<void> {
  const batch = options.batch ?? 1000;
  for (let done = 0; done < options.count; done += batch) {
    const n = Math.min(batch, options.count - done);
    const now = options.at(done);
    const events = Array.from({ length: n }, () => {
      const id = newId('evt', now);
      const timestamp = new Date(now).toISOString();
      return {
        id,
        type: 'call.ended',
        timestamp,
        payload: JSON.stringify({ id, event: 'call.ended', timestamp, data: {} }),
        idempotencyKey: null,
      };
    });
    await storage.publish({
      accountId: options.accountId,
      events,
      newDeliveryId: () => newId('dlv', now),
      now,
      idempotencyWindowMs: 86_400_000,
    });
    let i = done;
    for (;;) {
      const claimed = await storage.claimDue({
        leaseToken: `history-${done}-${i}`,
        limit: batch,
        leaseMs: 60_000,
        now,
        maxInFlightPerEndpoint: 1_000_000,
        defaultRateLimitPerMinute: 1_000_000_000,
      });
      if (claimed.length === 0) break;
      await storage.completeAttempts(
        claimed.map((claim) => {
          const ok = options.succeeded?.(i) ?? true;
          const durationMs = options.durationMs(i++);
          return {
            claim,
            outcome: ok ? { kind: 'succeeded' as const } : { kind: 'failed' as const },
            endpointGone: false,
            attempt: {
              deliveryId: claim.deliveryId,
              attempt: claim.attempt,
              trigger: claim.trigger,
              url: claim.url,
              startedAt: now,
              durationMs,
              statusCode: ok ? 200 : 500,
              responseBody: ok ? 'ok' : 'no',
              error: null,
              requestHeaders: storedHeaders({}),
            },
          };
        }),
        { now, autoDisableAfterMs: 86_400_000 },
      );
    }
  }
}
