// `rizler-webhooks tail [--webhook ID] [--status failed]`: one line per new delivery, attempt
// or status change of the account, as they happen.
import { ApiClient, CliError, clientSettings } from './api-client.js';
import type { Io } from './io.js';
import { follow } from './sse.js';

export interface TailOptions {
  webhook?: string;
  status?: string;
  json?: boolean;
}

/** A delivery as GET /v1/deliveries lists it. */
export interface DeliveryItem {
  id: string;
  webhook_id: string | null;
  event_id: string;
  event: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempt_count: number;
  last_status_code: number | null;
  last_duration_ms: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  updated_at: string;
  test: boolean;
  url: string;
}

const STATUSES = ['pending', 'succeeded', 'failed'];

/** `2024-01-15 10:30:00` in this machine's time zone. */
function localTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function formatDelivery(d: DeliveryItem): string {
  const head = `${localTime(d.updated_at)}  ${d.event}  ${d.id}  → ${d.url}${d.test ? ' (test)' : ''}`;
  if (d.attempt_count === 0) return `${head}  queued`;
  const answer = d.last_status_code === null ? 'ERR' : String(d.last_status_code);
  let line = `${head}  attempt ${d.attempt_count} [${answer}] ${d.last_duration_ms ?? 0} ms  ${d.status}`;
  if (d.status !== 'succeeded' && d.last_error) line += `: ${d.last_error}`;
  if (d.status === 'pending' && d.next_attempt_at) {
    line += `; next attempt at ${localTime(d.next_attempt_at)}`;
  }
  return line;
}

export async function tail(options: TailOptions, io: Io, signal: AbortSignal): Promise<void> {
  if (options.status !== undefined && !STATUSES.includes(options.status)) {
    throw new CliError(`--status must be one of ${STATUSES.join(', ')}; got "${options.status}"`);
  }
  const client = new ApiClient(clientSettings());
  const query = new URLSearchParams();
  if (options.webhook) query.set('webhook_id', options.webhook);
  if (options.status) query.set('status', options.status);
  const path = `/v1/stream/deliveries${query.size > 0 ? `?${query}` : ''}`;
  await follow({
    signal,
    open: (_lastId, connection) => client.openStream(path, { signal: connection }),
    onOpen: (reconnected) =>
      io.err(
        reconnected
          ? 'Reconnected; deliveries changed meanwhile are shown from now on.'
          : `Tailing deliveries at ${client.apiUrl} (Ctrl-C to stop).`,
      ),
    onDrop: (reason, wait) =>
      io.err(`Lost the stream (${reason}); reconnecting in ${(wait / 1000).toFixed(1)} s.`),
    onMessage: (message) => {
      if (message.event !== 'delivery') return;
      const delivery = JSON.parse(message.data) as DeliveryItem;
      io.out(options.json ? JSON.stringify(delivery) : formatDelivery(delivery));
    },
  });
}
