// The SQLite engine's events: publish (store each event and fan it out to the subscribed
// endpoints, idempotency keys and per-key ordering included) and the event log.
import type {
  ClaimedDelivery,
  EventFilter,
  Page,
  PublishRequest,
  PublishedEvent,
  StoredEvent,
} from '../types.js';
import { filterSubject, type FilterCache } from '../../core/filter.js';
import { num, toEvent, type Row } from '../rows.js';
import { IdempotencyConflictError, sameEvent } from '../idempotency.js';
import { fanOutEndpoint, receives } from '../fan-out.js';
import { eventConditions, pageWhere } from '../list-filters.js';
import type { SqliteClaim } from './claim.js';
import { SqlitePart, type SqliteHandle } from './connection.js';
import { placeOne } from './ordering.js';

export class SqliteEvents extends SqlitePart {
  constructor(
    h: SqliteHandle,
    private readonly filters: FilterCache,
    private readonly claims: SqliteClaim,
  ) {
    super(h);
  }

  async publish(request: PublishRequest): Promise<PublishedEvent[]> {
    const { accountId, now, handoff } = request;
    // The deliveries made due now, by endpoint: the hand-off's claim reads only these
    // endpoints; any of them not leased wakes the workers.
    const fresh = new Map<string, number>();
    const freshIds = new Set<string>();
    let leased: ClaimedDelivery[] = [];
    const published = await this.tx(() => {
      const endpoints = (
        this.stmt(
          `SELECT id, url, events, filter, updated_at, ordering FROM webhooks
           WHERE account_id = ? AND status = 'enabled'
             AND EXISTS (SELECT 1 FROM accounts WHERE id = ? AND status = 'active')`,
        ).all(accountId, accountId) as Row[]
      ).map((r) => fanOutEndpoint(this.filters, r));
      const findKey = this.stmt(
        'SELECT * FROM events WHERE account_id = ? AND idempotency_key = ?',
      );
      const insertEvent = this.stmt(
        `INSERT INTO events (id, account_id, type, timestamp, payload, idempotency_key, created_at,
           ordering_key, traceparent)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const insertDelivery = this.stmt(
        `INSERT INTO deliveries (id, account_id, webhook_id, event_id, event_type, url, status,
           next_attempt_at, due_at, created_at, updated_at, ordering_key, order_state, order_seq)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?)`,
      );
      // Deliveries outside a key's order, by endpoint, inserted after the loop endpoint by
      // endpoint: the table keeps rows in insertion order, so each endpoint's deliveries of the
      // batch share pages, and a completion or a lease, which comes per endpoint in due order,
      // rewrites a few pages of it rather than a page per delivery (ten endpoints, interleaved
      // by event: 36 pages of the table written per completion of 40). Ids are drawn in event
      // order as before. Deliveries in a key's order are inserted at once: placing the next
      // one reads them.
      // Each row is bound spread out, as arguments: better-sqlite3 reads an array's values one by
      // one through V8's API (callgrind, storage loop of 5,000 deliveries: 2,730-2,737 M
      // instructions against 2,779-2,783 M with the arrays).
      const unordered = new Map<string, unknown[][]>();
      const insertUnordered = () => {
        for (const rows of unordered.values()) for (const row of rows) insertDelivery.run(...row);
        unordered.clear();
      };
      const out: PublishedEvent[] = [];
      for (const e of request.events) {
        if (e.idempotencyKey !== null) {
          const existing = findKey.get(accountId, e.idempotencyKey) as Row | undefined;
          if (existing) {
            if (num(existing.created_at) > now - request.idempotencyWindowMs) {
              if (!sameEvent(toEvent(existing), e)) {
                throw new IdempotencyConflictError(e.idempotencyKey);
              }
              insertUnordered(); // the key's first event may be in this batch
              const n = num(
                (
                  this.stmt('SELECT count(*) AS n FROM deliveries WHERE event_id = ?').get(
                    existing.id,
                  ) as Row
                ).n,
              );
              out.push({ event: toEvent(existing), deliveries: n, duplicate: true });
              continue;
            }
            this.stmt('UPDATE events SET idempotency_key = NULL WHERE id = ?').run(existing.id);
          }
        }
        const orderingKey = e.orderingKey ?? null;
        insertEvent.run(
          e.id,
          accountId,
          e.type,
          e.timestamp,
          e.payload,
          e.idempotencyKey,
          now,
          orderingKey,
          e.traceparent ?? null,
        );
        let deliveries = 0;
        const subject = filterSubject(e);
        for (const endpoint of endpoints) {
          if (!receives(endpoint, e.type, subject)) continue;
          // In a key's order, only the head is due; the others wait off the due index.
          const place =
            endpoint.ordered && orderingKey !== null
              ? placeOne((sql) => this.stmt(sql), endpoint.id, orderingKey)
              : null;
          const due = place?.state === 'waiting' ? null : now;
          const deliveryId = request.newDeliveryId();
          if (due !== null) {
            fresh.set(endpoint.id, (fresh.get(endpoint.id) ?? 0) + 1);
            freshIds.add(deliveryId);
          }
          const row = [
            deliveryId,
            accountId,
            endpoint.id,
            e.id,
            e.type,
            endpoint.url,
            due,
            due,
            now,
            now,
            orderingKey,
            place?.state ?? null,
            place?.seq ?? null,
          ];
          if (place) insertDelivery.run(...row);
          else {
            const rows = unordered.get(endpoint.id);
            if (rows) rows.push(row);
            else unordered.set(endpoint.id, [row]);
          }
          deliveries++;
        }
        out.push({
          event: {
            id: e.id,
            accountId,
            type: e.type,
            timestamp: e.timestamp,
            payload: e.payload,
            orderingKey,
            test: false,
            traceparent: e.traceparent ?? null,
            createdAt: now,
          },
          deliveries,
          duplicate: false,
        });
      }
      insertUnordered();
      // Leased in this transaction, so committed with the deliveries: a crash before the send
      // leaves them leased, and due again once the lease ends, as any claim's. An endpoint
      // with older deliveries still due is left to the claims: its backlog goes first, and the
      // worker, at its cap or on its way, has it in hand (one seek each).
      if (handoff) {
        const older = this.stmt(
          `SELECT 1 FROM deliveries INDEXED BY deliveries_due_by_endpoint
           WHERE account_id = ? AND webhook_id = ? AND due_at < ? LIMIT 1`,
        );
        for (const webhookId of fresh.keys()) {
          if (older.get(accountId, webhookId, now)) fresh.delete(webhookId);
        }
        if (fresh.size > 0) leased = this.claims.claimWithin(handoff.request, fresh, false);
      }
      return out;
    });
    if (handoff) handoff.take(leased);
    // The workers are woken unless the hand-off took every fresh delivery; the streams are
    // told of any new event.
    for (const claim of leased) freshIds.delete(claim.deliveryId);
    if (freshIds.size > 0) this.notify();
    else if (published.some((p) => !p.duplicate)) this.notify(false);
    return published;
  }

  async getEvent(accountId: string, id: string): Promise<StoredEvent | null> {
    const row = await this.run(
      () =>
        this.stmt('SELECT * FROM events WHERE account_id = ? AND id = ?').get(accountId, id) as Row,
    );
    return row ? toEvent(row) : null;
  }

  async listEvents(accountId: string, filter: EventFilter, page: Page): Promise<StoredEvent[]> {
    const { where, args } = pageWhere(accountId, eventConditions(filter), page, () => '?');
    const rows = await this.run(
      () =>
        this.stmt(`SELECT * FROM events WHERE ${where} ORDER BY id DESC LIMIT ?`).all(
          ...args,
          page.limit,
        ) as Row[],
    );
    return rows.map(toEvent);
  }
}
