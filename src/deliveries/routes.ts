// Delivery logs: list with filters, one delivery with its request and every attempt, retry.
import { Type, type Static } from '@sinclair/typebox';
import type { Api, AppContext } from '../http/context.js';
import { iso, isoOrNull } from '../http/context.js';
import { requireAccount } from '../http/auth.js';
import { ApiError, notFound } from '../http/errors.js';
import { PageQuery, pageOf, plusOne, toPage } from '../http/pagination.js';
import { DateTime, IdParams, errorResponses, listOf, parseTime } from '../http/schemas.js';
import type { Delivery, DeliveryDetail } from '../storage/index.js';
import { USER_AGENT } from '../version.js';
import { isReservedHeader, maskHeaders } from '../webhooks/controls.js';

const Status = Type.Union([
  Type.Literal('pending'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
]);
const NumOrNull = Type.Union([Type.Integer(), Type.Null()]);
const StrOrNull = Type.Union([Type.String(), Type.Null()]);

const DeliveryBody = Type.Object({
  id: Type.String(),
  webhook_id: StrOrNull,
  event_id: Type.String(),
  event: Type.String(),
  ordering_key: StrOrNull,
  status: Status,
  attempt_count: Type.Integer(),
  last_status_code: NumOrNull,
  last_duration_ms: NumOrNull,
  last_error: StrOrNull,
  next_attempt_at: StrOrNull,
  waiting_for: Type.Union([Type.String(), Type.Null()], {
    description:
      "On a `per_key` webhook, a delivery waiting in its ordering key's order: the id of the delivery at the head of the key, which must succeed or fail for good before this one is attempted (retry it to unblock the key). null otherwise.",
  }),
  created_at: Type.String(),
  updated_at: Type.String(),
  test: Type.Boolean(),
  url: Type.String(),
});

const AttemptBody = Type.Object({
  attempt: Type.Integer(),
  trigger: Type.Union([Type.Literal('auto'), Type.Literal('manual'), Type.Literal('test')]),
  started_at: Type.String(),
  duration_ms: Type.Integer(),
  status_code: NumOrNull,
  response_body: StrOrNull,
  error: StrOrNull,
});

const DeliveryDetailBody = Type.Composite([
  DeliveryBody,
  Type.Object({
    request: Type.Object({
      headers: Type.Record(Type.String(), Type.String()),
      body: Type.String(),
    }),
    attempts: Type.Array(AttemptBody),
  }),
]);

export function renderDelivery(d: Delivery): Static<typeof DeliveryBody> {
  return {
    id: d.id,
    webhook_id: d.webhookId,
    event_id: d.eventId,
    event: d.eventType,
    ordering_key: d.orderingKey,
    status: d.status,
    attempt_count: d.attemptCount,
    last_status_code: d.lastStatusCode,
    last_duration_ms: d.lastDurationMs,
    last_error: d.lastError,
    next_attempt_at: d.status === 'pending' ? isoOrNull(d.nextAttemptAt) : null,
    waiting_for: d.status === 'pending' ? d.waitingFor : null,
    created_at: iso(d.createdAt),
    updated_at: iso(d.updatedAt),
    test: d.test,
    url: d.url,
  };
}

function renderDetail(d: DeliveryDetail): Static<typeof DeliveryDetailBody> {
  const last = d.attempts[d.attempts.length - 1];
  // Before the first attempt, show the headers that do not depend on the moment of signing.
  const headers = last?.requestHeaders ?? {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'x-rizler-event': d.eventType,
    'x-rizler-delivery': d.id,
    'webhook-id': d.eventId,
  };
  return {
    ...renderDelivery(d),
    // Credential-like custom headers are masked here as in lists; the system's are not secrets.
    request: { headers: maskHeaders(headers, isReservedHeader), body: d.payload },
    attempts: d.attempts.map((a) => ({
      attempt: a.attempt,
      trigger: a.trigger,
      started_at: iso(a.startedAt),
      duration_ms: a.durationMs,
      status_code: a.statusCode,
      response_body: a.responseBody,
      error: a.error,
    })),
  };
}

export function deliveryRoutes(app: Api, ctx: AppContext): void {
  const config = { scope: 'read' } as const;
  const security = [{ apiKey: [] }];

  app.get(
    '/v1/deliveries',
    {
      config,
      schema: {
        tags: ['deliveries'],
        summary: 'Delivery logs, newest first',
        security,
        querystring: Type.Object({
          ...PageQuery,
          webhook_id: Type.Optional(Type.String({ maxLength: 100 })),
          status: Type.Optional(Status),
          event: Type.Optional(Type.String({ maxLength: 100 })),
          // No NUL: PostgreSQL text cannot hold it, so no key has one.
          ordering_key: Type.Optional(
            Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]*$' }),
          ),
          since: Type.Optional(DateTime),
          until: Type.Optional(DateTime),
        }),
        response: { 200: listOf(DeliveryBody), ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => {
      const account = requireAccount(request);
      const q = request.query;
      const page = toPage(q);
      const rows = await ctx.storage.listDeliveries(
        account.id,
        {
          webhookId: q.webhook_id,
          status: q.status,
          eventType: q.event,
          orderingKey: q.ordering_key,
          since: parseTime(q.since, 'since'),
          until: parseTime(q.until, 'until'),
        },
        plusOne(page),
      );
      return pageOf(rows, page, renderDelivery);
    },
  );

  app.get(
    '/v1/deliveries/:id',
    {
      config,
      schema: {
        tags: ['deliveries'],
        summary: 'One delivery with its request and every attempt, oldest first',
        security,
        params: IdParams,
        response: { 200: DeliveryDetailBody, ...errorResponses(401, 404, 429) },
      },
    },
    async (request) => {
      const delivery = await ctx.storage.getDelivery(requireAccount(request).id, request.params.id);
      if (!delivery) throw notFound('delivery');
      return renderDetail(delivery);
    },
  );

  app.post(
    '/v1/deliveries/:id/retry',
    {
      config: { scope: 'manage' },
      schema: {
        tags: ['deliveries'],
        summary: 'Queue one more attempt now, by hand',
        security,
        params: IdParams,
        response: { 202: DeliveryBody, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request, reply) => {
      const account = requireAccount(request);
      const existing = await ctx.storage.getDelivery(account.id, request.params.id);
      if (!existing) throw notFound('delivery');
      const delivery = await ctx.storage.requestRetry(account.id, request.params.id, ctx.now());
      if (!delivery) {
        throw new ApiError(
          'validation_error',
          'This delivery has no saved endpoint (a test to an unsaved URL, or a deleted webhook); send a new test instead.',
        );
      }
      return reply.code(202).send(renderDelivery(delivery));
    },
  );
}
