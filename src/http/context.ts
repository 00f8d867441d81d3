// What every route module is handed: settings and services, never globals.
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../config.js';
import type { SecretBox } from '../core/secret-box.js';
import type { Metrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/tracing.js';
import type { Storage } from '../storage/index.js';
import type { Sender } from '../worker/sender.js';

export type Api = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface AppContext {
  config: Config;
  storage: Storage;
  secrets: SecretBox;
  /** Sends test attempts; the same sender the worker uses. */
  sender: Sender;
  metrics: Metrics;
  now: () => number;
  /** Trace context and spans of publishes (SPEC §11); ids only when absent. */
  tracing?: Tracing;
}

/** Who may call a route, and which rate limit counts it. */
export interface RouteAccess {
  auth: 'account' | 'admin' | 'none';
  limit: 'api' | 'publish' | 'none';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
}

export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));
