// The delivery worker's own thread, started by `serve` (see delivery-thread.ts): its own
// database connection, HTTP pool, metrics and event loop, so publishing and sending never
// wait on each other's JavaScript. Messages are the ones in `ThreadMessage`.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { Config } from '../config.js';
import { Metrics } from '../observability/metrics.js';
import { createLogger } from '../observability/logger.js';
import { buildDelivery } from './delivery.js';
import { openStorage } from '../storage/index.js';
import type { HostMessage, ThreadMessage } from './delivery-thread.js';

const port = parentPort!;
const post = (message: ThreadMessage) => port.postMessage(message);
const config = (workerData as { config: Config }).config;

// Log lines go to the host, which writes them to its own destination: one log, one order.
const logger = createLogger(config, { write: (line: string) => post({ type: 'log', line }) });
const storage = await openStorage(config.databaseUrl, {
  poolSize: config.dbPoolSize,
  statementTimeoutMs: config.dbStatementTimeoutMs,
});
const metrics = new Metrics({ processMetrics: false });
const { worker, retention, dispatcher } = buildDelivery(config, storage, logger, metrics);

port.on('message', (message: HostMessage) => {
  switch (message.type) {
    case 'wake':
      worker.wake();
      break;
    case 'metrics':
      void metrics.registry.getMetricsAsJSON().then(
        (data) => post({ type: 'metrics', id: message.id, data }),
        () => post({ type: 'metrics', id: message.id, data: [] }),
      );
      break;
    case 'stop':
      void (async () => {
        await retention.stop();
        await worker.stop();
        await dispatcher.close();
        await storage.close();
        post({ type: 'stopped' });
        port.close();
      })();
      break;
  }
});

worker.start();
retention.start();
logger.info({ thread: threadId, database: storage.engine }, 'delivery worker running');
post({ type: 'ready' });
