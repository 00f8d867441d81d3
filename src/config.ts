// Every setting, its default and why. Read and validated once at start; everything else
// receives the resulting Config as an argument.
import { parseDuration, parseDurationList } from './core/duration.js';
import { parseCidrList } from './core/address-guard.js';

export interface Config {
  /** HTTP port of API and dashboard (worker: health and metrics). */
  port: number;
  /** Interface to listen on; all interfaces by default, as a service expects. */
  host: string;
  /** `sqlite:PATH` or `postgres://user@host:port/db`. */
  databaseUrl: string;
  /** Bearer token of the admin API; null turns the admin API off. */
  adminToken: string | null;
  /** Delay before each automatic retry; its length is the number of retries. */
  retryScheduleMs: number[];
  /** Whole-request timeout of one attempt. */
  deliveryTimeoutMs: number;
  allowPrivateNetworks: boolean;
  allowedNetworks: string[];
  requireHttps: boolean;
  maxEndpoints: number;
  /** Management API requests per minute per account. */
  apiRateLimit: number;
  /** Default deliveries per minute per endpoint. */
  endpointRateLimit: number;
  /** Events per minute per account through POST /v1/events*; null: unlimited. */
  publishRateLimit: number | null;
  runWorker: boolean;
  encryptionKey: string | null;
  retentionDays: number;
  autoDisableAfterMs: number;
  /** How long a claimed delivery stays leased to its worker before another may take it. */
  leaseMs: number;
  /** Deliveries claimed per round trip to the store. */
  claimBatchSize: number;
  /** In-flight requests of one worker in total, and per endpoint. */
  maxInFlight: number;
  maxInFlightPerEndpoint: number;
  /** Keep-alive connections per receiving origin. */
  connectionsPerOrigin: number;
  /** Polling fallback when no wake-up arrives (another process published, a retry fell due). */
  pollIntervalMs: number;
  /** PostgreSQL pool size per process and statement timeout. */
  dbPoolSize: number;
  dbStatementTimeoutMs: number;
  /** pino level. */
  logLevel: string;
  apiUrl: string;
  apiKey: string | null;
  /** Where people reach the dashboard; portal links start with it (no trailing slash). */
  publicUrl: string;
  /** Origins allowed to frame the dashboard (CSP frame-ancestors); empty: none. */
  embedOrigins: string[];
  /** The dashboard's branding, for an operator who embeds it in their product. */
  branding: Branding;
}

export interface Branding {
  productName: string;
  /** A CSS hex colour, `#rrggbb` or `#rgb`; null: the dashboard's own. */
  accentColor: string | null;
  /** An http(s) image URL shown in the dashboard's header; null: none. */
  logoUrl: string | null;
}

/** `https://app.example` or `http://localhost:3000`: scheme, host and port, nothing else. */
function origins(env: Env, name: string): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [];
  return raw.split(',').map((part) => {
    const value = part.trim();
    let url: URL | null = null;
    try {
      url = new URL(value);
    } catch {
      url = null;
    }
    if (!url || !/^https?:$/.test(url.protocol) || url.origin !== value.replace(/\/$/, '')) {
      throw new Error(
        `${name} must be a comma-separated list of origins such as https://app.example.com, not "${value}"`,
      );
    }
    return url.origin;
  });
}

function httpUrl(env: Env, name: string, fallback: string | null): string | null {
  const raw = text(env, name);
  if (raw === null) return fallback;
  try {
    const url = new URL(raw);
    if (/^https?:$/.test(url.protocol)) return raw.replace(/\/+$/, '');
  } catch {
    // reported below
  }
  throw new Error(`${name} must be an http:// or https:// URL, not "${raw}"`);
}

type Env = Record<string, string | undefined>;

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(true|1|yes|on)$/i.test(raw)) return true;
  if (/^(false|0|no|off)$/i.test(raw)) return false;
  throw new Error(`${name} must be true or false, not "${raw}"`);
}

function int(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be a whole number of at least ${min}, not "${raw}"`);
  }
  return value;
}

function optionalInt(env: Env, name: string): number | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  return int(env, name, 0, 1);
}

function text(env: Env, name: string): string | null {
  const raw = env[name];
  return raw === undefined || raw === '' ? null : raw;
}

function duration(env: Env, name: string, fallback: string): number {
  try {
    return parseDuration(env[name] || fallback);
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads every setting from the environment; throws one clear message for the first bad one. */
export function loadConfig(env: Env = process.env): Config {
  let retryScheduleMs: number[];
  try {
    retryScheduleMs = parseDurationList(env.RIZLER_RETRY_SCHEDULE ?? '1m,5m,30m,2h,6h');
  } catch (err) {
    throw new Error(`RIZLER_RETRY_SCHEDULE: ${(err as Error).message}`, { cause: err });
  }
  let allowedNetworks: string[];
  try {
    allowedNetworks = parseCidrList(env.RIZLER_ALLOWED_NETWORKS);
  } catch (err) {
    throw new Error(`RIZLER_ALLOWED_NETWORKS: ${(err as Error).message}`, { cause: err });
  }
  const databaseUrl = env.RIZLER_DATABASE_URL || 'sqlite:./data/rizler-webhooks.db';
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(databaseUrl)) {
    throw new Error('RIZLER_DATABASE_URL must be sqlite:PATH or postgres://user@host:port/db');
  }
  const port = int(env, 'PORT', 8080);
  const accentColor = text(env, 'RIZLER_BRAND_ACCENT_COLOR');
  if (accentColor !== null && !/^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(accentColor)) {
    throw new Error(
      `RIZLER_BRAND_ACCENT_COLOR must be a hex colour such as #4f46e5, not "${accentColor}"`,
    );
  }
  return {
    port,
    host: env.HOST || '0.0.0.0',
    databaseUrl,
    adminToken: text(env, 'RIZLER_ADMIN_TOKEN'),
    retryScheduleMs,
    deliveryTimeoutMs: int(env, 'RIZLER_DELIVERY_TIMEOUT_MS', 10_000, 1),
    allowPrivateNetworks: bool(env, 'RIZLER_ALLOW_PRIVATE_NETWORKS', false),
    allowedNetworks,
    requireHttps: bool(env, 'RIZLER_REQUIRE_HTTPS', false),
    maxEndpoints: int(env, 'RIZLER_MAX_ENDPOINTS', 10, 1),
    apiRateLimit: int(env, 'RIZLER_API_RATE_LIMIT', 1000, 1),
    endpointRateLimit: int(env, 'RIZLER_ENDPOINT_RATE_LIMIT', 1000, 1),
    publishRateLimit: optionalInt(env, 'RIZLER_PUBLISH_RATE_LIMIT'),
    runWorker: bool(env, 'RIZLER_RUN_WORKER', true),
    encryptionKey: text(env, 'RIZLER_ENCRYPTION_KEY'),
    retentionDays: int(env, 'RIZLER_RETENTION_DAYS', 30, 1),
    autoDisableAfterMs: duration(env, 'RIZLER_AUTO_DISABLE_AFTER', '24h'),
    // 60 s: SPEC §4 promises another worker retries a dead worker's delivery within 60 s.
    leaseMs: duration(env, 'RIZLER_LEASE', '60s'),
    // 64, the per-endpoint in-flight cap: a larger claim mostly holds rows back when one
    // endpoint has the backlog. Bench, draining 1M pending to one endpoint: 4,602/s at 200,
    // 5,100/s at 64, and 216 MiB resident instead of 279.
    claimBatchSize: int(env, 'RIZLER_CLAIM_BATCH', 64, 1),
    maxInFlight: int(env, 'RIZLER_MAX_IN_FLIGHT', 512, 1),
    // 128 per endpoint, twice the connections per origin: while 64 requests are on the wire,
    // the attempts just answered are still being recorded and still count. At 64 the
    // connections sat idle during every commit (bench, one endpoint: 5.9k deliveries/s at 64,
    // 7.2k at 128). A hanging endpoint holds at most 1/4 of the worker's slots.
    maxInFlightPerEndpoint: int(env, 'RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT', 128, 1),
    connectionsPerOrigin: int(env, 'RIZLER_CONNECTIONS_PER_ORIGIN', 64, 1),
    pollIntervalMs: duration(env, 'RIZLER_POLL_INTERVAL', '1s'),
    dbPoolSize: int(env, 'RIZLER_DB_POOL_SIZE', 10, 1),
    dbStatementTimeoutMs: int(env, 'RIZLER_DB_STATEMENT_TIMEOUT_MS', 5000, 1),
    logLevel: env.RIZLER_LOG_LEVEL || 'info',
    apiUrl: env.RIZLER_API_URL || 'http://localhost:8080',
    apiKey: text(env, 'RIZLER_API_KEY'),
    publicUrl: httpUrl(env, 'RIZLER_PUBLIC_URL', `http://localhost:${port}`)!,
    embedOrigins: origins(env, 'RIZLER_EMBED_ORIGINS'),
    branding: {
      productName: (text(env, 'RIZLER_BRAND_NAME') ?? 'Rizler Webhooks').slice(0, 100),
      accentColor,
      logoUrl: httpUrl(env, 'RIZLER_BRAND_LOGO_URL', null),
    },
  };
}
