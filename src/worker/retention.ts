// Retention: events, deliveries and attempts older than RIZLER_RETENTION_DAYS are deleted in
// small batches, each its own short transaction, with a pause between them so that claims and
// completions never wait long behind a purge.
import type { Logger } from 'pino';
import type { Storage } from '../storage/index.js';

export interface RetentionSettings {
  retentionDays: number;
  /** Rows of each kind per transaction. */
  batchSize?: number;
  /** Time between purge runs. */
  intervalMs?: number;
  /** Pause between batches of one run. */
  pauseMs?: number;
}

const DAY_MS = 86_400_000;

export class RetentionJob {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly storage: Storage,
    private readonly settings: RetentionSettings,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    const interval = this.settings.intervalMs ?? 10 * 60_000;
    const tick = () => {
      this.running = this.runOnce()
        .then(() => undefined)
        .catch((err: unknown) => this.logger.warn({ err }, 'retention purge failed; will retry'))
        .finally(() => {
          this.running = null;
          if (!this.stopped) this.timer = setTimeout(tick, interval);
        });
    };
    this.timer = setTimeout(tick, Math.min(interval, 30_000));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Purges until a batch comes back short; returns the rows deleted. */
  async runOnce(): Promise<{ events: number; deliveries: number; attempts: number }> {
    const batch = this.settings.batchSize ?? 500;
    const before = this.now() - this.settings.retentionDays * DAY_MS;
    const total = { events: 0, deliveries: 0, attempts: 0 };
    for (;;) {
      if (this.stopped) break;
      const r = await this.storage.purge(before, batch);
      total.events += r.events;
      total.deliveries += r.deliveries;
      total.attempts += r.attempts;
      if (r.events < batch && r.deliveries < batch && r.attempts < batch) break;
      await new Promise((resolve) => setTimeout(resolve, this.settings.pauseMs ?? 20));
    }
    if (total.events + total.deliveries + total.attempts > 0) {
      this.logger.info({ ...total, retentionDays: this.settings.retentionDays }, 'purged old rows');
    }
    return total;
  }
}
