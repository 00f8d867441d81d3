// The PostgreSQL engine's wake-up across processes: a NOTIFY on one channel, inside the
// transaction that made deliveries due, and a LISTEN connection in every process with a
// worker.
import pg from 'pg';

/** The NOTIFY channel every process listens on for "deliveries may be due". */
export const WAKE_CHANNEL = 'rizler_wake';

/**
 * The LISTEN side of the wake-up: one dedicated connection (never a pooled one, which would be
 * handed to other queries) that reconnects by itself with backoff. Held only while someone
 * listens. After a reconnect it wakes its listener once: notifications sent while it was away
 * are lost, and the deliveries they announced may be due now.
 */
export class WakeChannel {
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private stopping: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private failures = 0;

  constructor(
    private readonly config: pg.ClientConfig,
    /** Our own NOTIFY payload: those wakes were already delivered in-process. */
    private readonly selfId: string,
    private readonly wake: () => void,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  /** Resolves when every connection this channel opened is closed. */
  stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // Detach first: a start() right after us gets a client of its own, and a connect still
    // under way sees it is no longer wanted.
    const client = this.client;
    this.client = null;
    const connecting = this.connecting;
    const previous = this.stopping;
    this.stopping = (async () => {
      await previous;
      await connecting;
      if (client) await client.end().catch(() => undefined);
    })();
    return this.stopping;
  }

  private connect(): void {
    this.timer = null;
    if (!this.running) return;
    const client = new pg.Client(this.config);
    this.client = client;
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (message) => {
      if (message.channel === WAKE_CHANNEL && message.payload !== this.selfId) this.wake();
    });
    const connecting = (async () => {
      try {
        await client.connect();
        if (this.client !== client) return;
        await client.query(`LISTEN ${WAKE_CHANNEL}`);
        if (this.failures > 0) this.wake();
        this.failures = 0;
      } catch {
        this.lost(client);
      }
    })();
    const tracked: Promise<void> = connecting.finally(() => {
      if (this.connecting === tracked) this.connecting = null;
    });
    this.connecting = tracked;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    void client.end().catch(() => undefined);
    if (!this.running) return;
    // 250 ms, 500 ms, … up to 30 s, with jitter so a restarted database is not stormed.
    const delay = Math.min(30_000, 250 * 2 ** this.failures++) * (0.5 + Math.random() / 2);
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref();
  }
}
