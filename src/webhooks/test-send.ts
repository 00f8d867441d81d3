// "Send Test": one real signed attempt with the catalogue example, no retries, logged like
// any delivery (trigger `test`, `test: true`).
import { Type } from '@sinclair/typebox';
import { DEFAULT_TEST_EVENT, findEventType } from '../core/event-catalogue.js';
import { attemptRecord } from '../core/attempt.js';
import { newId } from '../core/ids.js';
import type { AppContext } from '../http/context.js';
import { ApiError } from '../http/errors.js';
import { eventPayload } from '../core/payload.js';
import { newTraceparent } from '../observability/tracing.js';

export const TestResultBody = Type.Object({
  success: Type.Boolean(),
  status_code: Type.Union([Type.Integer(), Type.Null()]),
  duration_ms: Type.Integer(),
  response_body: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  delivery_id: Type.String(),
  event_id: Type.String(),
});

export interface TestSendRequest {
  accountId: string;
  webhookId: string | null;
  url: string;
  eventType: string | undefined;
  secrets: string[];
  /** The webhook's custom headers; a test is a real attempt. Test sends ignore its filter. */
  headers?: Record<string, string>;
}

export async function sendTest(ctx: AppContext, req: TestSendRequest) {
  const type = req.eventType ?? DEFAULT_TEST_EVENT;
  const definition = findEventType(type);
  if (!definition) {
    throw new ApiError(
      'unknown_event_type',
      `Unknown event type "${type}"; GET /v1/event-types lists the ones you can test.`,
    );
  }
  const now = ctx.now();
  const eventId = newId('evt', now);
  const deliveryId = newId('dlv', now);
  const timestamp = new Date(now).toISOString();
  const payload = eventPayload(eventId, type, timestamp, definition.example);
  const result = await ctx.sender.send({
    url: req.url,
    eventId,
    eventType: type,
    deliveryId,
    attempt: 1,
    payload,
    secrets: req.secrets,
    headers: req.headers,
    // A test belongs to no published event: a trace of its own.
    traceparent: newTraceparent(),
  });
  await ctx.storage.recordTestSend({
    accountId: req.accountId,
    webhookId: req.webhookId,
    event: { id: eventId, type, timestamp, payload, idempotencyKey: null },
    deliveryId,
    succeeded: result.succeeded,
    now: ctx.now(),
    attempt: attemptRecord({ deliveryId, attempt: 1, trigger: 'test', url: req.url }, result),
  });
  return {
    success: result.succeeded,
    status_code: result.statusCode,
    duration_ms: result.durationMs,
    response_body: result.responseBody,
    error: result.error,
    delivery_id: deliveryId,
    event_id: eventId,
  };
}
