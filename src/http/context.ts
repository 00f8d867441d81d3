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
import type { AttemptSender } from '../core/attempt.js';
import type { SecretBox } from '../core/secret-box.js';
import type { Metrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/tracing.js';
import type { Handoff, Scope, Storage } from '../storage/index.js';

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
  sender: AttemptSender;
  metrics: Metrics;
  now: () => number;
  /** Trace context and spans of publishes (SPEC §11); ids only when absent. */
  tracing?: Tracing;
  /**
   * The delivery worker of this process, when it runs one: a publish hands it the deliveries
   * it may lease at once (PublishRequest.handoff). `bodyBytes`: the publish's event bodies,
   * each once, which is all it can bring the worker.
   */
  handoff?: (bodyBytes: number) => Handoff | undefined;
}

/**
 * Who may call a route: the scope its credential must carry (SPEC §9), `admin` for the admin
 * token, `public` for anyone. Every route declares one; the app refuses to start otherwise.
 */
export type RouteScope = Scope | 'admin' | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: RouteScope;
    /** Which rate limit counts the route; by default `publish` for publish, else `api`. */
    limit?: 'api' | 'publish' | 'none';
  }
}

export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));
