// The delivery tail that `rizler-webhooks tail` reads: every new delivery, attempt and status
// change of the account, as server-sent events (the polling machinery is http/sse.ts).
import { Type } from '@sinclair/typebox';
import type { Api, AppContext } from '../http/context.js';
import { requireAccount } from '../http/auth.js';
import { notFound } from '../http/errors.js';
import { errorResponses } from '../http/schemas.js';
import { idFloor } from '../core/ids.js';
import { LOOKBACK_MS, SseResponse, type Source, type Streams } from '../http/sse.js';
import type { Delivery, DeliveryDetail, DeliveryStatus } from '../storage/index.js';
import { renderDelivery } from './routes.js';

/** Delivery states remembered to tell a change from a repeat; oldest forgotten first. */
const MAX_REMEMBERED_DELIVERIES = 50_000;

const Status = Type.Union([
  Type.Literal('pending'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
]);

/**
 * The delivery as it stood right after attempt `index` of `detail`, for an attempt that a poll
 * missed because a later one had already happened (fast retries). Its status is inferred: a
 * 2xx succeeded; a failure with automatic retries left (or followed by another attempt) was
 * pending; otherwise failed.
 */
function afterAttempt(detail: DeliveryDetail, index: number, maxAutoAttempts: number): Delivery {
  const attempt = detail.attempts[index]!;
  const next = detail.attempts[index + 1];
  const autoSoFar = detail.attempts.slice(0, index + 1).filter((a) => a.trigger === 'auto').length;
  const ok = attempt.statusCode !== null && attempt.statusCode >= 200 && attempt.statusCode < 300;
  const status: DeliveryStatus = ok
    ? 'succeeded'
    : autoSoFar < maxAutoAttempts || next?.trigger === 'auto'
      ? 'pending'
      : 'failed';
  return {
    ...detail,
    status,
    attemptCount: index + 1,
    lastStatusCode: attempt.statusCode,
    lastDurationMs: attempt.durationMs,
    lastError: attempt.error,
    nextAttemptAt: status === 'pending' ? (next?.startedAt ?? null) : null,
    updatedAt: attempt.startedAt + attempt.durationMs,
  };
}

/**
 * Deliveries of the account created, attempted or changed in status since `from`: one message
 * per new delivery and per attempt, so `tail` shows every retry even when two attempts fall
 * between polls.
 */
function deliverySource(
  ctx: AppContext,
  accountId: string,
  filter: { webhookId?: string; status?: DeliveryStatus },
  from: number,
): Source {
  const floor = from;
  const maxAutoAttempts = ctx.config.retryScheduleMs.length + 1;
  // id → [status, attempts] last sent: a delivery is sent again only when one of them changed,
  // not when another column moved its updated_at (a queued manual retry, a lease).
  const known = new Map<string, [DeliveryStatus, number]>();
  // Attempt cursors, each with the time of the poll that read it, oldest first. A poll reads
  // the attempts after the newest cursor at least LOOKBACK_MS old: an attempt numbered below a
  // cursor may commit after that cursor was read, by as long as a transaction takes.
  const cursors: { at: number; cursor: number | null }[] = [{ at: from, cursor: null }];
  return async () => {
    const started = ctx.now();
    while (cursors.length > 1 && cursors[1]!.at <= started - LOOKBACK_MS) cursors.shift();
    const { deliveries: rows, attemptCursor } = await ctx.storage.listDeliveryChanges(accountId, {
      ...filter,
      createdSince: from,
      createdFromId: idFloor('dlv', from),
      attemptsAfter: cursors[0]!.cursor,
    });
    cursors.push({ at: started, cursor: attemptCursor });
    // The first poll only learns the cursor: attempts before the stream opened are history.
    if (cursors[0]!.cursor === null) cursors.shift();
    const changed: Delivery[] = [];
    for (const d of rows) {
      const before = known.get(d.id);
      if (before && before[0] === d.status && before[1] === d.attemptCount) continue;
      const sentAttempts = before?.[1] ?? 0;
      if (d.attemptCount > sentAttempts + 1) {
        const detail = await ctx.storage.getDelivery(accountId, d.id);
        for (let i = sentAttempts; detail && i < d.attemptCount - 1; i++) {
          // Attempts made before the stream opened are history, not news.
          if (!detail.attempts[i] || detail.attempts[i]!.startedAt < floor) continue;
          const then = afterAttempt(detail, i, maxAutoAttempts);
          if (filter.status === undefined || then.status === filter.status) changed.push(then);
        }
      }
      known.delete(d.id);
      known.set(d.id, [d.status, d.attemptCount]);
      changed.push(d);
    }
    while (known.size > MAX_REMEMBERED_DELIVERIES) known.delete(known.keys().next().value!);
    from = Math.max(floor, started - LOOKBACK_MS);
    changed.sort((a, b) => a.updatedAt - b.updatedAt || a.attemptCount - b.attemptCount);
    return changed.map((d) => ({ event: 'delivery', data: JSON.stringify(renderDelivery(d)) }));
  };
}

export function deliveryStreamRoutes(app: Api, ctx: AppContext, streams: Streams): void {
  app.get(
    '/v1/stream/deliveries',
    {
      // Opening a stream counts against the API limit, like any read.
      config: { scope: 'read' },
      schema: {
        tags: ['deliveries'],
        summary: 'Server-sent events: every new delivery, attempt and status change from now on',
        description:
          'Each message is `event: delivery` with `data:` the delivery as `GET /v1/deliveries` lists it. Used by `rizler-webhooks tail`.',
        security: [{ apiKey: [] }],
        querystring: Type.Object({
          webhook_id: Type.Optional(Type.String({ maxLength: 100 })),
          status: Type.Optional(Status),
        }),
        response: {
          200: SseResponse,
          ...errorResponses(400, 401, 404, 429),
        },
      },
    },
    async (request, reply) => {
      const account = requireAccount(request);
      const { webhook_id: webhookId, status } = request.query;
      if (webhookId !== undefined && !(await ctx.storage.getWebhook(account.id, webhookId))) {
        throw notFound('webhook');
      }
      const source = deliverySource(ctx, account.id, { webhookId, status }, ctx.now());
      streams.serve(request, reply, account.id, source);
    },
  );
}
