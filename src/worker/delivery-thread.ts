// `serve` runs its delivery worker on a thread of its own (worker/thread.ts), with its own
// database connection: the API's event loop parses, validates and stores events while the
// worker's signs, sends and records, each on its own core. The host side: starts the thread,
// passes wake-ups to it, gathers its metrics, relays its log lines, restarts it if it dies,
// and stops it gracefully.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { symbols } from 'pino';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { Config } from '../config.js';

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

export type HostMessage = { type: 'wake' } | { type: 'metrics'; id: number } | { type: 'stop' };

export type ThreadMessage =
  | { type: 'ready' }
  | { type: 'log'; line: string }
  | { type: 'metrics'; id: number; data: MetricsJson }
  | { type: 'stopped' };

/** The compiled thread entry. Run from sources (tests), the `npm run build` output is used. */
function threadEntry(): URL {
  const beside = new URL('./thread.js', import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside;
  return new URL('../../dist/src/worker/thread.js', import.meta.url);
}

const RESTART_DELAY_MS = 1000;

export class DeliveryThread {
  private thread: Worker | null = null;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private nextRequest = 0;
  private readonly pending = new Map<number, (data: MetricsJson) => void>();
  private stopped: (() => void) | null = null;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
  ) {}

  /** Starts the thread; resolves once its worker is claiming. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const thread = new Worker(threadEntry(), { workerData: { config: this.config } });
      this.thread = thread;
      let ready = false;
      thread.on('message', (message: ThreadMessage) => {
        switch (message.type) {
          case 'ready':
            ready = true;
            resolve();
            break;
          case 'log':
            this.writeLog(message.line);
            break;
          case 'metrics':
            this.pending.get(message.id)?.(message.data);
            this.pending.delete(message.id);
            break;
          case 'stopped':
            this.stopped?.();
            break;
        }
      });
      thread.on('error', (err) => {
        if (!ready) reject(err);
        else this.logger.error({ err }, 'the delivery worker thread failed');
      });
      thread.on('exit', (code) => {
        this.thread = null;
        for (const answer of this.pending.values()) answer([]);
        this.pending.clear();
        this.stopped?.();
        if (!ready || this.stopping) return;
        // Its leases run out and another start sends what it had in flight (at-least-once).
        this.logger.error({ code }, 'the delivery worker thread stopped; restarting it');
        this.restartTimer = setTimeout(() => {
          this.restartTimer = null;
          if (!this.stopping)
            this.start().catch((err: unknown) =>
              this.logger.error({ err }, 'the delivery worker thread could not restart'),
            );
        }, RESTART_DELAY_MS);
      });
    });
  }

  /** Deliveries may have become due (a publish, a retry, an endpoint enabled). */
  wake(): void {
    this.thread?.postMessage({ type: 'wake' } satisfies HostMessage);
  }

  /** The thread's metrics as prom-client JSON, for aggregation with this thread's. */
  metrics(): Promise<MetricsJson> {
    const thread = this.thread;
    if (!thread) return Promise.resolve([]);
    const id = ++this.nextRequest;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      thread.postMessage({ type: 'metrics', id } satisfies HostMessage);
    });
  }

  /** Stops claiming, lets in-flight attempts finish and records them, then ends the thread. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const thread = this.thread;
    if (!thread) return;
    await new Promise<void>((resolve) => {
      this.stopped = resolve;
      thread.postMessage({ type: 'stop' } satisfies HostMessage);
    });
    await thread.terminate();
  }

  /** Writes a line the thread's logger made (already redacted) to this logger's destination. */
  private writeLog(line: string): void {
    const stream = (this.logger as unknown as Record<symbol, { write(s: string): void }>)[
      symbols.streamSym
    ];
    if (stream) stream.write(line);
    else process.stdout.write(line);
  }
}
