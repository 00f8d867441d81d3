// Baseline: the webhook sender a team would build on PostgreSQL with pg-boss 10. One job per
// delivery; two loops, each fetching 64 jobs, posting them with undici, then completing the
// ones that succeeded and failing the rest in one call each (pg-boss retries those). Its own
// loops rather than boss.work(), whose loop waits out the polling interval (at least 0.5 s)
// after every batch. Runs as a process of its own; BASELINE_QUEUE, BASELINE_DATABASE_URL and
// BASELINE_SECRET come from the bench, which inserts the jobs.
import PgBoss from 'pg-boss';
import { createDeliverer, type DeliveryJob } from './deliver.js';

const QUEUE = process.env.BASELINE_QUEUE!;
const BATCH = 64;
const LOOPS = 2;
/** How long a loop sleeps when it found no job. */
const IDLE_MS = 50;

const boss = new PgBoss(process.env.BASELINE_DATABASE_URL!);
boss.on('error', (err) => console.error('pg-boss:', err));
await boss.start();
await boss.createQueue(QUEUE, { name: QUEUE, retryLimit: 5, retryDelay: 1, retryBackoff: true });
const deliverer = createDeliverer(process.env.BASELINE_SECRET!, BATCH * LOOPS);

let running = true;
async function loop(): Promise<void> {
  while (running) {
    try {
      await once();
    } catch (err) {
      console.error('pg-boss loop:', err);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/** One batch: fetch, post them all, complete what succeeded and fail the rest. */
async function once(): Promise<void> {
  const jobs = await boss.fetch<DeliveryJob>(QUEUE, { batchSize: BATCH });
  if (jobs.length === 0) {
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    return;
  }
  const results = await Promise.allSettled(
    jobs.map((job) => deliverer.deliver(job.data, job.id, 1)),
  );
  const done = jobs.filter((_, i) => results[i]!.status === 'fulfilled').map((j) => j.id);
  const failed = jobs.filter((_, i) => results[i]!.status === 'rejected').map((j) => j.id);
  if (done.length > 0) await boss.complete(QUEUE, done);
  if (failed.length > 0) await boss.fail(QUEUE, failed);
}

const loops = Array.from({ length: LOOPS }, loop);
process.on('disconnect', () => {
  running = false;
  void Promise.all(loops)
    .then(() => boss.stop({ graceful: false, wait: true }))
    .then(() => deliverer.close())
    .then(() => process.exit(0));
});
process.send!({ ready: true });
