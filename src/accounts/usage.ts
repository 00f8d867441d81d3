// `last_used_at` of API keys, kept off the hot path: each request notes the time in memory,
// and the notes are written in one statement every few seconds (and at shutdown). A key's
// `last_used_at` is thus late by at most FLUSH_INTERVAL_MS on other processes; this process
// shows its own notes at once.
import type { Storage } from '../storage/index.js';

const FLUSH_INTERVAL_MS = 10_000;

export class KeyUsage {
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly storage: Storage) {}

  note(keyId: string, at: number): void {
    this.pending.set(keyId, at);
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** What this process noted and has not written yet. */
  noted(keyId: string): number | null {
    return this.pending.get(keyId) ?? null;
  }

  /** Writes the notes; a failed write keeps them for the next flush. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    if (batch.size === 0) return this.flushing;
    this.pending = new Map();
    this.flushing = this.flushing.then(() =>
      this.storage.touchApiKeys(batch).catch(() => {
        for (const [id, at] of batch) {
          if ((this.pending.get(id) ?? 0) < at) this.note(id, at);
        }
      }),
    );
    return this.flushing;
  }
}
