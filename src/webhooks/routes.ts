// Endpoints: create, read, change, delete; secrets and rotation; test sends; stats; recover.
import { Type, type Static } from '@sinclair/typebox';
import { checkEndpointUrl } from '../core/address-guard.js';
import { isValidSubscription } from '../core/event-catalogue.js';
import { newId } from '../core/ids.js';
import type { Api, AppContext } from '../http/context.js';
import { iso } from '../http/context.js';
import { actorOf } from '../http/access.js';
import { requireAccount } from '../http/auth.js';
import { ApiError, notFound } from '../http/errors.js';
import { PageQuery, pageOf, plusOne, toPage } from '../http/pagination.js';
import { DateTime, IdParams, errorResponses, listOf, parseTime } from '../http/schemas.js';
import type { Webhook, WebhookPatch } from '../storage/index.js';
import { checkFilter, checkHeaders, FilterField, HeadersField, maskHeaders } from './controls.js';
import { generateSecret, SECRET_OVERLAP_MS, SecretField } from './secrets.js';
import { sendTest, TestResultBody } from './test-send.js';
import { statsFor, StatsBody, StatsQuery } from './stats.js';
import { renderThrottle, ThrottleBody } from './throttle.js';

const Url = Type.String({ minLength: 1, maxLength: 2048, description: 'http:// or https:// URL' });
const Events = Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
  minItems: 1,
  maxItems: 100,
  description: 'Exact types, a family (`call.*`) or everything (`*`).',
});
const Status = Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]);
// No NUL: PostgreSQL text cannot hold it, and no person means one.
const Description = Type.Union([
  Type.String({ maxLength: 1000, pattern: '^[^\\u0000]*$' }),
  Type.Null(),
]);
const Ordering = Type.Union([Type.Literal('none'), Type.Literal('per_key')], {
  description:
    '`per_key`: deliveries that share an `ordering_key` are attempted one at a time, in the order their events were accepted (SPEC §10); `none` (default): in parallel.',
});
const RateLimit = Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()], {
  description: 'Deliveries per minute; null for the service default.',
});

const WebhookBody = Type.Object({
  id: Type.String(),
  url: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  events: Type.Array(Type.String()),
  status: Status,
  disabled_reason: Type.Union([
    Type.Literal('manual'),
    Type.Literal('failing'),
    Type.Literal('gone'),
    Type.Null(),
  ]),
  rate_limit_per_minute: Type.Union([Type.Integer(), Type.Null()]),
  throttle: ThrottleBody,
  headers: Type.Record(Type.String(), Type.String(), {
    description: 'Custom headers; in lists, values of credential-like headers are masked.',
  }),
  filter: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  ordering: Ordering,
  created_at: Type.String(),
  updated_at: Type.String(),
});
const CreatedWebhookBody = Type.Composite([WebhookBody, Type.Object({ secret: Type.String() })]);

const CreateBody = Type.Object({
  url: Url,
  events: Events,
  secret: Type.Optional(SecretField),
  status: Type.Optional(Status),
  description: Type.Optional(Description),
  rate_limit_per_minute: Type.Optional(RateLimit),
  headers: Type.Optional(HeadersField),
  filter: Type.Optional(FilterField),
  ordering: Type.Optional(Ordering),
});
const PatchBody = Type.Partial(CreateBody, { minProperties: 1 });

/** `masked`: lists show credential-like header values masked; the webhook's own read does not. */
function renderWebhook(
  w: Webhook,
  maxInFlight: number,
  masked = false,
): Static<typeof WebhookBody> {
  return {
    id: w.id,
    url: w.url,
    description: w.description,
    events: w.events,
    status: w.status,
    disabled_reason: w.disabledReason,
    rate_limit_per_minute: w.rateLimitPerMinute,
    throttle: renderThrottle(w.throttle, maxInFlight),
    headers: masked ? maskHeaders(w.headers) : w.headers,
    filter: w.filter,
    ordering: w.ordering,
    created_at: iso(w.createdAt),
    updated_at: iso(w.updatedAt),
  };
}

export function webhookRoutes(app: Api, ctx: AppContext): void {
  const read = { scope: 'read' } as const;
  const manage = { scope: 'manage' } as const;
  const security = [{ apiKey: [] }];
  const render = (w: Webhook, masked = false) =>
    renderWebhook(w, ctx.config.maxInFlightPerEndpoint, masked);

  const checkUrl = (url: string): string => {
    const checked = checkEndpointUrl(url, {
      allowPrivateNetworks: ctx.config.allowPrivateNetworks,
      allowedNetworks: ctx.config.allowedNetworks,
      requireHttps: ctx.config.requireHttps,
    });
    if (!checked.ok) throw new ApiError('invalid_url', checked.message);
    return checked.url.href;
  };
  const checkEvents = (events: string[]): string[] => {
    const unknown = events.filter((e) => !isValidSubscription(e));
    if (unknown.length > 0) {
      throw new ApiError(
        'unknown_event_type',
        `Unknown event type ${unknown.map((e) => `"${e}"`).join(', ')}; use a type from GET /v1/event-types, a family such as "call.*", or "*".`,
      );
    }
    return [...new Set(events)];
  };
  const load = async (accountId: string, id: string): Promise<Webhook> => {
    const webhook = await ctx.storage.getWebhook(accountId, id);
    if (!webhook) throw notFound('webhook');
    return webhook;
  };

  app.post(
    '/v1/webhooks',
    {
      config: manage,
      schema: {
        tags: ['webhooks'],
        summary: 'Register an endpoint',
        security,
        body: CreateBody,
        response: { 201: CreatedWebhookBody, ...errorResponses(400, 401, 409, 422, 429) },
      },
    },
    async (request, reply) => {
      const account = requireAccount(request);
      const body = request.body;
      const url = checkUrl(body.url);
      const events = checkEvents(body.events);
      const headers = checkHeaders(body.headers ?? {});
      const filter = checkFilter(body.filter ?? null);
      const secret = body.secret ?? generateSecret();
      const now = ctx.now();
      const maxEndpoints = account.limits.maxEndpoints ?? ctx.config.maxEndpoints;
      const created = await ctx.storage.createWebhook(
        {
          id: newId('wh', now),
          accountId: account.id,
          url,
          description: body.description ?? null,
          events,
          status: body.status ?? 'enabled',
          rateLimitPerMinute: body.rate_limit_per_minute ?? null,
          ordering: body.ordering ?? 'none',
          sealedSecret: ctx.secrets.seal(secret),
          headers,
          filter,
          now,
        },
        maxEndpoints,
        actorOf(request),
      );
      if (created === 'limit_reached') {
        throw new ApiError(
          'endpoint_limit_reached',
          `This account already has ${maxEndpoints} endpoints, the most it may have; delete one before adding another.`,
        );
      }
      return reply.code(201).send({ ...render(created), secret });
    },
  );

  app.get(
    '/v1/webhooks',
    {
      config: read,
      schema: {
        tags: ['webhooks'],
        summary: 'List endpoints, newest first',
        security,
        querystring: Type.Object(PageQuery),
        response: { 200: listOf(WebhookBody), ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => {
      const account = requireAccount(request);
      const page = toPage(request.query);
      const rows = await ctx.storage.listWebhooks(account.id, plusOne(page));
      return pageOf(rows, page, (w) => render(w, true));
    },
  );

  app.get(
    '/v1/webhooks/:id',
    {
      config: read,
      schema: {
        tags: ['webhooks'],
        summary: 'Read an endpoint',
        security,
        params: IdParams,
        response: { 200: WebhookBody, ...errorResponses(401, 404, 429) },
      },
    },
    async (request) => render(await load(requireAccount(request).id, request.params.id)),
  );

  app.patch(
    '/v1/webhooks/:id',
    {
      config: manage,
      schema: {
        tags: ['webhooks'],
        summary: 'Change an endpoint',
        security,
        params: IdParams,
        body: PatchBody,
        response: { 200: WebhookBody, ...errorResponses(400, 401, 404, 422, 429) },
      },
    },
    async (request) => {
      const account = requireAccount(request);
      const body = request.body;
      await load(account.id, request.params.id);
      const patch: WebhookPatch = {};
      if (body.url !== undefined) patch.url = checkUrl(body.url);
      if (body.events !== undefined) patch.events = checkEvents(body.events);
      if (body.status !== undefined) patch.status = body.status;
      if (body.description !== undefined) patch.description = body.description;
      if (body.rate_limit_per_minute !== undefined)
        patch.rateLimitPerMinute = body.rate_limit_per_minute;
      if (body.secret !== undefined) patch.sealedSecret = ctx.secrets.seal(body.secret);
      if (body.headers !== undefined) patch.headers = checkHeaders(body.headers);
      if (body.filter !== undefined) patch.filter = checkFilter(body.filter);
      if (body.ordering !== undefined) patch.ordering = body.ordering;
      const updated = await ctx.storage.updateWebhook(
        account.id,
        request.params.id,
        patch,
        ctx.now(),
        actorOf(request),
      );
      if (!updated) throw notFound('webhook');
      return render(updated);
    },
  );

  app.delete(
    '/v1/webhooks/:id',
    {
      config: manage,
      schema: {
        tags: ['webhooks'],
        summary: 'Delete an endpoint with its delivery logs',
        security,
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(401, 404, 429) },
      },
    },
    async (request, reply) => {
      const deleted = await ctx.storage.deleteWebhook(
        requireAccount(request).id,
        request.params.id,
        actorOf(request),
      );
      if (!deleted) throw notFound('webhook');
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/webhooks/:id/secret',
    {
      config: read,
      schema: {
        tags: ['webhooks'],
        summary: "Read an endpoint's signing secret",
        security,
        params: IdParams,
        response: { 200: Type.Object({ secret: Type.String() }), ...errorResponses(401, 404, 429) },
      },
    },
    async (request) => {
      const webhook = await load(requireAccount(request).id, request.params.id);
      return { secret: ctx.secrets.open(webhook.sealedSecret) };
    },
  );

  app.post(
    '/v1/webhooks/:id/secret/rotate',
    {
      config: manage,
      schema: {
        tags: ['webhooks'],
        summary: 'Rotate the signing secret; the old one keeps signing webhook-signature for 24 h',
        security,
        params: IdParams,
        body: Type.Object({ secret: Type.Optional(SecretField) }),
        response: {
          200: Type.Object({ secret: Type.String(), previous_secret_expires_at: Type.String() }),
          ...errorResponses(400, 401, 404, 429),
        },
      },
    },
    async (request) => {
      const account = requireAccount(request);
      const current = await load(account.id, request.params.id);
      const secret = request.body.secret ?? generateSecret();
      const now = ctx.now();
      const previousExpiresAt = now + SECRET_OVERLAP_MS;
      // The replaced secret is sealed again, so a rotation never keeps a secret in clear
      // that was stored before RIZLER_ENCRYPTION_KEY was set.
      const sealedPreviousSecret = ctx.secrets.isCurrent(current.sealedSecret)
        ? current.sealedSecret
        : ctx.secrets.seal(ctx.secrets.open(current.sealedSecret));
      const rotated = await ctx.storage.rotateSecret(
        account.id,
        request.params.id,
        { sealedSecret: ctx.secrets.seal(secret), sealedPreviousSecret, previousExpiresAt },
        now,
        actorOf(request),
      );
      if (!rotated) throw notFound('webhook');
      return { secret, previous_secret_expires_at: iso(previousExpiresAt) };
    },
  );

  app.post(
    '/v1/webhooks/:id/test',
    {
      config: manage,
      schema: {
        tags: ['webhooks'],
        summary: "Send one real signed attempt with an event type's example, now",
        security,
        params: IdParams,
        body: Type.Object({ event: Type.Optional(Type.String({ maxLength: 100 })) }),
        response: { 200: TestResultBody, ...errorResponses(400, 401, 404, 422, 429) },
      },
    },
    async (request) => {
      const account = requireAccount(request);
      const webhook = await load(account.id, request.params.id);
      const secrets = [ctx.secrets.open(webhook.sealedSecret)];
      if (webhook.sealedPreviousSecret && (webhook.previousSecretExpiresAt ?? 0) > ctx.now()) {
        secrets.push(ctx.secrets.open(webhook.sealedPreviousSecret));
      }
      return sendTest(ctx, {
        accountId: account.id,
        webhookId: webhook.id,
        url: webhook.url,
        eventType: request.body.event,
        secrets,
        headers: webhook.headers,
      });
    },
  );

  app.post(
    '/v1/webhooks/test',
    {
      config: manage,
      schema: {
        tags: ['webhooks'],
        summary: 'Send one real signed attempt to a URL that is not saved yet',
        security,
        body: Type.Object({
          url: Url,
          event: Type.Optional(Type.String({ maxLength: 100 })),
          secret: Type.Optional(SecretField),
        }),
        response: { 200: TestResultBody, ...errorResponses(400, 401, 422, 429) },
      },
    },
    async (request) => {
      const account = requireAccount(request);
      const url = checkUrl(request.body.url);
      return sendTest(ctx, {
        accountId: account.id,
        webhookId: null,
        url,
        eventType: request.body.event,
        secrets: [request.body.secret ?? generateSecret()],
      });
    },
  );

  app.get(
    '/v1/webhooks/:id/stats',
    {
      config: read,
      schema: {
        tags: ['webhooks'],
        summary: 'Delivery counts, success rate and response times over a window',
        security,
        params: IdParams,
        querystring: StatsQuery,
        response: { 200: StatsBody, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const account = requireAccount(request);
      await load(account.id, request.params.id);
      return statsFor(ctx, account.id, request.params.id, request.query.window ?? '24h');
    },
  );

  app.post(
    '/v1/webhooks/:id/recover',
    {
      config: manage,
      schema: {
        tags: ['webhooks'],
        summary: 'Retry every failed delivery of the endpoint since a time',
        security,
        params: IdParams,
        body: Type.Object({ since: DateTime }),
        response: {
          202: Type.Object({
            webhook_id: Type.String(),
            since: Type.String(),
            deliveries: Type.Integer(),
          }),
          ...errorResponses(400, 401, 404, 429),
        },
      },
    },
    async (request, reply) => {
      const account = requireAccount(request);
      await load(account.id, request.params.id);
      const since = parseTime(request.body.since, 'since');
      const count = await ctx.storage.recoverFailed(
        account.id,
        request.params.id,
        since,
        ctx.now(),
      );
      return reply
        .code(202)
        .send({ webhook_id: request.params.id, since: iso(since), deliveries: count });
    },
  );
}
