// /healthz, /readyz and /metrics: one implementation, served by the API (app.ts) and by the
// standalone delivery worker (server.ts), so an orchestrator reads both alike.
import type { FastifyInstance } from 'fastify';
import { configWarnings, type Config } from '../config.js';
import type { Metrics } from '../observability/metrics.js';
import type { Storage } from '../storage/index.js';
import { sendApiError, unavailable } from './errors.js';

export interface OperationsContext {
  config: Pick<Config, 'encryptionKey'>;
  storage: Pick<Storage, 'ping'>;
  metrics: Metrics;
}

/** /readyz when ready: how secrets are kept, and what the operator should change. */
export function readiness(config: Pick<Config, 'encryptionKey'>) {
  return {
    status: 'ready',
    details: {
      secrets_at_rest: config.encryptionKey === null ? 'plain' : 'encrypted',
      warnings: configWarnings(config),
    },
  };
}

export function operationsRoutes(app: FastifyInstance, ctx: OperationsContext): void {
  const { config, storage, metrics } = ctx;
  app.get(
    '/healthz',
    { config: { scope: 'public' }, schema: { tags: ['operations'], summary: 'Liveness' } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      config: { scope: 'public' },
      schema: { tags: ['operations'], summary: 'Readiness: the database answers' },
    },
    async (_request, reply) => {
      try {
        await storage.ping();
        return readiness(config);
      } catch {
        return sendApiError(reply, unavailable());
      }
    },
  );
  app.get(
    '/metrics',
    {
      config: { scope: 'public' },
      schema: { tags: ['operations'], summary: 'Prometheus metrics' },
    },
    async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );
}
