// The attempts `rizler-webhooks listen` forwarded to a local URL, reported back so that each
// shows in the delivery logs like any endpoint's: a test delivery, with no webhook.
import { Type } from '@sinclair/typebox';
import { MAX_RESPONSE_BODY } from '../core/attempt.js';
import { newId } from '../core/ids.js';
import { storedHeaders } from '../core/request-headers.js';
import type { Api, AppContext } from '../http/context.js';
import { requireAccount } from '../http/auth.js';
import { ApiError, notFound } from '../http/errors.js';
import { errorResponses } from '../http/schemas.js';

const ListenAttemptInput = Type.Object({
  event_id: Type.String({ maxLength: 100, description: 'The event that was forwarded.' }),
  url: Type.String({
    minLength: 1,
    maxLength: 2048,
    description: 'The local URL it was forwarded to (--forward-to).',
  }),
  status_code: Type.Union([Type.Integer({ minimum: 100, maximum: 599 }), Type.Null()]),
  duration_ms: Type.Integer({ minimum: 0, maximum: 24 * 60 * 60 * 1000 }),
  response_body: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String({ maxLength: 2000 }), Type.Null()]),
  request_headers: Type.Record(Type.String({ maxLength: 256 }), Type.String({ maxLength: 8192 }), {
    maxProperties: 100,
    description: 'The headers it was forwarded with; at most 8 KiB in all, as stored.',
  }),
});

/** What one listen attempt may store of its request headers, as response bodies (8 KiB). */
const MAX_LISTEN_HEADERS_BYTES = 8 * 1024;
/** The attempt's whole report: 8 KiB of headers, 8 KiB of response body, and room for JSON. */
const LISTEN_ATTEMPT_BODY_LIMIT = 64 * 1024;

function headersBytes(headers: Record<string, string>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value) + 4;
  }
  return bytes;
}

/** The first `max` bytes of `text`, never cutting a character in two. */
function truncateUtf8(text: string, max: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return text;
  return new TextDecoder().decode(bytes.subarray(0, max)).replace(/\uFFFD$/, '');
}

const ListenAttemptBody = Type.Object({
  delivery_id: Type.String({ description: 'The delivery that records the attempt in the logs.' }),
  event_id: Type.String({
    description:
      'The event row of that delivery: a copy of the forwarded event with a fresh id, marked test.',
  }),
  forwarded_event_id: Type.String({ description: 'The event that was forwarded.' }),
});

export function listenAttemptRoutes(app: Api, ctx: AppContext): void {
  app.post(
    '/v1/listen/attempts',
    {
      bodyLimit: LISTEN_ATTEMPT_BODY_LIMIT,
      config: { scope: 'manage' },
      schema: {
        tags: ['deliveries'],
        summary: 'Record an attempt that `rizler-webhooks listen` forwarded to a local URL',
        description:
          'The attempt is logged as a test delivery (trigger `test`, no webhook) to that URL, so it shows in `GET /v1/deliveries` like any endpoint.',
        security: [{ apiKey: [] }],
        body: ListenAttemptInput,
        response: { 201: ListenAttemptBody, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request, reply) => {
      const account = requireAccount(request);
      const input = request.body;
      if (!/^https?:\/\//i.test(input.url)) {
        throw new ApiError('validation_error', 'url must be the http(s) URL the event went to.');
      }
      if (headersBytes(input.request_headers) > MAX_LISTEN_HEADERS_BYTES) {
        throw new ApiError(
          'validation_error',
          'request_headers may hold at most 8 KiB in all; send the headers the event was forwarded with.',
        );
      }
      const event = await ctx.storage.getEvent(account.id, input.event_id);
      if (!event) throw notFound('event');
      const now = ctx.now();
      // recordTestSend inserts the delivery's event row, and the forwarded event already has
      // one, so the attempt is filed under a copy with a fresh id (marked test, which also keeps
      // it out of the event stream). The copy keeps the exact body that was forwarded, so the
      // logged request still carries the original event id, as did its webhook-id header.
      const copyId = newId('evt', now);
      const deliveryId = newId('dlv', now);
      const succeeded =
        input.status_code !== null && input.status_code >= 200 && input.status_code < 300;
      await ctx.storage.recordTestSend({
        accountId: account.id,
        webhookId: null,
        event: {
          id: copyId,
          type: event.type,
          timestamp: event.timestamp,
          payload: event.payload,
          idempotencyKey: null,
        },
        deliveryId,
        succeeded,
        now,
        attempt: {
          deliveryId,
          attempt: 1,
          trigger: 'test',
          url: input.url,
          startedAt: now - input.duration_ms,
          durationMs: input.duration_ms,
          statusCode: input.status_code,
          responseBody:
            input.response_body === null
              ? null
              : truncateUtf8(input.response_body, MAX_RESPONSE_BODY),
          error: succeeded
            ? null
            : (input.error ??
              (input.status_code === null
                ? 'no response'
                : `the receiver answered HTTP ${input.status_code}`)),
          requestHeaders: storedHeaders(input.request_headers),
        },
      });
      return reply
        .code(201)
        .send({ delivery_id: deliveryId, event_id: copyId, forwarded_event_id: event.id });
    },
  );
}
