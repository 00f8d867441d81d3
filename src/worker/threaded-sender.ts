// Sending on a thread of its own. The worker's thread keeps the database work (claims,
// completions) and this one signs, sends and reads responses: the two halves of each
// attempt run on two cores. Attempts cross in batches: what the worker hands over in one
// task goes in one message, and what the thread has answered in one turn of its loop comes
// back in one, on a channel of its own that the worker can also read between its turns
// (collect). Same contract as Sender: a promise per attempt that resolves with its result.
import {
  MessageChannel,
  receiveMessageOnPort,
  Worker,
  type MessagePort,
} from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { threadEntry } from '../core/thread-entry.js';
import type { AttemptResult, AttemptSender, OutgoingAttempt } from '../core/attempt.js';

export type SendHostMessage =
  { type: 'send'; batch: [id: number, attempt: OutgoingAttempt][] } | { type: 'close' };

export type SendOutcome = { id: number; result: AttemptResult } | { id: number; error: string };

export type SendThreadMessage = { type: 'ready' } | { type: 'closed' };

/** What the thread answers on its results port. */
export interface SendResults {
  batch: SendOutcome[];
}

/** What the thread is started with. */
export interface SendThreadData {
  config: Config;
  results: MessagePort;
}

interface Waiting {
  resolve: (result: AttemptResult) => void;
  reject: (err: Error) => void;
}

const RESTART_DELAY_MS = 1000;

export class ThreadedSender implements AttemptSender {
  /** The running thread, once it said it is ready; null while it starts or restarts. */
  private thread: Worker | null = null;
  /** Where the running thread answers; read by its listener, or at once by collect(). */
  private results: MessagePort | null = null;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();
  private outbox: [number, OutgoingAttempt][] = [];
  private flushScheduled = false;
  private closing = false;
  private drained: (() => void) | null = null;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
  ) {}

  /** Starts the thread; resolves once it can send. */
  start(): Promise<void> {
    const channel = new MessageChannel();
    const data: SendThreadData = { config: this.config, results: channel.port2 };
    const thread = new Worker(threadEntry(import.meta.url, './send-thread.js'), {
      workerData: data,
      transferList: [channel.port2],
    });
    const results = channel.port1;
    results.on('message', (message: SendResults) => this.settleAll(message));
    return new Promise((resolve, reject) => {
      let started = false;
      thread.on('message', (message: SendThreadMessage) => {
        if (message.type === 'ready') {
          started = true;
          this.thread = thread;
          this.results = results;
          this.flush();
          resolve();
        }
      });
      thread.on('error', (err) => {
        if (!started) reject(err);
        else this.logger.error({ err }, 'the sending thread failed');
      });
      thread.on('exit', (code) => {
        if (this.thread === thread) this.thread = null;
        // Answers it sent before it stopped are settled first.
        this.drain(results);
        if (this.results === results) this.results = null;
        results.close();
        // Attempts it had in flight fail on our side; their deliveries are retried.
        for (const id of [...this.waiting.keys()]) {
          this.settle({ id, error: 'the sending thread stopped during the attempt' });
        }
        if (!started) {
          reject(new Error(`the sending thread exited (${code}) before it was ready`));
          return;
        }
        if (this.closing) return;
        this.logger.error({ code }, 'the sending thread stopped; restarting it');
        setTimeout(() => {
          if (!this.closing)
            this.start().catch((err: unknown) =>
              this.logger.error({ err }, 'the sending thread could not restart'),
            );
        }, RESTART_DELAY_MS).unref();
      });
    });
  }

  /** Hands the attempt to the thread; while it restarts, the attempt waits for it. */
  send(attempt: OutgoingAttempt): Promise<AttemptResult> {
    if (this.closing) return Promise.reject(new Error('the sending thread is closed'));
    const id = ++this.nextId;
    this.outbox.push([id, attempt]);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // At the end of this task, not of this turn of the loop: a turn that goes on to take
      // many publishes would hold the attempts back for all of them.
      queueMicrotask(() => this.flush());
    }
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  /** Ends the thread after its attempts in flight (each bounded by its timeout) are answered. */
  async close(): Promise<void> {
    this.closing = true;
    const thread = this.thread;
    if (!thread) {
      // Closed while restarting: what waited for the thread is not sent.
      for (const id of [...this.waiting.keys()]) {
        this.settle({ id, error: 'the sending thread closed before the attempt' });
      }
      return;
    }
    if (this.waiting.size > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    await new Promise<void>((resolve) => {
      thread.on('message', (m: SendThreadMessage) => m.type === 'closed' && resolve());
      thread.on('exit', () => resolve());
      thread.postMessage({ type: 'close' } satisfies SendHostMessage);
    });
    await thread.terminate();
  }

  private flush(): void {
    this.flushScheduled = false;
    if (!this.thread || this.outbox.length === 0) return;
    const batch = this.outbox;
    this.outbox = [];
    this.thread.postMessage({ type: 'send', batch } satisfies SendHostMessage);
  }

  /**
   * Settles the answers the thread has sent and this thread has not read yet, without waiting
   * for the event loop to read them: a turn that takes many publishes reads its messages only
   * after all of them.
   */
  collect(): number {
    return this.results ? this.drain(this.results) : 0;
  }

  /** Settles every answer waiting on `port`, read at once; how many. */
  private drain(port: MessagePort): number {
    let settled = 0;
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
      settled += this.settleAll(m.message as SendResults);
    }
    return settled;
  }

  private settleAll(message: SendResults): number {
    for (const outcome of message.batch) this.settle(outcome);
    return message.batch.length;
  }

  private settle(outcome: SendOutcome): void {
    const waiting = this.waiting.get(outcome.id);
    if (!waiting) return;
    this.waiting.delete(outcome.id);
    if ('result' in outcome) waiting.resolve(outcome.result);
    else waiting.reject(new Error(outcome.error));
    if (this.waiting.size === 0) this.drained?.();
  }
}
