import { describe, expect, it } from 'vitest';
import { BOUNDS, DurationHistogram, bucketOf, bucketValue } from '../../src/core/histogram.js';

/** Nearest-rank percentile of an ascending list: what stats answered before rollups. */
function exact(sorted: readonly number[], p: number): number {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** A deterministic PRNG (mulberry32), so the distribution is the same on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Response times as receivers give them: log-normal around `median` ms, a slow tail. */
function responseTimes(count: number, median: number, seed: number): number[] {
  const next = random(seed);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    // Box–Muller for a normal deviate; σ = 0.8 gives p99 ≈ 6.4 × the median.
    const z = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    let ms = Math.round(median * Math.exp(0.8 * z));
    if (next() < 0.01) ms = Math.round(2_000 + next() * 8_000); // 1 % timeouts-ish
    out.push(ms);
  }
  return out;
}

describe('duration histogram', () => {
  it('has one bucket per millisecond up to 25 ms, then buckets about 4 % wide', () => {
    expect(BOUNDS.slice(0, 28)).toEqual([...Array.from({ length: 27 }, (_, i) => i), 28]);
    for (let i = 27; i < BOUNDS.length - 1; i++) {
      const width = BOUNDS[i + 1]! - BOUNDS[i]!;
      expect(width / BOUNDS[i]!).toBeGreaterThanOrEqual(0.04);
      expect(width / BOUNDS[i]!).toBeLessThan(0.04 + 1 / BOUNDS[i]!);
    }
    expect(BOUNDS.length).toBeLessThan(500);
    expect(BOUNDS[BOUNDS.length - 1]).toBeGreaterThanOrEqual(2 ** 31);
  });

  it('puts every duration in the bucket whose bounds hold it, and stands within 4 % of it', () => {
    for (let ms = 0; ms <= 200_000; ms += ms < 1000 ? 1 : 37) {
      const b = bucketOf(ms);
      expect(BOUNDS[b]).toBeLessThanOrEqual(ms);
      expect(BOUNDS[b + 1]).toBeGreaterThan(ms);
      expect(Math.abs(bucketValue(b) - ms)).toBeLessThanOrEqual(Math.max(0, 0.04 * ms));
      if (ms <= 25) expect(bucketValue(b)).toBe(ms);
    }
    expect(bucketOf(-5)).toBe(0);
    expect(bucketOf(Number.NaN)).toBe(0);
    expect(bucketOf(1e15)).toBe(BOUNDS.length - 1);
  });

  it.each([
    { median: 8, seed: 1 },
    { median: 45, seed: 2 },
    { median: 350, seed: 3 },
  ])('gives p50, p95 and p99 within 5 % of the exact values (median $median ms)', (c) => {
    const durations = responseTimes(100_000, c.median, c.seed);
    const histogram = new DurationHistogram();
    for (const ms of durations) histogram.add(ms);
    durations.sort((a, b) => a - b);
    expect(histogram.total).toBe(durations.length);
    for (const p of [50, 95, 99]) {
      const want = exact(durations, p);
      const got = histogram.percentile(p)!;
      expect(Math.abs(got - want) / want, `p${p}: ${got} vs ${want}`).toBeLessThanOrEqual(0.05);
    }
  });

  it('merges, and survives its stored form', () => {
    const a = new DurationHistogram().add(3).add(3).add(500);
    const b = new DurationHistogram().add(3).add(9_000);
    const stored = JSON.stringify(a);
    const merged = DurationHistogram.from(stored).merge(DurationHistogram.from(b.toJSON()));
    expect(merged.total).toBe(5);
    expect(merged.percentile(50)).toBe(3);
    expect(merged.percentile(100)).toBe(bucketValue(bucketOf(9_000)));
    expect(DurationHistogram.from(DurationHistogram.mergeText(stored, JSON.stringify(b)))).toEqual(
      merged,
    );
    expect(DurationHistogram.mergeText('{}', stored)).toBe(stored);
    expect(DurationHistogram.mergeText(stored, null)).toBe(stored);
    expect(new DurationHistogram().percentile(50)).toBeNull();
    expect(DurationHistogram.from(null).total).toBe(0);
  });
});
