// Retention: events, deliveries, attempts and stats rollups older than RIZLER_RETENTION_DAYS
// are deleted in small batches, each its own short transaction, with a pause between them so
// that claims and completions never wait long behind a purge. The same loop removes the history
// of deleted webhooks and accounts (Storage.purgeDeleted): a delete only marks them, so that it
// answers at once whatever the history's size and never holds the database for long.
import type { Logger } from 'pino';
import type { PurgeResult, Storage } from '../storage/index.js';
import { PeriodicJob } from '../core/periodic.js';

export interface RetentionSettings {
  retentionDays: number;
  /** Rows of each kind per transaction. */
  batchSize?: number;
  /** Time between purges of expired rows. */
  intervalMs?: number;
  /** Time between looks for deleted webhooks and accounts to purge. */
  deletedIntervalMs?: number;
  /** Pause between batches of one run. */
  pauseMs?: number;
}

const DAY_MS = 86_400_000;

function emptyResult(): PurgeResult {
  return { events: 0, deliveries: 0, attempts: 0, rollups: 0 };
}

function add(total: PurgeResult, r: PurgeResult): void {
  total.events += r.events;
  total.deliveries += r.deliveries;
  total.attempts += r.attempts;
  total.rollups += r.rollups;
}

function rows(r: PurgeResult): number {
  return r.events + r.deliveries + r.attempts + r.rollups;
}

export class RetentionJob {
  private lastExpiredRun = 0;
  private readonly job = new PeriodicJob(
    () => this.runDue(),
    (err) => this.logger.warn({ err }, 'retention purge failed; will retry'),
  );

  constructor(
    private readonly storage: Storage,
    private readonly settings: RetentionSettings,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  private get interval(): number {
    return this.settings.intervalMs ?? 10 * 60_000;
  }

  start(): void {
    const interval = this.interval;
    const deletedInterval = Math.min(interval, this.settings.deletedIntervalMs ?? 5_000);
    // The first expiry purge 30 s after start (or sooner), then every `interval`.
    this.lastExpiredRun = this.now() - interval + Math.min(interval, 30_000);
    this.job.start(deletedInterval);
  }

  stop(): Promise<void> {
    return this.job.stop();
  }

  private async runDue(): Promise<void> {
    await this.purgeDeleted();
    if (this.now() - this.lastExpiredRun >= this.interval) {
      this.lastExpiredRun = this.now();
      await this.purgeExpired();
    }
  }

  /** Both purges until nothing is left to do; returns the rows deleted. */
  async runOnce(): Promise<PurgeResult> {
    const total = await this.purgeDeleted();
    add(total, await this.purgeExpired());
    return total;
  }

  /** The history of deleted webhooks and accounts, batch after batch until none is left. */
  async purgeDeleted(): Promise<PurgeResult> {
    const batch = this.settings.batchSize ?? 500;
    const total = emptyResult();
    for (;;) {
      if (this.job.stopped) break;
      const r = await this.storage.purgeDeleted(batch);
      add(total, r);
      if (!r.remaining) break;
      await this.pause();
    }
    if (rows(total) > 0)
      this.logger.info(total, 'purged the history of deleted webhooks and accounts');
    return total;
  }

  /** Rows older than the retention period, until a batch comes back short. */
  async purgeExpired(): Promise<PurgeResult> {
    const batch = this.settings.batchSize ?? 500;
    const before = this.now() - this.settings.retentionDays * DAY_MS;
    const total = emptyResult();
    for (;;) {
      if (this.job.stopped) break;
      const r = await this.storage.purge(before, batch);
      add(total, r);
      if (r.events < batch && r.deliveries < batch && r.attempts < batch && r.rollups < batch)
        break;
      await this.pause();
    }
    if (rows(total) > 0) {
      this.logger.info({ ...total, retentionDays: this.settings.retentionDays }, 'purged old rows');
    }
    return total;
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, this.settings.pauseMs ?? 20));
  }
}
