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
  /** In-flight requests of one worker per receiving origin (scheme, host and port). */
  maxInFlightPerOrigin: number;
  /** Event bodies held by one worker's attempts in flight, in bytes. */
  maxBytesInFlight: number;
  /** The in-flight limit a failing endpoint is cut down to (storage/throttle.ts). */
  endpointProbes: number;
  /** Error answers in a row before they cut an endpoint's limit. */
  throttleErrorStreak: number;
  /** Keep-alive connections per receiving origin. */
  connectionsPerOrigin: number;
  /** Polling fallback when no wake-up arrives (another process published, a retry fell due). */
  pollIntervalMs: number;
  /**
   * PostgreSQL connections per process (two pools: half, rounded up, for the publish, claim and
   * completion, the rest, at least one, for everything else) and statement timeout.
   */
  dbPoolSize: number;
  dbStatementTimeoutMs: number;
  /** PostgreSQL statements prepared once per connection (false behind PgBouncer < 1.21). */
  dbPreparedStatements: boolean;
  /** pino level. */
  logLevel: string;
  // RIZLER_API_URL and RIZLER_API_KEY are not here: only the CLI's client commands read them,
  // with their own checks and messages (cli/client/api-client.ts), not the service.
  /** Which proxies may say, by X-Forwarded-*, that a request came over TLS and from whom. */
  trustProxy: TrustProxy;
  /** Inbound HTTP: how long the headers, and the whole request, may take to arrive. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic either way (a client that stops reading) is closed after this. */
  idleTimeoutMs: number;
  /** Open connections per process; more are refused at once. */
  maxConnections: number;
  /** Largest body POST /v1/events/batch reads. */
  batchBodyLimit: number;
  /** Event streams (/v1/stream/*) open at once per account, per process. */
  maxStreamsPerAccount: number;
  /** Failed authentications per minute per client address before it is refused (429). */
  authFailureLimit: number;
  /** Receives every account's operational events (SPEC §11), signed with the secret; null: off. */
  operatorWebhookUrl: string | null;
  operatorWebhookSecret: string | null;
  /** OTLP/HTTP collector (OTEL_EXPORTER_OTLP_ENDPOINT); null: no tracing SDK is loaded. */
  otlpEndpoint: string | null;
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

/** false: none; true: any; a number: that many hops; a list: those addresses or CIDRs. */
export type TrustProxy = boolean | number | string[];

/** SPEC §9: the admin token is at least 32 characters. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

/** RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT's default (why 256: loadConfig). */
export const DEFAULT_MAX_IN_FLIGHT_PER_ENDPOINT = 256;
/** RIZLER_ENDPOINT_PROBES's default (why 2: loadConfig). */
export const DEFAULT_ENDPOINT_PROBES = 2;
/** RIZLER_THROTTLE_ERROR_STREAK's default (why 5: loadConfig). */
export const DEFAULT_THROTTLE_ERROR_STREAK = 5;

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

function trustProxy(env: Env): TrustProxy {
  const raw = (env.RIZLER_TRUST_PROXY ?? '').trim();
  if (raw === '' || /^(false|0|no|off)$/i.test(raw)) return false;
  if (/^(true|yes|on)$/i.test(raw)) return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  try {
    return parseCidrList(raw);
  } catch (err) {
    throw new Error(
      `RIZLER_TRUST_PROXY must be true, false, a number of hops or a list of addresses/CIDRs: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kib: 1024,
  kb: 1024,
  mib: 1024 ** 2,
  mb: 1024 ** 2,
};

/** Bytes: `4194304`, `512KiB`, `4MiB` (kB and MB are read as KiB and MiB). */
function size(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const match = /^(\d+)\s*([a-z]*)$/i.exec(raw.trim());
  const unit = match ? SIZE_UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined || Number(match[1]) === 0) {
    throw new Error(`${name} must be a size such as 4194304, 512KiB or 4MiB, not "${raw}"`);
  }
  return Number(match[1]) * unit;
}

function bytesInFlight(env: Env): number {
  const value = size(env, 'RIZLER_MAX_BYTES_IN_FLIGHT', 64 * 1024 ** 2);
  if (value < 1024 ** 2) {
    throw new Error(
      `RIZLER_MAX_BYTES_IN_FLIGHT must be at least 1MiB, so that the largest event body (256 KiB) fits, not "${env.RIZLER_MAX_BYTES_IN_FLIGHT}"`,
    );
  }
  return value;
}

function adminToken(env: Env): string | null {
  const token = text(env, 'RIZLER_ADMIN_TOKEN');
  if (token !== null && token.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new Error(
      `RIZLER_ADMIN_TOKEN is ${token.length} characters long; it must be at least ${MIN_ADMIN_TOKEN_LENGTH} (e.g. openssl rand -hex 32), or unset to turn the admin API off`,
    );
  }
  return token;
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
  const operatorWebhookUrl = text(env, 'RIZLER_OPERATOR_WEBHOOK_URL');
  const operatorWebhookSecret = text(env, 'RIZLER_OPERATOR_WEBHOOK_SECRET');
  if (operatorWebhookUrl !== null) {
    if (!/^https?:\/\//.test(operatorWebhookUrl) || !URL.canParse(operatorWebhookUrl)) {
      throw new Error('RIZLER_OPERATOR_WEBHOOK_URL must be an http:// or https:// URL');
    }
    if (operatorWebhookSecret === null) {
      throw new Error(
        'RIZLER_OPERATOR_WEBHOOK_SECRET must be set with RIZLER_OPERATOR_WEBHOOK_URL: it signs what that URL receives',
      );
    }
  }
  const port = int(env, 'PORT', 8080);
  const claimBatchSize = int(
    env,
    'RIZLER_CLAIM_BATCH',
    databaseUrl.startsWith('sqlite:') ? 64 : 256,
    1,
  );
  const connectionsPerOrigin = int(env, 'RIZLER_CONNECTIONS_PER_ORIGIN', 64, 1);
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
    adminToken: adminToken(env),
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
    // SQLite: 64, a larger claim mostly holds rows back when one endpoint has the backlog.
    // Bench, draining 1M pending to one endpoint: 4,602/s at 200, 5,100/s at 64, and 216 MiB
    // resident instead of 279. PostgreSQL: 256, where each claim is several round trips
    // under its endpoints' locks. Bench, PostgreSQL burst to ten endpoints, one worker, two
    // runs each: 4,343/s at 64, 4,245 at 128, 4,849 at 256, 4,936 at 512, and the server's
    // CPU 175 µs a delivery at 64, 121-129 at 256 and more.
    claimBatchSize,
    // 4096: an attempt waiting on a socket costs a promise and a timer, so the worker can wait
    // on many. At 512, five hanging endpoints × 128 filled every slot for 10 s at a time and
    // starved every other endpoint and account (issue 18); the per-endpoint limit, cut to
    // RIZLER_ENDPOINT_PROBES for an endpoint that stops answering, is what protects the others.
    maxInFlight: int(env, 'RIZLER_MAX_IN_FLIGHT', 4096, 1),
    // 256 per endpoint, four times the connections per origin: while 64 requests are on the
    // wire, the attempts just answered are still being recorded, and the next claimed, and
    // both count. At 64 the connections sat idle during every commit (bench, one endpoint:
    // 5.9k deliveries/s at 64, 7.2k at 128); at 128 they still ran short while the one writer
    // took a publish in (session 46, one endpoint, three rounds in turn: 11.9-13.4k at 128,
    // 13.1-14.5k at 256, 13.3-15.2k at 512; ten endpoints, bound by the origin's room, alike).
    // On the wire it is still at most RIZLER_CONNECTIONS_PER_ORIGIN a worker process.
    maxInFlightPerEndpoint: int(
      env,
      'RIZLER_MAX_IN_FLIGHT_PER_ENDPOINT',
      DEFAULT_MAX_IN_FLIGHT_PER_ENDPOINT,
      1,
    ),
    // Six times the connections, and at least two claims' worth. SQLite has one writer: a
    // publish of 1,000 events to ten endpoints holds it for 100-240 ms, and no attempt is
    // recorded or claimed meanwhile, so the sending thread must hold enough to keep the
    // connections busy through it. More than that only waits in the pool, holding a lease, a
    // timer and its objects (each young-generation collection copies them): 1,280 in flight
    // cost 181-191 µs of the service's CPU a delivery against 147-157 with 160 (session 14).
    // Bench, SQLite, ten endpoints on one receiver, in turn: 128 gave 6,731-9,630
    // deliveries/s, 384 gave 7,181-12,002 and more in six pairs of seven (docs/benchmark-
    // history.md, session 17). PostgreSQL's claim of 256 makes it 512, where 160 and 256 cut
    // its claims short and cost PostgreSQL more.
    maxInFlightPerOrigin: int(
      env,
      'RIZLER_MAX_IN_FLIGHT_PER_ORIGIN',
      Math.max(6 * connectionsPerOrigin, 2 * claimBatchSize),
      1,
    ),
    // 64 MiB of event bodies, each held once however many endpoints it goes to (worker/
    // payload-cache.ts); near the budget a claim leases only what fits it. With 1,000 events
    // of 245 KiB to five endpoints the process peaked at 958 MB resident before (a copy per
    // delivery and per thread); see the README's memory row for the figure with this rule.
    // At 300 ms an answer, 64 MiB of 245 KiB bodies to five endpoints is still over 4,000
    // deliveries/s. At least 1 MiB, so that the largest event body (256 KiB) always fits.
    maxBytesInFlight: bytesInFlight(env),
    // 2 probes: enough to see a failing endpoint recover (each success adds one), few enough
    // that 100 dead endpoints hold 200 attempts.
    endpointProbes: int(env, 'RIZLER_ENDPOINT_PROBES', DEFAULT_ENDPOINT_PROBES, 1),
    // 5 error answers in a row: an endpoint that rejects some events (400 for one bad record)
    // between successes keeps its width; one whose every answer is an error is cut.
    throttleErrorStreak: int(env, 'RIZLER_THROTTLE_ERROR_STREAK', DEFAULT_THROTTLE_ERROR_STREAK, 1),
    connectionsPerOrigin,
    pollIntervalMs: duration(env, 'RIZLER_POLL_INTERVAL', '1s'),
    dbPoolSize: int(env, 'RIZLER_DB_POOL_SIZE', 10, 1),
    dbStatementTimeoutMs: int(env, 'RIZLER_DB_STATEMENT_TIMEOUT_MS', 5000, 1),
    dbPreparedStatements: bool(env, 'RIZLER_DB_PREPARED_STATEMENTS', true),
    logLevel: env.RIZLER_LOG_LEVEL || 'info',
    trustProxy: trustProxy(env),
    // 10 s for the headers and 30 s for the whole request: a slow client is cut off within a
    // minute, while a 4 MiB batch still arrives over a link of 140 kB/s.
    headersTimeoutMs: duration(env, 'RIZLER_HEADERS_TIMEOUT', '10s'),
    requestTimeoutMs: duration(env, 'RIZLER_REQUEST_TIMEOUT', '30s'),
    // 72 s, Fastify's default: longer than the 60 s idle timeout of common load balancers, so
    // the balancer, not us, closes an idle connection (no race on a request sent as we close).
    keepAliveTimeoutMs: duration(env, 'RIZLER_KEEP_ALIVE_TIMEOUT', '72s'),
    // Longer than a stream's 15 s keep-alive comment and a test send's delivery timeout.
    idleTimeoutMs: duration(env, 'RIZLER_IDLE_TIMEOUT', '120s'),
    maxConnections: int(env, 'RIZLER_MAX_CONNECTIONS', 1024, 1),
    // 4 MiB: 1000 events of 4 KiB. A bigger batch is split by the client, not parsed at once.
    batchBodyLimit: size(env, 'RIZLER_BATCH_BODY_LIMIT', 4 * 1024 * 1024),
    maxStreamsPerAccount: int(env, 'RIZLER_MAX_STREAMS_PER_ACCOUNT', 10, 1),
    // 30 a minute: keys are 32 random bytes, so this is not what stops guessing; it keeps a
    // scanner's noise, and its load on the database, small.
    authFailureLimit: int(env, 'RIZLER_AUTH_FAILURE_LIMIT', 30, 1),
    operatorWebhookUrl,
    operatorWebhookSecret,
    // The OpenTelemetry variable, as every OTel SDK reads it; the traces path is appended.
    otlpEndpoint: text(env, 'OTEL_EXPORTER_OTLP_ENDPOINT'),
    publicUrl: httpUrl(env, 'RIZLER_PUBLIC_URL', `http://localhost:${port}`)!,
    embedOrigins: origins(env, 'RIZLER_EMBED_ORIGINS'),
    branding: {
      productName: (text(env, 'RIZLER_BRAND_NAME') ?? 'Rizler Webhooks').slice(0, 100),
      accentColor,
      logoUrl: httpUrl(env, 'RIZLER_BRAND_LOGO_URL', null),
    },
  };
}

/** Settings that work but should not stay so: logged at start and shown in /readyz. */
export function configWarnings(config: Pick<Config, 'encryptionKey'>): string[] {
  const warnings: string[] = [];
  if (config.encryptionKey === null) {
    warnings.push(
      'RIZLER_ENCRYPTION_KEY is not set: endpoint signing secrets are stored in clear (plain:) in the database; set a key, restart, and run `rizler-webhooks secrets reseal`.',
    );
  }
  return warnings;
}
