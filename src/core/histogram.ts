// Response times as a fixed log-scale histogram, so that stats merge counts instead of reading
// every attempt. Pure: both storage engines store it (as JSON of bucket → count) and the API
// reads percentiles from it.
//
// Durations are whole milliseconds. Bucket i holds the integers [BOUNDS[i], BOUNDS[i + 1]):
// one integer each up to 25 ms, then each bucket about 4 % wider than the one before
// (BOUNDS[i + 1] = ceil(1.04 × BOUNDS[i])). A percentile is the middle of the bucket its rank
// falls in, so it is exact up to 25 ms and otherwise within 2 % of the exact nearest-rank value
// (half a bucket; under 4 % in any case). 482 buckets reach 2^31 ms (24 days); longer
// durations share the last one.

const GROWTH = 1.04;
const LIMIT = 2 ** 31;

function makeBounds(): number[] {
  const bounds = [0];
  while (bounds[bounds.length - 1]! < LIMIT) {
    const last = bounds[bounds.length - 1]!;
    bounds.push(Math.max(last + 1, Math.ceil(last * GROWTH)));
  }
  return bounds;
}

/** Lower bound (ms, inclusive) of each bucket, ascending. */
export const BOUNDS: readonly number[] = makeBounds();

/** The bucket of a duration: a binary search over the bounds. */
export function bucketOf(ms: number): number {
  const v = Number.isFinite(ms) ? Math.max(0, Math.floor(ms)) : 0;
  let lo = 0;
  let hi = BOUNDS.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (BOUNDS[mid]! <= v) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The value a bucket stands for: the middle of the whole milliseconds it holds. */
export function bucketValue(i: number): number {
  const lo = BOUNDS[i]!;
  const hi = BOUNDS[i + 1] ?? lo + 1;
  return Math.round((lo + hi - 1) / 2);
}

/** Sparse counts per bucket. */
export class DurationHistogram {
  private readonly counts = new Map<number, number>();
  private n = 0;

  get total(): number {
    return this.n;
  }

  add(ms: number, times = 1): this {
    return this.addBucket(bucketOf(ms), times);
  }

  addBucket(bucket: number, times: number): this {
    if (times === 0) return this;
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + times);
    this.n += times;
    return this;
  }

  merge(other: DurationHistogram): this {
    for (const [bucket, count] of other.counts) this.addBucket(bucket, count);
    return this;
  }

  /** Nearest-rank percentile (p in 0–100), as the middle of its bucket; null when empty. */
  percentile(p: number): number | null {
    if (this.n === 0) return null;
    const rank = Math.min(this.n, Math.max(1, Math.ceil((p / 100) * this.n)));
    let seen = 0;
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(bucket)!;
      if (seen >= rank) return bucketValue(bucket);
    }
    return null;
  }

  /** `{"bucket": count, …}`: what the engines store. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  /** Reads what toJSON wrote, as an object (jsonb) or as its text; null is empty. */
  static from(stored: unknown): DurationHistogram {
    const histogram = new DurationHistogram();
    if (stored === null || stored === undefined) return histogram;
    const counts = (typeof stored === 'string' ? JSON.parse(stored) : stored) as Record<
      string,
      number
    >;
    for (const key in counts) histogram.addBucket(Number(key), Number(counts[key]));
    return histogram;
  }

  /** Adds stored JSON text to stored JSON text (the SQLite engine's merge function). */
  static mergeText(a: string | null, b: string | null): string {
    if (a === null || a === '{}') return b ?? '{}';
    if (b === null || b === '{}') return a;
    return JSON.stringify(DurationHistogram.from(a).merge(DurationHistogram.from(b)));
  }
}
