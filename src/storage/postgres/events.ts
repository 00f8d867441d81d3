// The PostgreSQL engine's events: publish (store each event and fan it out to the subscribed
// endpoints, idempotency keys and per-key ordering included) and the event log.
import type {
  EventFilter,
  NewEvent,
  Page,
  PublishRequest,
  PublishedEvent,
  StoredEvent,
} from '../types.js';
import { filterSubject, type FilterCache } from '../../core/filter.js';
import { num, toEvent } from '../rows.js';
import { IdempotencyConflictError, sameEvent } from '../idempotency.js';
import { fanOutEndpoint, receives } from '../fan-out.js';
import { eventConditions, pageWhere } from '../list-filters.js';
import { PostgresPart, type PostgresHandle } from './connection.js';
import { placeBatch } from './ordering.js';
import { noHandoff, type FreshDelivery, type PostgresClaim } from './claim.js';

/**
 * The events' insert: $1 the account, $2 the time, and the columns (eventColumns) from
 * parameter `from` on. A publish with deliveries runs it in the deliveries' statement, a round
 * trip fewer before the 202.
 */
const insertEvents = (from: number) => `
  INSERT INTO events (id, account_id, type, timestamp, payload, idempotency_key, created_at,
    ordering_key, traceparent)
  SELECT u.id, $1, u.type, u.timestamp, u.payload, u.idempotency_key, $2, u.ordering_key,
    u.traceparent
  FROM unnest(${Array.from({ length: 7 }, (_, i) => `$${from + i}::text[]`).join(', ')})
    AS u(id, type, timestamp, payload, idempotency_key, ordering_key, traceparent)`;

function eventColumns(events: readonly NewEvent[]): unknown[] {
  return [
    events.map((e) => e.id),
    events.map((e) => e.type),
    events.map((e) => e.timestamp),
    events.map((e) => e.payload),
    events.map((e) => e.idempotencyKey),
    events.map((e) => e.orderingKey ?? null),
    events.map((e) => e.traceparent ?? null),
  ];
}

export class PostgresEvents extends PostgresPart {
  constructor(
    h: PostgresHandle,
    private readonly filters: FilterCache,
    private readonly claims: PostgresClaim,
  ) {
    super(h);
  }

  async publish(request: PublishRequest): Promise<PublishedEvent[]> {
    const { accountId, now, handoff } = request;
    let plan = noHandoff();
    /** Deliveries made due now that the hand-off did not take: the workers are woken for them. */
    let leftDue = false;
    // A hand-off locks the account's endpoints, skipping those another transaction holds: one
    // of this process's own is waited for first (local-holds.ts).
    const release = handoff ? await this.claims.holds.turn(accountId) : undefined;
    const published = await this.tx(async (q, end) => {
      // KEY SHARE: an endpoint cannot be deleted under a publish (which would leave deliveries
      // without an endpoint); claims and updates take NO KEY UPDATE, which does not conflict.
      // With a hand-off, its lock and count go out behind it (lockAhead), for an account with
      // few endpoints.
      const [rows, ahead] = await Promise.all([
        q(
          `SELECT id, url, events, filter::text AS filter, updated_at, ordering FROM webhooks
           WHERE account_id = $1 AND status = 'enabled'
             AND EXISTS (SELECT 1 FROM accounts WHERE id = $1 AND status = 'active')
           ORDER BY id FOR KEY SHARE`,
          [accountId],
        ),
        handoff ? this.claims.lockAhead(q, handoff.request, accountId, now) : undefined,
      ]);
      const endpoints = rows.map((r) => fanOutEndpoint(this.filters, r));

      // Idempotency keys: lock each (in a fixed order, so two batches cannot deadlock), then
      // read what they already name. A concurrent publish with the same key waits here and
      // then sees our event.
      const keys = [
        ...new Set(request.events.map((e) => e.idempotencyKey).filter((k) => k !== null)),
      ].sort();
      // What each key names so far: a stored event (its deliveries counted below if it is
      // repeated) or one made earlier in this batch.
      interface Named {
        event: StoredEvent;
        deliveries: number | null;
        /** Index in `newEvents` when made by this batch. */
        index: number | null;
      }
      const named = new Map<string, Named>();
      if (keys.length > 0) {
        await q(
          `SELECT count(pg_advisory_xact_lock(hashtextextended('events:' || $1 || ':' || k, 0)))
           FROM (SELECT k FROM unnest($2::text[]) AS k ORDER BY k) AS sorted`,
          [accountId, keys],
        );
        for (const row of await q(
          'SELECT * FROM events WHERE account_id = $1 AND idempotency_key = ANY($2::text[])',
          [accountId, keys],
        )) {
          named.set(String(row.idempotency_key), {
            event: toEvent(row),
            deliveries: null,
            index: null,
          });
        }
      }

      const results: ({ named: Named; duplicate: true } | { published: PublishedEvent })[] = [];
      const forgotten: string[] = [];
      const newEvents: NewEvent[] = [];
      const deliveries: {
        id: string;
        webhookId: string;
        event: NewEvent;
        url: string;
        ordered: boolean;
      }[] = [];
      for (const e of request.events) {
        const existing = e.idempotencyKey === null ? undefined : named.get(e.idempotencyKey);
        if (existing) {
          if (existing.event.createdAt > now - request.idempotencyWindowMs) {
            if (!sameEvent(existing.event, e))
              throw new IdempotencyConflictError(e.idempotencyKey!);
            results.push({ named: existing, duplicate: true });
            continue;
          }
          // Older than the window: the key is forgotten and names the new event from now on.
          if (existing.index !== null) {
            newEvents[existing.index] = { ...newEvents[existing.index]!, idempotencyKey: null };
          } else {
            forgotten.push(existing.event.id);
          }
        }
        let count = 0;
        const subject = filterSubject(e);
        for (const endpoint of endpoints) {
          if (!receives(endpoint, e.type, subject)) continue;
          deliveries.push({
            id: request.newDeliveryId(),
            webhookId: endpoint.id,
            event: e,
            url: endpoint.url,
            ordered: endpoint.ordered && (e.orderingKey ?? null) !== null,
          });
          count++;
        }
        const event: StoredEvent = {
          id: e.id,
          accountId,
          type: e.type,
          timestamp: e.timestamp,
          payload: e.payload,
          orderingKey: e.orderingKey ?? null,
          test: false,
          traceparent: e.traceparent ?? null,
          createdAt: now,
        };
        if (e.idempotencyKey !== null) {
          named.set(e.idempotencyKey, { event, deliveries: count, index: newEvents.length });
        }
        newEvents.push(e);
        results.push({ published: { event, deliveries: count, duplicate: false } });
      }

      // A repeat of an event stored before this call reports the deliveries made back then.
      const uncounted = [
        ...new Set(
          results.flatMap((r) => ('named' in r && r.named.deliveries === null ? [r.named] : [])),
        ),
      ];
      if (uncounted.length > 0) {
        const counts = new Map(
          (
            await q(
              `SELECT event_id, count(*) AS n FROM deliveries WHERE event_id = ANY($1::text[])
               GROUP BY event_id`,
              [uncounted.map((n) => n.event.id)],
            )
          ).map((r) => [String(r.event_id), num(r.n)]),
        );
        for (const n of uncounted) n.deliveries = counts.get(n.event.id) ?? 0;
      }
      if (forgotten.length > 0) {
        await q('UPDATE events SET idempotency_key = NULL WHERE id = ANY($1::text[])', [forgotten]);
      }
      // Without deliveries, the events alone; with them, in the deliveries' statement.
      // The last statement of the transaction goes with its COMMIT (`end`).
      if (newEvents.length > 0 && deliveries.length === 0) {
        await end(insertEvents(3), [accountId, now, ...eventColumns(newEvents)]);
      }
      if (deliveries.length > 0) {
        // In a key's order (ordering.ts), only the head is due; the others wait in the queue,
        // off its due index.
        const ordered = deliveries.filter((d) => d.ordered);
        const placed = new Map<string, { state: string; seq: number }>();
        (
          await placeBatch(
            q,
            ordered.map((d) => ({ webhookId: d.webhookId, orderingKey: d.event.orderingKey! })),
          )
        ).forEach((p, i) => placed.set(ordered[i]!.id, p));
        // The hand-off (PublishRequest.handoff): what this process's worker leases of them now,
        // planned before they are written, so that each is written once, leased or due.
        const fresh: FreshDelivery[] = [];
        if (handoff) {
          // Each event's body is measured once, however many endpoints it goes to.
          const bytesOf = new Map<string, number>();
          for (const d of deliveries) {
            if (placed.get(d.id)?.state === 'waiting') continue;
            let payloadBytes = bytesOf.get(d.event.id);
            if (payloadBytes === undefined) {
              payloadBytes = Buffer.byteLength(d.event.payload);
              bytesOf.set(d.event.id, payloadBytes);
            }
            fresh.push({
              id: d.id,
              webhookId: d.webhookId,
              eventId: d.event.id,
              type: d.event.type,
              payload: d.event.payload,
              payloadBytes,
              traceparent: d.event.traceparent ?? null,
              orderingKey: d.event.orderingKey ?? null,
              ordered: d.ordered,
            });
          }
          plan = await this.claims.planHandoff(q, handoff.request, accountId, now, fresh, ahead);
        }
        const { due, leaseIds } = plan;
        // The other processes are told ($27) unless every delivery written, and every older one
        // taken in hand, is leased to this process's worker: they would find nothing to do, and a
        // NOTIFY is not free. Its transaction holds the server's one lock on the notification
        // queue through its commit's WAL flush, so that notifying commits go one at a time, and
        // every listening connection (ours too, which drops it) is woken to read it. At 200
        // events/s on one endpoint (bench, PostgreSQL's latency row, five runs each in turn),
        // notifying at every publish: PostgreSQL 46-59 % of a core, p99 32-67 ms (medians 52 %,
        // 40 ms); at only these: 36-49 %, 25-47 ms (38 %, 31 ms).
        // Streams in other processes poll anyway (http/sse.ts), without the wake-up's head start.
        const notify =
          !handoff ||
          deliveries.some((d) => !leaseIds.has(d.id)) ||
          plan.requeued.some((r) => !r.leased);
        // One statement: the events, the endpoints' token buckets (the hand-off's), the
        // deliveries, their queue rows (due now, leased, deferred or waiting in a key's order),
        // and the NOTIFY, when there is one, that wakes the workers of other processes at the
        // commit.
        await end(
          `WITH stored AS (${insertEvents(20)}), buckets AS (
             UPDATE webhooks w SET rate_tokens = b.tokens, rate_refilled_at = $2
             FROM unnest($12::text[], $13::float8[]) AS b(id, tokens)
             WHERE w.id = b.id
           ), made AS (
             INSERT INTO deliveries (id, account_id, webhook_id, event_id, event_type, url, status,
               next_attempt_at, created_at, updated_at, ordering_key)
             SELECT u.id, $1, u.webhook_id, u.event_id, u.event_type, u.url, 'pending',
               CASE WHEN u.order_state = 'waiting' THEN NULL ELSE $2::bigint END, $2, $2,
               u.ordering_key
             FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                 $9::text[])
               AS u(id, webhook_id, event_id, event_type, url, ordering_key, order_state)
           ), queued AS (
             -- a key's order is kept here (migration 13): the key and seq of ordered ones only
             INSERT INTO delivery_queue (delivery_id, account_id, webhook_id, due_at, lease_token,
               ordering_key, order_state, order_seq)
             SELECT u.id, $1, u.webhook_id, u.due_at, u.lease_token,
               CASE WHEN u.order_state IS NOT NULL THEN u.ordering_key END, u.order_state,
               u.order_seq
             FROM unnest($3::text[], $4::text[], $11::bigint[], $14::text[], $8::text[],
                 $9::text[], $10::bigint[])
               AS u(id, webhook_id, due_at, lease_token, ordering_key, order_state, order_seq)
           ), requeued AS (
             UPDATE delivery_queue x SET due_at = o.due_at,
               lease_token = coalesce(o.lease_token, x.lease_token)
             FROM unnest($17::text[], $18::bigint[], $19::text[]) AS o(id, due_at, lease_token)
             WHERE x.delivery_id = o.id AND x.delivery_id = ANY($17::text[])
           )
           SELECT CASE WHEN $27::boolean THEN pg_notify($15, $16) END`,
          [
            accountId,
            now,
            deliveries.map((d) => d.id),
            deliveries.map((d) => d.webhookId),
            deliveries.map((d) => d.event.id),
            deliveries.map((d) => d.event.type),
            deliveries.map((d) => d.url),
            deliveries.map((d) => d.event.orderingKey ?? null),
            deliveries.map((d) => placed.get(d.id)?.state ?? null),
            deliveries.map((d) => placed.get(d.id)?.seq ?? null),
            deliveries.map((d) =>
              due.has(d.id) ? due.get(d.id)! : placed.get(d.id)?.state === 'waiting' ? null : now,
            ),
            plan.buckets.map((b) => b.webhookId),
            plan.buckets.map((b) => b.tokens),
            deliveries.map((d) => (leaseIds.has(d.id) ? handoff!.request.leaseToken : null)),
            ...this.h.wakeNotice,
            plan.requeued.map((r) => r.id),
            plan.requeued.map((r) => r.dueAt),
            plan.requeued.map((r) => (r.leased ? handoff!.request.leaseToken : null)),
            ...eventColumns(newEvents),
            notify,
          ],
        );
        leftDue = !handoff || fresh.some((d) => !leaseIds.has(d.id));
      }
      return results.map((r): PublishedEvent =>
        'published' in r
          ? r.published
          : { event: r.named.event, deliveries: r.named.deliveries ?? 0, duplicate: true },
      );
    }, 'by-key').finally(() => release?.());
    if (handoff) handoff.take(plan.leased);
    // This process's worker is woken unless the hand-off took every fresh delivery; the
    // streams are told of any new delivery.
    if (leftDue) this.emitWake();
    else if (published.some((p) => !p.duplicate && p.deliveries > 0)) this.emitWake(false);
    return published;
  }

  async getEvent(accountId: string, id: string): Promise<StoredEvent | null> {
    const [row] = await this.query('SELECT * FROM events WHERE account_id = $1 AND id = $2', [
      accountId,
      id,
    ]);
    return row ? toEvent(row) : null;
  }

  async listEvents(accountId: string, filter: EventFilter, page: Page): Promise<StoredEvent[]> {
    const { where, args } = pageWhere(accountId, eventConditions(filter), page, (n) => `$${n}`);
    const rows = await this.query(
      `SELECT * FROM events WHERE ${where} ORDER BY id DESC LIMIT $${args.length + 1}`,
      [...args, page.limit],
    );
    return rows.map(toEvent);
  }
}
