// What several scenarios share, so that each scenario file holds only what it measures:
// accounts, endpoints and single publishes over the API, the batch publisher that the ingest
// figures time, and the percentile of the latency rows.
import { join } from 'node:path';
import { ADMIN, DATA, call, startService, stopService, type BenchContext } from './context.js';

/** A new account, made with the admin token; its API key. */
export async function createAccount(port: number, name: string): Promise<string> {
  const { api_key } = await call<{ api_key: string }>(port, ADMIN, '/v1/accounts', { name });
  return api_key;
}

/**
 * An endpoint of the account `key` at `url`, subscribed to call.ended, with `extra` in its
 * body (a filter, an ordering); its id.
 */
export async function addEndpoint(
  port: number,
  key: string,
  url: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const { id } = await call<{ id: string }>(port, key, '/v1/webhooks', {
    url,
    events: ['call.ended'],
    ...extra,
  });
  return id;
}

/** Publishes one call.ended event through POST /v1/events; its id. */
export async function publishOne(port: number, key: string): Promise<string> {
  const { id } = await call<{ id: string }>(port, key, '/v1/events', {
    event: 'call.ended',
    data: DATA,
  });
  return id;
}

/** Publishes `total` events in batches of 1000, `inFlight` batches at a time; events/s. */
export async function ingest(
  port: number,
  key: string,
  total: number,
  inFlight: number,
): Promise<number> {
  const events = Array.from({ length: 1000 }, () => ({ event: 'call.ended', data: DATA }));
  let sent = 0;
  const started = performance.now();
  const lane = async () => {
    while (sent < total) {
      const n = Math.min(1000, total - sent);
      sent += n;
      await call(port, key, '/v1/events/batch', { events: events.slice(0, n) });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return total / ((performance.now() - started) / 1000);
}

/**
 * The ingest rate of a fresh SQLite service (`<name>.db` in the run's folder, settings `env`)
 * whose account `bench-<name>` has `endpoints` endpoints to the run's receiver, each with
 * `endpoint` in its body: after a warm-up of 5,000 events, `events` events timed by ingest().
 */
export async function measureIngest(
  ctx: BenchContext,
  options: {
    name: string;
    env: Record<string, string>;
    endpoints: number;
    endpoint?: Record<string, unknown>;
    events: number;
    inFlight: number;
  },
): Promise<number> {
  const { name, endpoints, events, inFlight } = options;
  const service = await startService(`sqlite:${join(ctx.dir, `${name}.db`)}`, options.env);
  try {
    const key = await createAccount(service.port, `bench-${name}`);
    for (let i = 0; i < endpoints; i++) {
      await addEndpoint(service.port, key, `${ctx.receiver.url}?e=${i}`, options.endpoint);
    }
    await ingest(service.port, key, 5_000, inFlight); // warm-up
    return await ingest(service.port, key, events, inFlight);
  } finally {
    await stopService(service);
  }
}

/** The value below which `p` % of the sorted values lie (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? NaN;
}
