// What the scale tests share: a topology of real processes against one PostgreSQL database
// (an API-only `serve` and `worker` nodes, started from the built CLI), a small API client,
// and readers for the receiver's log and each node's /metrics.
import type { Receiver, ReceivedRequest } from '../helpers/receiver.js';
import { api, startProcess, type Answer, type ServiceProcess } from '../helpers/process.js';

export const ADMIN_TOKEN = 'scale-admin-token-0123456789abcdefghij';
export const DATA = { call_id: 'call_1', agent_id: 'agent_1', duration: 3, status: 'completed' };

export { api, type Answer };

/** The sum of every sample of a Prometheus counter (all label sets) on a node's /metrics. */
export async function counterTotal(port: number, name: string): Promise<number> {
  const { body } = await api(port, '', '/metrics');
  let total = 0;
  for (const line of String(body).split('\n')) {
    const match = new RegExp(`^${name}(\\{[^}]*\\})? ([0-9.e+-]+)$`).exec(line);
    if (match) total += Number(match[2]);
  }
  return total;
}

export const attemptsOf = (node: ServiceProcess) =>
  counterTotal(node.port, 'rizler_delivery_attempts_total');

/** Attempts the node has sent and not yet recorded (its in-flight gauge). */
export const inFlightOf = (node: ServiceProcess) =>
  counterTotal(node.port, 'rizler_delivery_in_flight');

export interface Topology {
  api: ServiceProcess;
  workers: ServiceProcess[];
  /** The API key of an account created through the admin API. */
  key: string;
  /** SIGTERM every node still running (SIGKILL after 10 s) and waits for each to exit. */
  stop(): Promise<void>;
}

/**
 * One `serve` with RIZLER_RUN_WORKER=false (API only) and `workers` worker nodes, all on
 * `databaseUrl`, plus an account. Each node listens on PORT=0.
 */
export async function startTopology(
  databaseUrl: string,
  workers: number,
  env: Record<string, string> = {},
  apiEnv: Record<string, string> = {},
): Promise<Topology> {
  const shared = {
    RIZLER_DATABASE_URL: databaseUrl,
    RIZLER_ALLOW_PRIVATE_NETWORKS: 'true',
    RIZLER_API_RATE_LIMIT: '1000000',
    RIZLER_ENDPOINT_RATE_LIMIT: '100000000',
    // info: startProcess learns each node's port from its "serving"/"worker running" line.
    RIZLER_LOG_LEVEL: 'info',
    ...env,
  };
  const started: ServiceProcess[] = [];
  const stop = async () => {
    await Promise.all(
      started.map(async (node) => {
        if (node.child.exitCode !== null || node.child.signalCode !== null) return;
        node.kill('SIGTERM');
        const timer = setTimeout(() => node.kill('SIGKILL'), 10_000);
        await node.exited;
        clearTimeout(timer);
      }),
    );
  };
  const addWorker = async () => {
    const node = await startProcess(['worker'], shared);
    started.push(node);
    return node;
  };
  try {
    // The API node migrates first; the workers then start on a ready schema (they would wait
    // on the migration lock anyway).
    const apiNode = await startProcess(['serve'], {
      ...shared,
      RIZLER_RUN_WORKER: 'false',
      RIZLER_ADMIN_TOKEN: ADMIN_TOKEN,
      ...apiEnv,
    });
    started.push(apiNode);
    const workerNodes = await Promise.all(Array.from({ length: workers }, addWorker));
    const account = await api(apiNode.port, ADMIN_TOKEN, '/v1/accounts', { name: 'scale' });
    if (account.status !== 201) throw new Error(`account: ${account.status}`);
    return { api: apiNode, workers: workerNodes, key: account.body.api_key, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Creates a webhook for `events` to `url`; returns its id. */
export async function createWebhook(
  topology: Topology,
  url: string,
  events: string[],
  extra: Record<string, unknown> = {},
): Promise<string> {
  const hook = await api(topology.api.port, topology.key, '/v1/webhooks', {
    url,
    events,
    ...extra,
  });
  if (hook.status !== 201) throw new Error(`webhook: ${hook.status} ${JSON.stringify(hook.body)}`);
  return hook.body.id;
}

/** Publishes `count` call.ended events in batches of up to 1000; returns their ids in order. */
export async function publishMany(topology: Topology, count: number): Promise<string[]> {
  const batches: Promise<Answer>[] = [];
  for (let sent = 0; sent < count; sent += 1000) {
    const events = Array.from({ length: Math.min(1000, count - sent) }, () => ({
      event: 'call.ended',
      data: DATA,
    }));
    batches.push(api(topology.api.port, topology.key, '/v1/events/batch', { events }, 30_000));
  }
  const ids: string[] = [];
  for (const answer of await Promise.all(batches)) {
    if (answer.status !== 202) throw new Error(`batch: ${answer.status}`);
    ids.push(...answer.body.data.map((e: { id: string }) => e.id));
  }
  return ids;
}

/** "evt_…|?e=0": one event at one endpoint (endpoints differ by their query string). */
export function pairOf(request: ReceivedRequest): string {
  const query = request.url.indexOf('?');
  return `${String(request.headers['webhook-id'])}|${query < 0 ? '' : request.url.slice(query)}`;
}

/** How many times each (event, endpoint) pair has arrived. */
export function arrivals(receiver: Receiver): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of receiver.requests) counts.set(pairOf(r), (counts.get(pairOf(r)) ?? 0) + 1);
  return counts;
}

/** Resolves once `done()` holds, polling every 50 ms; rejects after `timeoutMs`. */
export async function until(
  done: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves once the API lists no pending delivery for the topology's account. */
export async function noneLeftPending(topology: Topology, timeoutMs = 20_000): Promise<void> {
  let last = '';
  await until(
    async () => {
      const list = await api(topology.api.port, topology.key, '/v1/deliveries?status=pending');
      last = `${list.status} ${list.body?.data?.length ?? '?'} pending`;
      return list.status === 200 && list.body.data.length === 0;
    },
    timeoutMs,
    () => last,
  );
}
