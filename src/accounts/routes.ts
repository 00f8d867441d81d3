// The admin API (accounts) and the caller's own account.
import { Type } from '@sinclair/typebox';
import type { Api, AppContext } from '../http/context.js';
import { iso, isoOrNull } from '../http/context.js';
import { requireAccount } from '../http/auth.js';
import { errorResponses } from '../http/schemas.js';
import { actorOf } from '../http/access.js';
import { createAccount } from './keys.js';
import { AccountBody, renderAccount } from './render.js';

const CreatedAccountBody = Type.Object({
  id: Type.String(),
  name: Type.String(),
  api_key: Type.String({ description: 'Shown once; store it now.' }),
  created_at: Type.String(),
});

export function accountRoutes(app: Api, ctx: AppContext): void {
  app.post(
    '/v1/accounts',
    {
      config: { scope: 'admin' },
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
        actorOf(request),
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
      config: { scope: 'read' },
      schema: {
        tags: ['accounts'],
        summary: 'The calling account, its limits and usage',
        security: [{ apiKey: [] }],
        response: {
          200: Type.Composite([
            AccountBody,
            Type.Object({
              access: Type.Object(
                {
                  type: Type.Union([Type.Literal('api_key'), Type.Literal('portal_session')]),
                  scopes: Type.Array(Type.String()),
                  expires_at: Type.Union([Type.String(), Type.Null()]),
                },
                { description: 'The credential of this request: what it may do, until when.' },
              ),
            }),
          ]),
          ...errorResponses(401, 429),
        },
      },
    },
    async (request) => {
      const account = requireAccount(request);
      const endpoints = await ctx.storage.countWebhooks(account.id);
      const credential = request.credential!;
      const type: 'api_key' | 'portal_session' =
        credential.actor.type === 'portal_session' ? 'portal_session' : 'api_key';
      return {
        ...renderAccount(account, endpoints, ctx.config),
        access: {
          type,
          scopes: [...credential.scopes],
          expires_at: isoOrNull(credential.expiresAt),
        },
      };
    },
  );
}
