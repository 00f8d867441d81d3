// Background upkeep of accounts, beside the delivery worker:
// - a suspended (or deleted) account's deliveries that became due again (an attempt in
//   flight at suspension, scheduled for a retry on completion) are parked once more;
// - audit records and expired portal sessions older than RIZLER_RETENTION_DAYS are purged.
// A deleted account's rows are removed by the retention job (worker/retention.ts), with the
// history of deleted webhooks: deleteAccount marks it as deleteWebhook marks an endpoint.
import type { Logger } from 'pino';
import type { Storage } from '../storage/index.js';
import { PeriodicJob } from '../core/periodic.js';

export interface JanitorSettings {
  retentionDays: number;
  /** Time between sweeps. 1 s: a suspended account's retry is parked within a second. */
  intervalMs?: number;
  /** Rows of each kind per transaction. */
  batchSize?: number;
  /** Pause between batches of one sweep. */
  pauseMs?: number;
}

const DAY_MS = 86_400_000;
/** The audit log's retention runs at most this often. */
const AUDIT_PURGE_EVERY_MS = 10 * 60_000;

export class AccountJanitor {
  private readonly job = new PeriodicJob(
    () => this.runOnce(),
    (err) => this.logger.warn({ err }, 'account upkeep failed; will retry'),
  );
  private lastAuditPurge = 0;

  constructor(
    private readonly storage: Storage,
    private readonly settings: JanitorSettings,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.job.start(this.settings.intervalMs ?? 1000, { unref: true });
  }

  stop(): Promise<void> {
    return this.job.stop();
  }

  /** One sweep; returns the rows it parked and the audit records it removed. */
  async runOnce(): Promise<{ parked: number; audit: number }> {
    const batch = this.settings.batchSize ?? 500;
    const pause = () => new Promise((r) => setTimeout(r, this.settings.pauseMs ?? 20));
    const parked = await this.storage.parkInactiveAccounts(this.now());
    let audit = 0;
    const now = this.now();
    if (now - this.lastAuditPurge >= AUDIT_PURGE_EVERY_MS) {
      this.lastAuditPurge = now;
      const before = now - this.settings.retentionDays * DAY_MS;
      for (;;) {
        if (this.job.stopped) break;
        const n = await this.storage.purgeAuditLog(before, batch);
        audit += n;
        if (n < batch) break;
        await pause();
      }
    }
    if (audit > 0) this.logger.info({ audit }, 'account upkeep');
    return { parked, audit };
  }
}
