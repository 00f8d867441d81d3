// Stats over a long history: every window answers, from rollups, after more deliveries than the
// old code (all durations in memory, spread into one array) could take; the list-level route
// gives every endpoint's figures in one request; a delete answers at once and its history goes
// in the background. The history is put in through the storage contract (test/helpers/history),
// with no worker running, so nothing else touches it.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetentionJob } from '../../src/worker/retention.js';
import { recordHistory } from '../helpers/history.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** Nearest-rank percentile of an ascending list. */
function exact(sorted: readonly number[], p: number): number {
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

/** A skewed, deterministic spread of response times: mostly 5-200 ms, a few seconds-long. */
function duration(i: number): number {
  const x = (i * 7919) % 10_000;
  return x < 9_900 ? 5 + Math.floor((x * x) / 500_000) : 2_000 + x;
}

describe('webhook stats', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ RIZLER_RUN_WORKER: 'false' });
  });
  afterAll(async () => {
    await server.close();
  });

  it('answers every window after 210,000 deliveries to one endpoint', async () => {
    const hook = await server.api('/v1/webhooks', {
      body: { url: 'http://127.0.0.1:9/big', events: ['call.ended'] },
    });
    const count = 210_000;
    const start = Date.now() - 50 * 60_000;
    await recordHistory(server.service.storage, {
      accountId: server.accountId,
      count,
      // All within the last hour, so that every window holds all of them.
      at: (i) => start + Math.floor((i / count) * 45 * 60_000),
      durationMs: duration,
      succeeded: (i) => i % 100 !== 0,
      batch: 5000,
    });
    const sorted = Array.from({ length: count }, (_, i) => duration(i)).sort((a, b) => a - b);
    for (const window of ['1h', '24h', '7d']) {
      const res = await server.api(`/v1/webhooks/${hook.body.id}/stats?window=${window}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({
        window,
        deliveries: count,
        succeeded: count - count / 100,
        failed: count / 100,
        pending: 0,
        success_rate: 0.99,
      });
      for (const p of [50, 95, 99] as const) {
        const got = res.body.response_time_ms[`p${p}`] as number;
        expect(Math.abs(got - exact(sorted, p)) / exact(sorted, p)).toBeLessThanOrEqual(0.05);
      }
      expect(res.body.series.reduce((n: number, b: any) => n + b.deliveries, 0)).toBe(count);
    }
    const all = await server.api('/v1/webhooks/stats?window=7d');
    expect(all.status).toBe(200);
    expect(all.body.data).toHaveLength(1);
    expect(all.body.data[0]).toMatchObject({ webhook_id: hook.body.id, deliveries: count });
    // Recording 210,000 takes 10-15 s on a quiet 2-core machine, far longer on a busy one.
  }, 300_000);

  it("lists every endpoint's figures in one request, paginated as the webhook list is", async () => {
    const a = await server.api('/v1/webhooks', {
      body: { url: 'http://127.0.0.1:9/a', events: ['call.ended'] },
    });
    const b = await server.api('/v1/webhooks', {
      body: { url: 'http://127.0.0.1:9/b', events: ['call.ended'] },
    });
    const listed = await server.api('/v1/webhooks/stats?window=24h&limit=100');
    expect(listed.status).toBe(200);
    const webhooks = await server.api('/v1/webhooks?limit=100');
    expect(listed.body.data.map((s: any) => s.webhook_id)).toEqual(
      webhooks.body.data.map((w: any) => w.id),
    );
    for (const id of [a.body.id, b.body.id]) {
      const one = await server.api(`/v1/webhooks/${id}/stats?window=24h`);
      const { series: _series, bucket_seconds: _seconds, ...figures } = one.body;
      expect(listed.body.data.find((s: any) => s.webhook_id === id)).toEqual({
        webhook_id: id,
        ...figures,
      });
    }
    const first = await server.api('/v1/webhooks/stats?limit=1');
    expect(first.body.data).toHaveLength(1);
    const second = await server.api(`/v1/webhooks/stats?limit=1&cursor=${first.body.next_cursor}`);
    expect(second.body.data[0].webhook_id).toBe(webhooks.body.data[1].id);
    const other = await server.newAccount();
    const theirs = await server.api('/v1/webhooks/stats', { apiKey: other.apiKey });
    expect(theirs.body).toEqual({ data: [], next_cursor: null });
  });

  it('deletes an endpoint with a long history at once and purges the history in batches', async () => {
    const other = await server.newAccount('deleting');
    const hook = await server.api('/v1/webhooks', {
      apiKey: other.apiKey,
      body: { url: 'http://127.0.0.1:9/gone', events: ['call.ended'] },
    });
    await recordHistory(server.service.storage, {
      accountId: other.accountId,
      count: 20_000,
      at: (i) => Date.now() - 60_000 + i,
      durationMs: duration,
    });
    const before = await server.api('/v1/deliveries?limit=1', { apiKey: other.apiKey });
    expect(before.body.data).toHaveLength(1);
    const deleted = await server.api(`/v1/webhooks/${hook.body.id}`, {
      method: 'DELETE',
      apiKey: other.apiKey,
    });
    expect(deleted.status).toBe(204);
    const read = await server.api(`/v1/webhooks/${hook.body.id}`, { apiKey: other.apiKey });
    expect(read.status).toBe(404);
    const gone = await server.api(`/v1/deliveries/${before.body.data[0].id}`, {
      apiKey: other.apiKey,
    });
    expect(gone.status).toBe(404);
    expect((await server.api('/v1/deliveries', { apiKey: other.apiKey })).body.data).toEqual([]);

    const job = new RetentionJob(
      server.service.storage,
      { retentionDays: 30, batchSize: 1000, pauseMs: 0 },
      pino({ level: 'silent' }),
    );
    const purged = await job.purgeDeleted();
    expect(purged).toMatchObject({ deliveries: 20_000, attempts: 20_000 });
    expect(purged.rollups).toBeGreaterThan(0);
    expect(await server.service.storage.purgeDeleted(1000)).toMatchObject({ remaining: false });
  });
});
