// `rizler-webhooks listen --forward-to URL [--events call.*]`: receive the account's events over
// a server-sent-event stream and forward each to a local URL, signed with a session secret, so
// a developer can receive real events on a laptop with no public URL.
import { randomBytes } from 'node:crypto';
import { Agent } from 'undici';
import { parseSubscriptionList, subscriptionMatches } from '../../core/event-types.js';
import { newId } from '../../core/ids.js';
import type { AttemptResult } from '../../core/attempt.js';
import { readHeaders } from '../../core/request-headers.js';
import { Sender } from '../../worker/sender.js';
import { ApiClient, CliError, clientSettings } from './api-client.js';
import type { Io } from './io.js';
import { follow, type SseMessage } from './sse.js';

export interface ListenOptions {
  forwardTo: string;
  /** Comma-separated patterns: exact types, families (call.*) or *. */
  events?: string;
  json?: boolean;
}

/** The same whole-request timeout as a real delivery's default (SPEC §7). */
const FORWARD_TIMEOUT_MS = 10_000;

/** A secret in the form every generated endpoint secret has: whsec_ + base64 of 32 bytes. */
export function sessionSecret(): string {
  return 'whsec_' + randomBytes(32).toString('base64');
}

function parsePatterns(value: string | undefined): string[] {
  const { patterns, invalid } = parseSubscriptionList(value);
  if (invalid.length > 0) {
    throw new CliError(
      `--events: ${invalid.map((p) => `"${p}"`).join(', ')} is not a known event type, a family such as call.*, or *`,
    );
  }
  return patterns;
}

function checkUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(
      `--forward-to must be a URL such as http://localhost:3000/webhooks; got "${value}"`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`--forward-to must be an http:// or https:// URL; got "${value}"`);
  }
  return url.href;
}

export async function listen(options: ListenOptions, io: Io, signal: AbortSignal): Promise<void> {
  const forwardTo = checkUrl(options.forwardTo);
  const patterns = parsePatterns(options.events);
  const client = new ApiClient(clientSettings());
  const secret = sessionSecret();
  // No address guard here, unlike the worker's: the whole point is to reach this machine.
  const dispatcher = new Agent({ connect: { timeout: FORWARD_TIMEOUT_MS } });
  const sender = new Sender({ dispatcher, timeoutMs: FORWARD_TIMEOUT_MS });

  const report = async (
    eventId: string,
    result: AttemptResult,
    sentAs: string,
  ): Promise<string | null> => {
    try {
      const recorded = await client.call<{ delivery_id: string }>('POST', '/v1/listen/attempts', {
        event_id: eventId,
        url: forwardTo,
        status_code: result.statusCode,
        duration_ms: result.durationMs,
        response_body: result.responseBody,
        error: result.error,
        request_headers: readHeaders(result.requestHeaders, {
          deliveryId: sentAs,
          attempt: 1,
          startedAt: result.startedAt,
        }),
      });
      return recorded.delivery_id;
    } catch (err) {
      io.err(`Could not log the attempt for ${eventId}: ${(err as Error).message}`);
      return null;
    }
  };

  const forward = async (message: SseMessage) => {
    const eventType = message.event;
    // The server filters by --events too; checking again costs nothing and keeps an older
    // server that ignores the filter from sending the wrong events to the app.
    if (!subscriptionMatches(patterns, eventType)) return;
    const eventId = message.id ?? (JSON.parse(message.data) as { id: string }).id;
    // The log's delivery id is only known once the attempt is reported; the header carries
    // an id of the same form, which the logged request headers then show as sent.
    const sentAs = newId('dlv');
    const result = await sender.send({
      url: forwardTo,
      eventId,
      eventType,
      deliveryId: sentAs,
      attempt: 1,
      payload: message.data,
      secrets: [secret],
    });
    const deliveryId = await report(eventId, result, sentAs);
    if (options.json) {
      io.out(
        JSON.stringify({
          type: 'forwarded',
          event: eventType,
          event_id: eventId,
          url: forwardTo,
          succeeded: result.succeeded,
          status_code: result.statusCode,
          duration_ms: result.durationMs,
          error: result.error,
          delivery_id: deliveryId,
        }),
      );
      return;
    }
    const answer = result.statusCode === null ? 'ERR' : String(result.statusCode);
    const error = result.succeeded || result.error === null ? '' : `  ${result.error}`;
    io.out(`--> ${eventType} ${eventId} [${answer}] ${result.durationMs} ms${error}`);
  };

  const query = new URLSearchParams({ events: patterns.join(',') });
  try {
    await follow({
      signal,
      open: (lastId, connection) =>
        client.openStream(`/v1/stream/events?${query}`, {
          signal: connection,
          lastEventId: lastId,
        }),
      onOpen: (reconnected) => {
        if (reconnected) {
          io.err('Reconnected; events published meanwhile follow.');
        } else if (options.json) {
          io.out(
            JSON.stringify({
              type: 'ready',
              secret,
              forward_to: forwardTo,
              events: patterns,
              api_url: client.apiUrl,
            }),
          );
        } else {
          io.out(
            `Ready! Forwarding ${patterns.join(', ')} events from ${client.apiUrl} to ${forwardTo}`,
          );
          io.out(`Your webhook signing secret is ${secret} (Ctrl-C to stop)`);
        }
      },
      onDrop: (reason, wait) =>
        io.err(`Lost the stream (${reason}); reconnecting in ${(wait / 1000).toFixed(1)} s.`),
      onMessage: forward,
    });
  } finally {
    await dispatcher.close();
  }
}
