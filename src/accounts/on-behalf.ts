// Publishing for an account with the admin token (SPEC §9): POST /v1/accounts/:id/events and
// /events/batch take the body, headers and answer of POST /v1/events and /v1/events/batch.
// They are those very routes, registered again under the account's path: the same schema and
// handler, so the two can never drift apart. The access layer resolves the account from the
// validated path (404 when there is none, 403 account_suspended) and counts its publish limit
// per event, as for the account's own publishing.
import { Type } from '@sinclair/typebox';
import type { RouteOptions } from 'fastify';
import type { Api } from '../http/context.js';
import { errorResponses } from '../http/schemas.js';

const PUBLISH_ROUTES = new Set(['/v1/events', '/v1/events/batch']);

export class OnBehalfRoutes {
  private readonly captured: RouteOptions[] = [];

  /** Call before the event routes are registered: it watches for them. */
  constructor(private readonly app: Api) {
    app.addHook('onRoute', (route) => {
      if (route.method === 'POST' && PUBLISH_ROUTES.has(route.url)) this.captured.push(route);
    });
  }

  /** Call after the event routes are registered. */
  register(): void {
    for (const route of this.captured) {
      const schema = (route.schema ?? {}) as Record<string, unknown>;
      const response = (schema.response ?? {}) as Record<string, unknown>;
      this.app.route({
        method: 'POST',
        url: route.url.replace('/v1/', '/v1/accounts/:id/'),
        bodyLimit: route.bodyLimit,
        config: { scope: 'admin', limit: 'publish' },
        schema: {
          ...schema,
          summary: `${String(schema.summary)}, for the account in the path (admin token)`,
          tags: ['accounts'],
          security: [{ adminToken: [] }],
          params: Type.Object({ id: Type.String({ maxLength: 100 }) }),
          response: { ...response, ...errorResponses(403, 404) },
        },
        handler: route.handler,
      } as RouteOptions);
    }
  }
}
