// A CountingReceiver whose server runs in a process of its own (receiver-child.ts). The parent
// keeps the same interface as the in-process receiver: `count` and `arrivals` are copies the
// child refreshes every 10 ms, and waitFor(n) resolves when the child itself has counted n.
// Arrival times are on this process's performance.now() clock, shifted by where each
// process's performance.now() begins on the monotonic clock the two share (hrOrigin).
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FromReceiver, ToReceiver } from './receiver-child.js';
import { hrOrigin, type CountingReceiver, type ReceiverOptions } from './receiver.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'receiver-child.js');

export async function startReceiverProcess(
  options: Pick<ReceiverOptions, 'recordArrivals' | 'hang' | 'delayMs' | 'verifySecret'> = {},
): Promise<CountingReceiver> {
  const child = fork(CHILD, [], {
    env: {
      ...process.env,
      BENCH_RECEIVER_OPTIONS: JSON.stringify({ ...options, origin: String(hrOrigin()) }),
    },
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const send = (m: ToReceiver) => child.send(m);
  // Messages from before the latest reset are dropped: `epoch` counts resets.
  let epoch = 0;
  let count = 0;
  let rejected = 0;
  let nextId = 0;
  const arrivals = new Map<string, number>();
  const waiters = new Map<number, () => void>();
  /** Resets sent and not yet applied by the child, by epoch. */
  const resets = new Map<number, () => void>();

  const url = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    void exited.then(() => reject(new Error('the receiver process exited before it was ready')));
    child.on('message', (m: FromReceiver) => {
      if (m.type === 'ready') return resolve(m.url);
      if (m.type === 'reached') {
        // A waiter is resolved even across a reset: the child counted what it asked for.
        if (m.epoch === epoch) count = Math.max(count, m.count);
        waiters.get(m.id)?.();
        waiters.delete(m.id);
        return;
      }
      if (m.type === 'reset') {
        resets.get(m.epoch)?.();
        resets.delete(m.epoch);
        return;
      }
      if (m.epoch !== epoch) return;
      if (m.type === 'count') {
        count = m.count;
        rejected = m.rejected;
      } else for (const [id, at] of m.entries) if (!arrivals.has(id)) arrivals.set(id, at);
    });
  });

  return {
    url,
    pid: child.pid,
    get count() {
      return count;
    },
    get rejected() {
      return rejected;
    },
    arrivals,
    waitFor(total) {
      if (count >= total) return Promise.resolve();
      const id = nextId++;
      return new Promise((resolve) => {
        waiters.set(id, resolve);
        send({ type: 'waitFor', id, total, epoch });
      });
    },
    reset() {
      epoch++;
      count = 0;
      rejected = 0;
      arrivals.clear();
      const applied = new Promise<void>((resolve) => resets.set(epoch, resolve));
      send({ type: 'reset', epoch });
      return applied;
    },
    async close() {
      if (child.connected) child.disconnect();
      await exited;
    },
  };
}
