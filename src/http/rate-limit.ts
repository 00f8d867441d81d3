// Token buckets for the API: a burst up to the limit, refilled continuously over the minute.
// In memory, per process: the management API limit guards one server against one account.

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** Seconds until one request is allowed again (when refused). */
  retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  at: number;
  /** The limit the bucket was last counted against (an account may have its own). */
  perMinute: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /** `perMinute`: the limit of keys that have none of their own. */
  constructor(private readonly perMinute: number) {}

  /**
   * Takes `cost` tokens (a batch of N events takes N), all or none: when fewer are left,
   * nothing is taken and the decision says how long until `cost` are there again.
   * `perMinute`: this key's own limit (an account's, set by the operator), else the limiter's.
   */
  take(
    key: string,
    cost = 1,
    now: number = Date.now(),
    perMinute: number = this.perMinute,
  ): RateDecision {
    const bucket = this.refill(key, now, perMinute);
    const allowed = bucket.tokens >= cost;
    if (allowed) bucket.tokens -= cost;
    this.buckets.set(key, bucket);
    if (this.buckets.size > 100_000) this.evictFull(now);
    return decision(bucket, allowed, cost);
  }

  /** The bucket as it stands, taking nothing: would one more request be allowed? */
  peek(key: string, now: number = Date.now(), perMinute: number = this.perMinute): RateDecision {
    const bucket = this.refill(key, now, perMinute);
    return decision(bucket, bucket.tokens >= 1, 1);
  }

  private refill(key: string, now: number, perMinute: number): Bucket {
    const stored = this.buckets.get(key);
    if (!stored) return { tokens: perMinute, at: now, perMinute };
    return {
      tokens: Math.min(perMinute, stored.tokens + (now - stored.at) * (perMinute / 60_000)),
      at: now,
      perMinute,
    };
  }

  /** A full bucket is the same as no bucket: forget those so memory stays bounded. */
  private evictFull(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.at) * (b.perMinute / 60_000) >= b.perMinute) {
        this.buckets.delete(key);
      }
    }
  }
}

function decision(bucket: Bucket, allowed: boolean, cost: number): RateDecision {
  const { perMinute } = bucket;
  const rate = perMinute / 60_000;
  // More than the bucket holds can never be taken at once: wait for a full bucket, and the
  // caller says to split the request.
  const needed = Math.min(cost, perMinute);
  return {
    allowed,
    limit: perMinute,
    remaining: Math.floor(bucket.tokens),
    resetSeconds: Math.ceil((perMinute - bucket.tokens) / rate / 1000),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((needed - bucket.tokens) / rate / 1000)),
  };
}

export function rateLimitHeaders(d: RateDecision): Record<string, string> {
  return {
    'x-ratelimit-limit': String(d.limit),
    'x-ratelimit-remaining': String(d.remaining),
    'x-ratelimit-reset': String(d.resetSeconds),
  };
}
