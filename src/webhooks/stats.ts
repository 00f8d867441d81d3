// Per-endpoint delivery statistics over a window, with a time series for charts. The storage
// answers from rollups (storage/rollups.ts): counts and response-time histograms per 5 minutes,
// so the cost of a call does not grow with the traffic.
import { Type, type Static } from '@sinclair/typebox';
import { DurationHistogram } from '../core/histogram.js';
import type { AppContext } from '../http/context.js';
import { iso, isoOrNull } from '../http/context.js';

const WINDOWS = {
  '1h': { ms: 3_600_000, bucketMs: 5 * 60_000 },
  '24h': { ms: 86_400_000, bucketMs: 3_600_000 },
  '7d': { ms: 7 * 86_400_000, bucketMs: 6 * 3_600_000 },
} as const;
type Window = keyof typeof WINDOWS;

export const StatsQuery = Type.Object({
  window: Type.Optional(
    Type.Union([Type.Literal('1h'), Type.Literal('24h'), Type.Literal('7d')], { default: '24h' }),
  ),
});

const Ms = Type.Union([Type.Number(), Type.Null()]);
export const StatsBody = Type.Object({
  window: Type.String(),
  deliveries: Type.Integer(),
  succeeded: Type.Integer(),
  failed: Type.Integer(),
  pending: Type.Integer(),
  success_rate: Type.Union([Type.Number(), Type.Null()], {
    description: 'succeeded / (succeeded + failed), 0 to 1; null before any finished delivery',
  }),
  response_time_ms: Type.Object({ p50: Ms, p95: Ms, p99: Ms }),
  last_delivery_at: Type.Union([Type.String(), Type.Null()]),
  bucket_seconds: Type.Integer(),
  series: Type.Array(
    Type.Object({
      start: Type.String(),
      deliveries: Type.Integer(),
      succeeded: Type.Integer(),
      failed: Type.Integer(),
      pending: Type.Integer(),
      p50: Ms,
      p95: Ms,
    }),
  ),
});

export async function statsFor(
  ctx: AppContext,
  accountId: string,
  webhookId: string,
  window: Window,
): Promise<Static<typeof StatsBody>> {
  const { ms, bucketMs } = WINDOWS[window];
  const now = ctx.now();
  // Buckets align to their own size so that successive polls show the same series.
  const since = Math.floor((now - ms) / bucketMs) * bucketMs;
  const raw = await ctx.storage.webhookStats({ accountId, webhookId, since, bucketMs });
  const byStart = new Map(raw.buckets.map((b) => [b.start, b]));
  const series: Static<typeof StatsBody>['series'] = [];
  const all = new DurationHistogram();
  for (let start = since; start <= now; start += bucketMs) {
    const b = byStart.get(start);
    const durations = b ? b.durations : new DurationHistogram();
    all.merge(durations);
    series.push({
      start: iso(start),
      deliveries: b ? b.succeeded + b.failed + b.pending : 0,
      succeeded: b?.succeeded ?? 0,
      failed: b?.failed ?? 0,
      pending: b?.pending ?? 0,
      p50: durations.percentile(50),
      p95: durations.percentile(95),
    });
  }
  const finished = raw.succeeded + raw.failed;
  return {
    window,
    deliveries: raw.succeeded + raw.failed + raw.pending,
    succeeded: raw.succeeded,
    failed: raw.failed,
    pending: raw.pending,
    success_rate: finished === 0 ? null : raw.succeeded / finished,
    response_time_ms: {
      p50: all.percentile(50),
      p95: all.percentile(95),
      p99: all.percentile(99),
    },
    last_delivery_at: isoOrNull(raw.lastDeliveryAt),
    bucket_seconds: bucketMs / 1000,
    series,
  };
}
