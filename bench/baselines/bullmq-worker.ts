// Baseline: the webhook sender a team would build in a day on BullMQ + Redis. One job per
// delivery, 64 at a time (one Worker, concurrency 64), each signed and posted with undici;
// retries and backoff are the queue's (set by the producer). No attempt log: a completed job
// is removed. Runs as a process of its own; BASELINE_QUEUE, BASELINE_REDIS (host:port) and
// BASELINE_SECRET come from the bench, which adds the jobs.
import { Worker } from 'bullmq';
import { createDeliverer, type DeliveryJob } from './deliver.js';

const [host, port] = (process.env.BASELINE_REDIS ?? '127.0.0.1:6379').split(':');
const deliverer = createDeliverer(process.env.BASELINE_SECRET!, 64);
const worker = new Worker<DeliveryJob>(
  process.env.BASELINE_QUEUE!,
  (job) => deliverer.deliver(job.data, job.id!, job.attemptsMade + 1),
  {
    connection: { host, port: Number(port), maxRetriesPerRequest: null },
    concurrency: 64,
  },
);
worker.on('error', (err) => console.error('bullmq worker:', err));
await worker.waitUntilReady();
process.on('disconnect', () => {
  void worker
    .close()
    .then(() => deliverer.close())
    .then(() => process.exit(0));
});
process.send!({ ready: true });
