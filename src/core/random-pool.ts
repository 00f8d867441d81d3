// Random bytes drawn from a pool refilled 4 KiB at a time: one randomFillSync call per 341 ids
// instead of one per id (a publish of 1,000 events to 10 endpoints makes 11,000 ids).
import { randomFillSync } from 'node:crypto';

export class RandomPool {
  private readonly pool = Buffer.alloc(4096);
  private used = this.pool.length;

  /** `count` (at most 4096) fresh random bytes: a view of the pool, valid until the next call. */
  take(count: number): Buffer {
    if (this.used + count > this.pool.length) {
      randomFillSync(this.pool);
      this.used = 0;
    }
    const bytes = this.pool.subarray(this.used, this.used + count);
    this.used += count;
    return bytes;
  }

  /** One fresh random byte. */
  byte(): number {
    if (this.used >= this.pool.length) {
      randomFillSync(this.pool);
      this.used = 0;
    }
    return this.pool[this.used++]!;
  }
}
