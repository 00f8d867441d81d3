// The admin API (accounts) and the caller's own account.
import { Type } from '@sinclair/typebox';
import type { Api, AppContext } from '../http/context.js';
import { iso } from '../http/context.js';
import { requireAccount } from '../http/auth.js';
import { errorResponses } from '../http/schemas.js';
import { createAccount } from './keys.js';

const CreatedAccountBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  api_key: Type.String({ description: 'Shown once; store it now.' }),
  created_at: Type.String(),
});

const AccountBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  created_at: Type.String(),
  limits: Type.Object({
    max_endpoints: Type.Integer(),
    api_rate_limit_per_minute: Type.Integer(),
    endpoint_rate_limit_per_minute: Type.Integer(),
    publish_rate_limit_per_minute: Type.Union([Type.Integer(), Type.Null()]),
  }),
  usage: Type.Object({ endpoints: Type.Integer() }),
});

export function accountRoutes(app: Api, ctx: AppContext): void {
  app.post(
    '/v1/accounts',
    {
      config: { access: { auth: 'admin', limit: 'none' } },
      schema: {
        tags: ['accounts'],
        summary: 'Create an account (admin token)',
        security: [{ adminToken: [] }],
        body: Type.Object({
          name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000]*$' }),
        }),
        response: { 201: CreatedAccountBody, ...errorResponses(400, 401) },
      },
    },
    async (request, reply) => {
      const { account, apiKey } = await createAccount(
        ctx.storage,
        request.body.name.trim() || request.body.name,
        ctx.now(),
      );
      return reply.code(201).send({
        id: account.id,
        name: account.name,
        api_key: apiKey,
        created_at: iso(account.createdAt),
      });
    },
  );

  app.get(
    '/v1/account',
    {
      config: { access: { auth: 'account', limit: 'api' } },
      schema: {
        tags: ['accounts'],
        summary: 'The calling account, its limits and usage',
        security: [{ apiKey: [] }],
        response: { 200: AccountBody, ...errorResponses(401, 429) },
      },
    },
    async (request) => {
      const account = requireAccount(request);
      const endpoints = await ctx.storage.countWebhooks(account.id);
      return {
        id: account.id,
        name: account.name,
        created_at: iso(account.createdAt),
        limits: {
          max_endpoints: ctx.config.maxEndpoints,
          api_rate_limit_per_minute: ctx.config.apiRateLimit,
          endpoint_rate_limit_per_minute: ctx.config.endpointRateLimit,
          publish_rate_limit_per_minute: ctx.config.publishRateLimit,
        },
        usage: { endpoints },
      };
    },
  );
}
