// The storage side of delivery alone, in one process and one thread, so that its CPU per
// delivery can be compared across changes on a busy machine: publish a burst to N endpoints,
// then claim and record every attempt (all succeed) in the worker's pattern (a completion that
// claims the next batch in the same transaction), with the caps the service uses. Prints the
// CPU microseconds per delivery of publishing and of claiming plus recording.
//   node dist/bench/storage-loop.js [endpoints=10] [deliveries=20000] [runs=3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attemptRecord } from '../src/core/attempt.js';
import { SqliteStorage } from '../src/storage/sqlite/index.js';
import type { ClaimRequest, ClaimedDelivery, CompletedAttempt } from '../src/storage/index.js';
import {
  DAY,
  T,
  eventPayload,
  makeAccount,
  makeWebhook,
  nextId,
} from '../test/storage/fixtures.js';

const ENDPOINTS = Number(process.argv[2] ?? 10);
const TOTAL = Number(process.argv[3] ?? 20_000);
const RUNS = Number(process.argv[4] ?? 3);
const IN_FLIGHT = 4096;
/** Attempts recorded per completion (the service's flushes average about 40). */
const BATCH = Number(process.env.LOOP_BATCH ?? 100);
/** LOOP_CHECKPOINTS=thread: checkpoints on their own thread, as the service runs. */
const BACKGROUND = process.env.LOOP_CHECKPOINTS === 'thread';

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000; // ms
};

async function run(): Promise<{ publish: number; deliver: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'rizler-storage-loop-'));
  const storage = new SqliteStorage(join(dir, 'loop.db'), { backgroundCheckpoints: BACKGROUND });
  try {
    await storage.migrate();
    const account = await makeAccount(storage);
    for (let i = 0; i < ENDPOINTS; i++) await makeWebhook(storage, account.id);
    const events = Math.ceil(TOTAL / ENDPOINTS);
    let now = T;
    const p0 = cpu();
    for (let sent = 0; sent < events; sent += 1000) {
      const n = Math.min(1000, events - sent);
      await storage.publish({
        accountId: account.id,
        events: Array.from({ length: n }, () => {
          const id = nextId('evt');
          const payload = eventPayload(id, 'call.ended');
          return { id, type: 'call.ended', timestamp: '', payload, idempotencyKey: null };
        }),
        newDeliveryId: () => nextId('dlv'),
        now,
        idempotencyWindowMs: DAY,
      });
    }
    const publish = cpu() - p0;
    let lease = 0;
    const request = (limit: number): ClaimRequest => ({
      leaseToken: `lease-${++lease}`,
      limit,
      leaseMs: 60_000,
      now,
      maxInFlightPerEndpoint: 128,
      defaultRateLimitPerMinute: 100_000_000,
    });
    const d0 = cpu();
    // The worker's shape: up to IN_FLIGHT attempts out; the oldest BATCH finish, are recorded,
    // and the same transaction claims what their slots allow.
    const inFlight: ClaimedDelivery[] = await storage.claimDue(request(IN_FLIGHT));
    let done = 0;
    while (inFlight.length > 0) {
      now += 1;
      const batch = inFlight.splice(0, BATCH);
      const completed: CompletedAttempt[] = batch.map((claim) => ({
        claim,
        outcome: { kind: 'succeeded' },
        endpointGone: false,
        attempt: attemptRecord(
          {
            deliveryId: claim.deliveryId,
            attempt: claim.attempt,
            trigger: claim.trigger,
            url: claim.url,
          },
          {
            succeeded: true,
            startedAt: now,
            durationMs: 1,
            statusCode: 200,
            responseBody: 'ok',
            error: null,
            retryAfterMs: null,
            requestHeaders: { 'content-type': 'application/json' },
          },
        ),
      }));
      const next = request(IN_FLIGHT - inFlight.length);
      inFlight.push(
        ...(await storage.completeAttempts(completed, { now, autoDisableAfterMs: DAY }, next)),
      );
      done += batch.length;
    }
    const deliver = cpu() - d0;
    if (done !== events * ENDPOINTS) throw new Error(`delivered ${done} of ${events * ENDPOINTS}`);
    return { publish: (publish * 1000) / done, deliver: (deliver * 1000) / done };
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results = [];
for (let i = 0; i < RUNS; i++) results.push(await run());
const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' / ');
console.log(
  `storage loop, ${ENDPOINTS} endpoint(s), ${TOTAL} deliveries: CPU µs per delivery — publish ${fmt(results.map((r) => r.publish))}; claim + record ${fmt(results.map((r) => r.deliver))}`,
);
