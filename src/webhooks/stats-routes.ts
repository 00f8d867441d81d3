// Every endpoint's stats over a window in one request: the dashboard's webhook list shows each
// endpoint's 24-hour figures, and one request per endpoint made a page of ten cost ten calls.
// Each item is the answer of GET /v1/webhooks/:id/stats without its time series.
import { Type, type Static } from '@sinclair/typebox';
import type { Api, AppContext } from '../http/context.js';
import { requireAccount } from '../http/auth.js';
import { PageQuery, pageOf, plusOne, toPage } from '../http/pagination.js';
import { errorResponses, listOf } from '../http/schemas.js';
import { statsFor, StatsBody, StatsQuery } from './stats.js';

const StatsItem = Type.Composite([
  Type.Object({ webhook_id: Type.String() }),
  Type.Omit(StatsBody, ['bucket_seconds', 'series']),
]);

export function webhookStatsRoutes(app: Api, ctx: AppContext): void {
  app.get(
    '/v1/webhooks/stats',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['webhooks'],
        summary: "Every endpoint's delivery counts, success rate and response times over a window",
        description:
          'One item per endpoint, in the order and pages of GET /v1/webhooks: the figures of GET /v1/webhooks/:id/stats without the time series.',
        security: [{ apiKey: [] }],
        querystring: Type.Object({ ...StatsQuery.properties, ...PageQuery }),
        response: { 200: listOf(StatsItem), ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => {
      const account = requireAccount(request);
      const page = toPage(request.query);
      const window = request.query.window ?? '24h';
      const webhooks = await ctx.storage.listWebhooks(account.id, plusOne(page));
      const shown = webhooks.slice(0, page.limit);
      const stats = new Map<string, Static<typeof StatsItem>>();
      await Promise.all(
        shown.map(async (w) => {
          const {
            series: _series,
            bucket_seconds: _seconds,
            ...figures
          } = await statsFor(ctx, account.id, w.id, window);
          stats.set(w.id, { webhook_id: w.id, ...figures });
        }),
      );
      return pageOf(webhooks, page, (w) => stats.get(w.id)!);
    },
  );
}
