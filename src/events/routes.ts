// Publishing events (single and batch), the event log and the catalogue.
import { Type, type Static } from '@sinclair/typebox';
import { EVENT_TYPES, isKnownEventType, validateEventData } from '../core/event-catalogue.js';
import { newId } from '../core/ids.js';
import { defaultOrderingKey, MAX_ORDERING_KEY } from '../core/ordering-key.js';
import type { Api, AppContext } from '../http/context.js';
import { iso } from '../http/context.js';
import { requireAccount } from '../http/auth.js';
import { ApiError, notFound } from '../http/errors.js';
import { PageQuery, pageOf, plusOne, toPage } from '../http/pagination.js';
import { DateTime, IdParams, errorResponses, listOf, parseTime } from '../http/schemas.js';
import type { NewEvent, PublishedEvent, StoredEvent } from '../storage/index.js';
import { IdsOnlyTracing } from '../observability/tracing.js';
import { isOperationalEventType } from '../core/operational-catalogue.js';
import { eventPayload } from '../core/payload.js';

/** SPEC §7: an event body of at most 256 KiB. */
export const MAX_EVENT_BYTES = 256 * 1024;
/** A batch carries up to 1000 events, in a body of up to RIZLER_BATCH_BODY_LIMIT (4 MiB). */
export const MAX_BATCH_EVENTS = 1000;
const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;
/** Deeper data breaks JSON.stringify's recursion long before 256 KiB; no event needs it. */
const MAX_DATA_DEPTH = 64;

/** Iterative, so that the check itself cannot overflow the stack. */
function depthExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

const EventInput = Type.Object({
  event: Type.String({
    minLength: 1,
    maxLength: 100,
    description: 'A catalogue type, e.g. call.ended',
  }),
  data: Type.Unknown({ description: 'A JSON object: the event payload.' }),
  timestamp: Type.Optional(DateTime),
  idempotency_key: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  ordering_key: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: MAX_ORDERING_KEY,
      pattern: '^[^\\u0000-\\u001f\\u007f]+$',
      description:
        "Events that share it are delivered in the order they were accepted to webhooks with ordering per_key (SPEC §10). Default: the type's, data.call_id for call, recording, transcript and voicemail events, data.agent_id for agent events.",
    }),
  ),
});
type EventInput = Static<typeof EventInput>;

const PublishedBody = Type.Object({
  id: Type.String(),
  event: Type.String(),
  timestamp: Type.String(),
  deliveries: Type.Integer({ description: 'Enabled endpoints subscribed to the type.' }),
});

const EventBody = Type.Object({
  id: Type.String(),
  event: Type.String(),
  timestamp: Type.String(),
  data: Type.Unknown(),
  ordering_key: Type.Union([Type.String(), Type.Null()]),
  test: Type.Boolean(),
  created_at: Type.String(),
});

const CatalogueBody = Type.Object({
  data: Type.Array(
    Type.Object({
      name: Type.String(),
      description: Type.String(),
      example: Type.Unknown(),
      schema: Type.Unknown(),
      operational: Type.Boolean({
        description:
          'Published by Rizler itself; subscribe by name or family, `*` does not cover it.',
      }),
    }),
  ),
});

function renderEvent(e: StoredEvent): Static<typeof EventBody> {
  const body = JSON.parse(e.payload) as { data: unknown };
  return {
    id: e.id,
    event: e.type,
    timestamp: e.timestamp,
    data: body.data,
    ordering_key: e.orderingKey,
    test: e.test,
    created_at: iso(e.createdAt),
  };
}

function renderPublished(p: PublishedEvent): Static<typeof PublishedBody> {
  return {
    id: p.event.id,
    event: p.event.type,
    timestamp: p.event.timestamp,
    deliveries: p.deliveries,
  };
}

/** Checks one event and turns it into what the store keeps; `where` prefixes field names. */
function prepare(
  input: EventInput,
  where: string,
  idempotencyKey: string | null,
  now: number,
): NewEvent {
  if (!isKnownEventType(input.event)) {
    throw new ApiError(
      'unknown_event_type',
      `${where}event "${input.event}" is not a known event type; GET /v1/event-types lists them.`,
    );
  }
  if (isOperationalEventType(input.event)) {
    throw new ApiError(
      'unknown_event_type',
      `${where}event "${input.event}" is published by Rizler itself (an operational event); it cannot be published through the API.`,
    );
  }
  const data = input.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ApiError('invalid_event_data', `${where}data must be a JSON object.`);
  }
  if (depthExceeds(data, MAX_DATA_DEPTH)) {
    throw new ApiError(
      'invalid_event_data',
      `${where}data is nested more than ${MAX_DATA_DEPTH} levels deep; flatten it.`,
    );
  }
  const valid = validateEventData(input.event, data);
  if (!valid.ok) {
    throw new ApiError('invalid_event_data', `${where}${valid.message}`);
  }
  let timestamp = new Date(now).toISOString();
  if (input.timestamp !== undefined) {
    if (Number.isNaN(Date.parse(input.timestamp))) {
      throw new ApiError(
        'validation_error',
        `${where}timestamp must be an ISO-8601 date and time.`,
      );
    }
    timestamp = input.timestamp;
  }
  const id = newId('evt', now);
  const payload = eventPayload(id, input.event, timestamp, data);
  if (Buffer.byteLength(payload) > MAX_EVENT_BYTES) {
    throw new ApiError('payload_too_large', `${where}event is larger than 256 KiB.`);
  }
  const orderingKey =
    input.ordering_key ?? defaultOrderingKey(input.event, data as Record<string, unknown>);
  return { id, type: input.event, timestamp, payload, idempotencyKey, orderingKey, data };
}

export function eventRoutes(app: Api, ctx: AppContext): void {
  const security = [{ apiKey: [] }];
  const tracing = ctx.tracing ?? new IdsOnlyTracing();
  /** Stores the events; this process's worker, when it has room, takes their deliveries at once. */
  const publish = async (accountId: string, events: NewEvent[], now: number) => {
    // The bodies it may bring the worker, each event's once, so that it holds no more of the
    // worker's byte budget than that.
    let bodyBytes = 0;
    if (ctx.handoff) for (const e of events) bodyBytes += Buffer.byteLength(e.payload);
    const handoff = ctx.handoff?.(bodyBytes);
    try {
      return await ctx.storage.publish({
        accountId,
        events,
        // A delivery's id begins with its created_at: `tail` finds new ones by id (idFloor).
        newDeliveryId: () => newId('dlv', now),
        now,
        idempotencyWindowMs: IDEMPOTENCY_WINDOW_MS,
        handoff,
      });
    } finally {
      handoff?.release();
    }
  };
  /** The publish under its span; every event keeps the span's traceparent (SPEC §11). */
  const traced = (
    accountId: string,
    events: NewEvent[],
    incoming: string | undefined,
    publish: () => Promise<PublishedEvent[]>,
  ) =>
    tracing.publish(
      { accountId, eventIds: events.map((e) => e.id), eventTypes: events.map((e) => e.type) },
      incoming,
      async (traceparent) => {
        for (const e of events) e.traceparent = traceparent;
        const result = await publish();
        return { result, deliveries: result.reduce((n, p) => n + p.deliveries, 0) };
      },
    );

  app.get(
    '/v1/event-types',
    {
      config: { scope: 'public' },
      schema: {
        tags: ['events'],
        summary: 'The event catalogue: every type, its description, example and JSON Schema',
        response: { 200: CatalogueBody },
      },
    },
    async () => ({
      data: EVENT_TYPES.map((t) => ({
        name: t.name,
        description: t.description,
        example: t.example,
        schema: t.schema,
        operational: t.operational === true,
      })),
    }),
  );

  app.post(
    '/v1/events',
    {
      bodyLimit: MAX_EVENT_BYTES + 1024,
      config: { scope: 'publish' },
      schema: {
        tags: ['events'],
        summary: 'Publish an event; answered once it and its deliveries are stored',
        security,
        headers: Type.Object({
          'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
          traceparent: Type.Optional(
            Type.String({
              description:
                'W3C trace context; kept with the event, and each attempt sends a child of it. A malformed one starts a new trace.',
            }),
          ),
        }),
        body: EventInput,
        response: { 202: PublishedBody, ...errorResponses(400, 401, 413, 422, 429) },
      },
    },
    async (request, reply) => {
      const account = requireAccount(request);
      const now = ctx.now();
      const key = request.headers['idempotency-key'] ?? request.body.idempotency_key ?? null;
      const event = prepare(request.body, '', key, now);
      const [published] = await traced(account.id, [event], request.headers.traceparent, () =>
        publish(account.id, [event], now),
      );
      if (published!.duplicate) reply.header('idempotent-replayed', 'true');
      else ctx.metrics.eventsPublished.inc();
      return reply.code(202).send(renderPublished(published!));
    },
  );

  app.post(
    '/v1/events/batch',
    {
      bodyLimit: ctx.config.batchBodyLimit,
      config: { scope: 'publish' },
      schema: {
        tags: ['events'],
        summary: 'Publish up to 1000 events, all or nothing',
        security,
        body: Type.Object({
          events: Type.Array(EventInput, { minItems: 1, maxItems: MAX_BATCH_EVENTS }),
        }),
        response: {
          202: Type.Object({ data: Type.Array(PublishedBody) }),
          ...errorResponses(400, 401, 413, 422, 429),
        },
      },
    },
    async (request, reply) => {
      const account = requireAccount(request);
      const now = ctx.now();
      const events = request.body.events.map((input, i) =>
        prepare(input, `events[${i}].`, input.idempotency_key ?? null, now),
      );
      const incoming = request.headers.traceparent;
      const published = await traced(
        account.id,
        events,
        typeof incoming === 'string' ? incoming : undefined,
        () => publish(account.id, events, now),
      );
      ctx.metrics.eventsPublished.inc(published.filter((p) => !p.duplicate).length);
      return reply.code(202).send({ data: published.map(renderPublished) });
    },
  );

  app.get(
    '/v1/events',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['events'],
        summary: 'The event log, newest first',
        security,
        querystring: Type.Object({
          ...PageQuery,
          event: Type.Optional(Type.String({ maxLength: 100 })),
          since: Type.Optional(DateTime),
          until: Type.Optional(DateTime),
        }),
        response: { 200: listOf(EventBody), ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => {
      const account = requireAccount(request);
      const page = toPage(request.query);
      const q = request.query;
      const rows = await ctx.storage.listEvents(
        account.id,
        {
          eventType: q.event,
          since: parseTime(q.since, 'since'),
          until: parseTime(q.until, 'until'),
        },
        plusOne(page),
      );
      return pageOf(rows, page, renderEvent);
    },
  );

  app.get(
    '/v1/events/:id',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['events'],
        summary: 'One event',
        security,
        params: IdParams,
        response: { 200: EventBody, ...errorResponses(401, 404, 429) },
      },
    },
    async (request) => {
      const event = await ctx.storage.getEvent(requireAccount(request).id, request.params.id);
      if (!event) throw notFound('event');
      return renderEvent(event);
    },
  );
}
