// Runs the service: `serve` (API, dashboard and, by default, a delivery worker) and `worker`
// (a delivery worker with health and metrics only). Listens, and shuts down gracefully.
import type { Server } from 'node:http';
import Fastify from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './app.js';
import { operationsRoutes } from './http/operations.js';
import { capConnections, serverOptions } from './http/server-options.js';
import { AccountJanitor } from './accounts/janitor.js';
import { ensureDefaultAccount } from './accounts/keys.js';
import { configWarnings, type Config } from './config.js';
import { createSecretBox, type SecretBox } from './core/secret-box.js';
import { configureOperatorWebhook } from './events/operational.js';
import { createLogger } from './observability/logger.js';
import { IdsOnlyTracing, type Tracing } from './observability/tracing.js';
import { Metrics } from './observability/metrics.js';
import type { Handoff, Storage } from './storage/index.js';
import { openStorage } from './storage/open.js';
import { buildDelivery, buildSender } from './worker/delivery.js';
import { ThreadedSender } from './worker/threaded-sender.js';

export { createLogger };

export interface RunningService {
  /** The port actually bound (useful with PORT=0). */
  port: number;
  storage: Storage;
  /** The listening HTTP server (its connections, for operations and tests). */
  httpServer: Server;
  stop(): Promise<void>;
}

/**
 * Refuses to start when RIZLER_ENCRYPTION_KEY cannot open the stored endpoint secrets: with a
 * wrong key every attempt would fail on our side and healthy endpoints would be disabled.
 */
async function checkSecretsReadable(storage: Storage, secrets: SecretBox): Promise<void> {
  try {
    // Passing every sealed value through unchanged reads them all and writes nothing.
    await storage.resealSecrets((sealed) => {
      secrets.open(sealed);
      return sealed;
    });
  } catch (err) {
    await storage.close();
    throw new Error(
      `RIZLER_ENCRYPTION_KEY cannot open the endpoint secrets stored in the database (${(err as Error).message}); set it to the key, or the comma-separated keys, they were sealed with`,
      { cause: err },
    );
  }
}

/**
 * Tracing for a process: exporting spans over OTLP/HTTP when the collector is configured
 * (the SDK is imported only then), ids only otherwise.
 */
async function createTracing(
  config: Pick<Config, 'otlpEndpoint'>,
  serviceName: string,
): Promise<Tracing> {
  if (config.otlpEndpoint === null) return new IdsOnlyTracing();
  const { OtelTracing } = await import('./observability/otel.js');
  return new OtelTracing(config.otlpEndpoint, serviceName);
}

/** The port a listening server bound: the one asked for, or the one chosen for PORT=0. */
function boundPort(server: Server, asked: number): number {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : asked;
}

/** The store, opened with this process's settings and migrated. */
async function openMigratedStorage(config: Config): Promise<Storage> {
  const storage = await openStorage(config.databaseUrl, {
    poolSize: config.dbPoolSize,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    preparedStatements: config.dbPreparedStatements,
    backgroundCheckpoints: true,
  });
  await storage.migrate();
  return storage;
}

/**
 * What `serve` and `worker` share once the store is open: metrics over its queue, the secrets
 * checked readable, the configuration's warnings logged, and the operator's endpoint in line
 * with the settings.
 */
async function prepareService(
  config: Config,
  storage: Storage,
  logger: Logger,
): Promise<{ metrics: Metrics; secrets: SecretBox }> {
  const metrics = new Metrics();
  metrics.observeQueue(storage, { maxInFlightPerEndpoint: config.maxInFlightPerEndpoint });
  const secrets = createSecretBox(config.encryptionKey);
  await checkSecretsReadable(storage, secrets);
  for (const warning of configWarnings(config)) logger.warn(warning);
  await configureOperatorWebhook(storage, config, secrets, Date.now());
  return { metrics, secrets };
}

/**
 * The delivery worker: claims and completions on this thread, with this process's database
 * connection; signing, sending and reading responses on a thread of its own.
 */
async function startDelivery(
  config: Config,
  storage: Storage,
  logger: Logger,
  metrics: Metrics,
  secrets: SecretBox,
  tracing: Tracing,
): Promise<{ offer(bodyBytes: number): Handoff | undefined; stop(): Promise<void> }> {
  const sending = new ThreadedSender(config, logger);
  await sending.start();
  const { worker, retention } = buildDelivery(
    config,
    storage,
    logger,
    metrics,
    sending,
    secrets,
    tracing,
  );
  worker.start();
  retention.start();
  const janitor = new AccountJanitor(storage, { retentionDays: config.retentionDays }, logger);
  janitor.start();
  return {
    offer: (bodyBytes) => worker.offer(bodyBytes),
    async stop() {
      await janitor.stop();
      await retention.stop();
      await worker.stop();
      await sending.close();
    },
  };
}

/** `serve`: API + dashboard, and a delivery worker unless RIZLER_RUN_WORKER=false. */
export async function startServer(
  config: Config,
  logger: Logger = createLogger(config),
  announce: (line: string) => void = (line) => process.stdout.write(line + '\n'),
): Promise<RunningService> {
  const storage = await openMigratedStorage(config);
  // Before the operator's endpoint is configured: its system account must not count as one.
  const created = await ensureDefaultAccount(storage, config.adminToken);
  const { metrics, secrets } = await prepareService(config, storage, logger);
  // The API's own sender, for test sends; the worker has its own.
  const { dispatcher, sender } = buildSender(config);
  const tracing = await createTracing(config, 'rizler-webhooks');
  const delivery = config.runWorker
    ? await startDelivery(config, storage, logger, metrics, secrets, tracing)
    : null;
  const app = await buildApp({
    config,
    storage,
    secrets,
    sender,
    metrics,
    logger,
    now: Date.now,
    tracing,
    // The worker stops after the API has closed (release), so no publish hands it anything
    // once it has stopped.
    handoff: delivery ? (bodyBytes) => delivery.offer(bodyBytes) : undefined,
  });
  const release = async () => {
    await delivery?.stop();
    await tracing.shutdown();
    await dispatcher.close();
    await storage.close();
  };
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await release();
    throw err;
  }
  const port = boundPort(app.server, config.port);
  if (created) {
    announce(
      [
        '',
        `  Created the account "default". Its API key is shown only this once:`,
        '',
        `    ${created.apiKey}`,
        '',
        `  Sign in to the dashboard at http://localhost:${port}/ with it.`,
        '',
      ].join('\n'),
    );
  }
  logger.info(
    { port, database: storage.engine, worker: config.runWorker },
    'rizler-webhooks serving',
  );
  return {
    port,
    storage,
    httpServer: app.server,
    async stop() {
      await app.close();
      await release();
    },
  };
}

/** `worker`: deliveries only, with /healthz, /readyz and /metrics on PORT. */
export async function startWorker(
  config: Config,
  logger: Logger = createLogger(config),
): Promise<RunningService> {
  const storage = await openMigratedStorage(config);
  const { metrics, secrets } = await prepareService(config, storage, logger);
  const ops = Fastify({ loggerInstance: logger, ...serverOptions(config) });
  capConnections(ops.server, config);
  operationsRoutes(ops, { config, storage, metrics });
  await ops.listen({ port: config.port, host: config.host });
  const port = boundPort(ops.server, config.port);
  const tracing = await createTracing(config, 'rizler-webhooks-worker');
  const delivery = await startDelivery(config, storage, logger, metrics, secrets, tracing);
  logger.info({ port, database: storage.engine }, 'rizler-webhooks worker running');
  return {
    port,
    storage,
    httpServer: ops.server,
    async stop() {
      await ops.close();
      await delivery.stop();
      await tracing.shutdown();
      await storage.close();
    },
  };
}

/** Stops on SIGTERM/SIGINT: no new claims, in-flight attempts finish, then exit. */
export function stopOnSignals(service: RunningService, logger: Logger): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight attempts');
    service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
