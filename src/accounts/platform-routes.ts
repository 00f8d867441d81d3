// The platform's routes (SPEC §9): an account's API keys and audit log, and the operator's
// API over accounts (list, read, update, suspend, delete, portal sessions, audit log).
import { Type } from '@sinclair/typebox';
import { hashApiKey, newId, randomToken } from '../core/ids.js';
import { actorOf, PORTAL_TOKEN_PREFIX } from '../http/access.js';
import { requireAccount } from '../http/auth.js';
import type { Api, AppContext } from '../http/context.js';
import { iso } from '../http/context.js';
import { ApiError } from '../http/errors.js';
import { PageQuery, pageOf, plusOne, toPage } from '../http/pagination.js';
import { DateTime, IdParams, errorResponses, listOf, parseTime } from '../http/schemas.js';
import type { AccountLimits, AccountPatch } from '../storage/index.js';
import { mintApiKey } from './keys.js';
import {
  AccountBody,
  ApiKeyBody,
  AuditEntryBody,
  ScopeSchema,
  renderAccount,
  renderApiKey,
  renderAudit,
} from './render.js';
import type { KeyUsage } from './usage.js';

const Limit = Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000_000 }), Type.Null()]);

const PORTAL_DEFAULT_SECONDS = 3600;

export function platformRoutes(app: Api, ctx: AppContext & { usage: KeyUsage }): void {
  const keySecurity = [{ apiKey: [] }];
  const adminSecurity = [{ adminToken: [] }];

  // ---- an account's API keys ----

  app.get(
    '/v1/api-keys',
    {
      config: { scope: 'keys' },
      schema: {
        tags: ['api keys'],
        summary: "The account's API keys (never the keys themselves)",
        security: keySecurity,
        querystring: Type.Object(PageQuery, { additionalProperties: false }),
        response: { 200: listOf(ApiKeyBody), ...errorResponses(400, 401, 403, 429) },
      },
    },
    async (request) => {
      const page = toPage(request.query);
      const keys = await ctx.storage.listApiKeys(requireAccount(request).id, plusOne(page));
      return pageOf(keys, page, (k) => renderApiKey(k, ctx.usage.noted(k.id)));
    },
  );

  app.post(
    '/v1/api-keys',
    {
      config: { scope: 'keys' },
      schema: {
        tags: ['api keys'],
        summary: 'Create an API key with the given scopes; the key is shown once',
        security: keySecurity,
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]*$' }),
            scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: 4, uniqueItems: true }),
            expires_at: Type.Optional(DateTime),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Composite([
            ApiKeyBody,
            Type.Object({ key: Type.String({ description: 'Shown once; store it now.' }) }),
          ]),
          ...errorResponses(400, 401, 403, 429),
        },
      },
    },
    async (request, reply) => {
      const account = requireAccount(request);
      const now = ctx.now();
      const expiresAt =
        request.body.expires_at === undefined
          ? null
          : parseTime(request.body.expires_at, 'expires_at');
      if (expiresAt !== null && expiresAt <= now) {
        throw new ApiError(
          'validation_error',
          'expires_at is in the past; give a time in the future, or leave it out for a key that does not expire.',
        );
      }
      const { key, record } = mintApiKey(request.body.name, request.body.scopes, expiresAt, now);
      const created = await ctx.storage.createApiKey(account.id, record, actorOf(request), now);
      return reply.code(201).send({ ...renderApiKey(created, null), key });
    },
  );

  app.delete(
    '/v1/api-keys/:id',
    {
      config: { scope: 'keys' },
      schema: {
        tags: ['api keys'],
        summary: 'Revoke an API key: it answers 401 from now on, on every server',
        security: keySecurity,
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 429) },
      },
    },
    async (request, reply) => {
      const account = requireAccount(request);
      const revoked = await ctx.storage.revokeApiKey(
        account.id,
        request.params.id,
        actorOf(request),
        ctx.now(),
      );
      if (!revoked) throw new ApiError('not_found', 'No API key with that id in this account.');
      return reply.code(204).send(null);
    },
  );

  // ---- the audit log ----

  app.get(
    '/v1/audit-log',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['audit log'],
        summary: 'Every change to the account, its keys, webhooks and secrets, newest first',
        security: keySecurity,
        querystring: Type.Object(PageQuery, { additionalProperties: false }),
        response: { 200: listOf(AuditEntryBody), ...errorResponses(400, 401, 403, 429) },
      },
    },
    async (request) => {
      const page = toPage(request.query);
      const entries = await ctx.storage.listAuditLog(requireAccount(request).id, plusOne(page));
      return pageOf(entries, page, renderAudit);
    },
  );

  // ---- the operator's API ----

  async function liveAccount(id: string) {
    const account = await ctx.storage.getAccount(id);
    if (!account) throw new ApiError('not_found', 'No account with that id.');
    return account;
  }

  app.get(
    '/v1/accounts',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['accounts'],
        summary: 'List accounts, newest first (admin token)',
        security: adminSecurity,
        querystring: Type.Object(PageQuery, { additionalProperties: false }),
        response: { 200: listOf(AccountBody), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const page = toPage(request.query);
      const accounts = await ctx.storage.listAccounts(plusOne(page));
      const shown = accounts.slice(0, page.limit);
      const counts = await Promise.all(shown.map((a) => ctx.storage.countWebhooks(a.id)));
      const endpoints = new Map(shown.map((a, i) => [a.id, counts[i]!]));
      return pageOf(accounts, page, (a) => renderAccount(a, endpoints.get(a.id) ?? 0, ctx.config));
    },
  );

  app.get(
    '/v1/accounts/:id',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['accounts'],
        summary: 'Read an account: status, limits in force, usage (admin token)',
        security: adminSecurity,
        params: IdParams,
        response: { 200: AccountBody, ...errorResponses(401, 404) },
      },
    },
    async (request) => {
      const account = await liveAccount(request.params.id);
      return renderAccount(account, await ctx.storage.countWebhooks(account.id), ctx.config);
    },
  );

  app.patch(
    '/v1/accounts/:id',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['accounts'],
        summary: 'Rename, suspend or resume an account, or set its limits (admin token)',
        description:
          'A suspended account cannot publish (403 `account_suspended`) and its pending deliveries wait; `"status": "active"` resumes them. A limit set to `null` falls back to the service default.',
        security: adminSecurity,
        params: IdParams,
        body: Type.Object(
          {
            name: Type.Optional(
              Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]*$' }),
            ),
            status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended')])),
            limits: Type.Optional(
              Type.Object(
                {
                  max_endpoints: Type.Optional(Limit),
                  api_rate_limit_per_minute: Type.Optional(Limit),
                  publish_rate_limit_per_minute: Type.Optional(Limit),
                  endpoint_rate_limit_per_minute: Type.Optional(Limit),
                },
                { additionalProperties: false },
              ),
            ),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: AccountBody, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { name, status, limits } = request.body;
      const patch: AccountPatch = {};
      if (name !== undefined) patch.name = name;
      if (status !== undefined) patch.status = status;
      if (limits) {
        const own: Partial<AccountLimits> = {};
        if (limits.max_endpoints !== undefined) own.maxEndpoints = limits.max_endpoints;
        if (limits.api_rate_limit_per_minute !== undefined)
          own.apiRateLimitPerMinute = limits.api_rate_limit_per_minute;
        if (limits.publish_rate_limit_per_minute !== undefined)
          own.publishRateLimitPerMinute = limits.publish_rate_limit_per_minute;
        if (limits.endpoint_rate_limit_per_minute !== undefined)
          own.endpointRateLimitPerMinute = limits.endpoint_rate_limit_per_minute;
        patch.limits = own;
      }
      const updated = await ctx.storage.updateAccount(
        request.params.id,
        patch,
        actorOf(request),
        ctx.now(),
      );
      if (!updated) throw new ApiError('not_found', 'No account with that id.');
      return renderAccount(updated, await ctx.storage.countWebhooks(updated.id), ctx.config);
    },
  );

  app.delete(
    '/v1/accounts/:id',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['accounts'],
        summary: 'Delete an account with its keys, webhooks, events and deliveries (admin token)',
        description:
          'The account is gone at once: its keys answer 401 and its deliveries stop. Its rows are removed in small batches in the background.',
        security: adminSecurity,
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(401, 404) },
      },
    },
    async (request, reply) => {
      const deleted = await ctx.storage.deleteAccount(
        request.params.id,
        actorOf(request),
        ctx.now(),
      );
      if (!deleted)
        throw new ApiError('not_found', 'No account with that id; it may be deleted already.');
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/accounts/:id/portal-sessions',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['accounts'],
        summary: 'A link that signs a browser into the dashboard for this account alone',
        description:
          'The `token` is also a bearer credential with the scopes `read` and `manage` (`read` only when `read_only`) until `expires_at`.',
        security: adminSecurity,
        params: IdParams,
        body: Type.Object(
          {
            expires_in: Type.Optional(
              Type.Integer({
                minimum: 60,
                maximum: 86_400,
                default: PORTAL_DEFAULT_SECONDS,
                description: 'Seconds the session lasts, 60 to 86400.',
              }),
            ),
            read_only: Type.Optional(Type.Boolean({ default: false })),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            url: Type.String(),
            token: Type.String(),
            expires_at: Type.String(),
          }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request, reply) => {
      const account = await liveAccount(request.params.id);
      const now = ctx.now();
      const expiresAt = now + (request.body.expires_in ?? PORTAL_DEFAULT_SECONDS) * 1000;
      const token = randomToken(PORTAL_TOKEN_PREFIX, 32);
      await ctx.storage.createPortalSession(
        {
          id: newId('ps', now),
          accountId: account.id,
          tokenHash: hashApiKey(token),
          readOnly: request.body.read_only ?? false,
          expiresAt,
          now,
        },
        actorOf(request),
      );
      return reply.code(201).send({
        // In the fragment: browsers send it to no server, and the dashboard removes it at once.
        url: `${ctx.config.publicUrl}/portal#token=${token}`,
        token,
        expires_at: iso(expiresAt),
      });
    },
  );

  app.get(
    '/v1/accounts/:id/audit-log',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['accounts'],
        summary: "An account's audit log, newest first (admin token)",
        security: adminSecurity,
        params: IdParams,
        querystring: Type.Object(PageQuery, { additionalProperties: false }),
        response: { 200: listOf(AuditEntryBody), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const account = await liveAccount(request.params.id);
      const page = toPage(request.query);
      return pageOf(await ctx.storage.listAuditLog(account.id, plusOne(page)), page, renderAudit);
    },
  );

  // ---- the dashboard's own settings ----

  app.get(
    '/v1/dashboard-settings',
    {
      config: { scope: 'public' },
      schema: {
        tags: ['dashboard'],
        summary: "The dashboard's branding, set by the operator",
        response: {
          200: Type.Object({
            product_name: Type.String(),
            accent_color: Type.Union([Type.String(), Type.Null()]),
            logo_url: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async () => ({
      product_name: ctx.config.branding.productName,
      accent_color: ctx.config.branding.accentColor,
      logo_url: ctx.config.branding.logoUrl,
    }),
  );
}
