// The SQLite engine's claim: the worker's side that leases due deliveries (SqliteClaim), and
// the claim rules that live beside claim-plan.ts: taking turns across the accounts that have
// deliveries due and across each account's endpoints, skipping those at their in-flight cap,
// and keeping each endpoint's adaptive concurrency (throttle.ts) on its row. Called inside the
// engine's claim and completion transactions.
import type { ClaimRequest, ClaimedDelivery, Webhook } from '../types.js';
import { num, numOrNull, strOrNull, type Row } from '../rows.js';
import {
  CANDIDATE_COLUMNS,
  endpointRoom,
  leasableOfTurn,
  planClaim,
  toCandidate,
  toClaimed,
  toEndpoint,
  TurnTally,
} from '../claim-plan.js';
import type { EndpointBucket } from '../claim-plan.js';
import { ROTATION, takeInTurn, type Rotation } from '../fair-share.js';
import {
  applySignals,
  DEFAULT_THROTTLE,
  effectiveCap,
  throttleOf,
  type ThrottleSettings,
  type ThrottleSignal,
} from '../throttle.js';
import { SqlitePart, type Stmt } from './connection.js';

/**
 * The walk over what is scheduled, by the index by endpoint: the next account after one (in
 * id order) with any delivery due now or later, and the next endpoint of an account after one
 * with any. One index seek each; null at the end.
 */
function scheduled(stmt: Stmt) {
  const nextAccount = stmt(
    `SELECT min(account_id) AS id FROM deliveries INDEXED BY deliveries_due_by_endpoint
     WHERE account_id > ? AND due_at IS NOT NULL`,
  );
  const nextEndpoint = stmt(
    `SELECT min(webhook_id) AS id FROM deliveries INDEXED BY deliveries_due_by_endpoint
     WHERE account_id = ? AND webhook_id > ? AND due_at IS NOT NULL`,
  );
  return {
    account: (after: string) => (nextAccount.get(after) as Row).id as string | null,
    endpoint: (accountId: string, after: string) =>
      (nextEndpoint.get(accountId, after) as Row).id as string | null,
  };
}

/**
 * A claim's bound LIMIT, written `+?`. SQLite (3.53, as better-sqlite3 12 builds it) plans with
 * the value bound to a bare `LIMIT ?`, and so prepares the statement again whenever it is
 * bound anew: every call. The claim's read of an endpoint cost 17 µs on an empty table with
 * `LIMIT ?`, 1 µs with `LIMIT +?`; in the service the re-preparing was 4 % of the main thread
 * (perf). Its plan is fixed by INDEXED BY, so the value has nothing to decide.
 */
const LIMIT = '+?';

/**
 * A due delivery's columns for the plan (CANDIDATE_COLUMNS) and its event's for the send, read
 * together: the body only up to the claim's inline size (the `?`), as `payload`. Only these rows
 * are ever leased (an orphan, read without them, is parked).
 */
const DUE_WITH_EVENT = `${CANDIDATE_COLUMNS.split(', ')
  .map((c) => `d.${c}`)
  .join(', ')}, e.type AS event_type, octet_length(e.payload) AS payload_bytes,
  CASE WHEN octet_length(e.payload) <= ? THEN e.payload END AS payload, e.traceparent`;

/**
 * Reads an endpoint's deliveries due by `now`, in due order: `n` of them after the first
 * `offset`, with their events (DUE_WITH_EVENT, bodies up to `inline` bytes).
 */
type EndpointRead = (
  accountId: string,
  webhookId: string,
  now: number,
  n: number,
  offset?: number,
) => Row[];

/**
 * An EndpointRead for one claim. One statement reads a due delivery with its event, where a
 * read of each leased delivery's event cost a second: 9 µs a delivery in the storage loop.
 * A claim reads an endpoint more than once (its freed slots, then a first pass of the walk,
 * then a second): a read that goes on where this reader's last read of the endpoint stopped
 * starts after that row's key (due time, rowid) in the index, where OFFSET stepped through the
 * rows read already, each with its event, to throw them away.
 */
function endpointDue(stmt: Stmt, inline: number): EndpointRead {
  const from = `FROM deliveries d INDEXED BY deliveries_due_by_endpoint
     LEFT JOIN events e ON e.id = d.event_id
     WHERE d.account_id = ? AND d.webhook_id = ? AND d.due_at <= ?`;
  const order = `ORDER BY d.due_at, d.rowid LIMIT ${LIMIT}`;
  const columns = `${DUE_WITH_EVENT}, d.due_at AS due_key, d.rowid AS row_key`;
  const first = stmt(`SELECT ${columns} ${from} ${order} OFFSET ?`);
  const after = stmt(
    `SELECT ${columns} ${from} AND d.due_at >= ? AND (d.due_at > ? OR d.rowid > ?) ${order}`,
  );
  /** Per endpoint: how many rows this reader has read of it, and the last one's key. */
  const read = new Map<string, { count: number; dueAt: number; rowKey: number }>();
  return (accountId, webhookId, now, n, offset = 0) => {
    const last = read.get(webhookId);
    const rows = (
      last && last.count === offset
        ? after.all(inline, accountId, webhookId, now, last.dueAt, last.dueAt, last.rowKey, n)
        : first.all(inline, accountId, webhookId, now, n, offset)
    ) as Row[];
    const end = rows.at(-1);
    if (end) {
      read.set(webhookId, {
        count: offset + rows.length,
        dueAt: num(end.due_key),
        rowKey: num(end.row_key),
      });
    }
    return rows;
  };
}

/**
 * Counts an endpoint's deliveries due by `now`, up to `n` after the first `offset`: the
 * index by endpoint alone, no row and no event read.
 */
type EndpointCount = (
  accountId: string,
  webhookId: string,
  now: number,
  n: number,
  offset: number,
) => number;

function endpointCount(stmt: Stmt): EndpointCount {
  const count = stmt(
    `SELECT count(*) AS n FROM (SELECT 1 FROM deliveries INDEXED BY deliveries_due_by_endpoint
       WHERE account_id = ? AND webhook_id = ? AND due_at <= ? LIMIT ${LIMIT} OFFSET +?)`,
  );
  return (accountId, webhookId, now, n, offset) =>
    num((count.get(accountId, webhookId, now, n, offset) as Row).n);
}

/**
 * The claim's turn across the accounts and their endpoints (fair-share.ts takeInTurn), from the
 * index by endpoint: one seek per step of the walk, and of each endpoint only as many as it has
 * room for, counted (`countOf`) into `tally`, not read: the claim reads what the plan can lease
 * of them afterwards (leasableOfTurn), as PostgreSQL's does. How many it took of the endpoints;
 * the deliveries of an account whose endpoint is gone are read here (to be parked).
 */
export function dueInTurn(
  stmt: Stmt,
  rotation: Rotation,
  now: number,
  window: number,
  roomOf: (webhookId: string) => number,
  already: Map<string, number>,
  countOf: EndpointCount,
  tally: TurnTally,
): { took: number; orphans: Row[] } {
  const walk = scheduled(stmt);
  // Deliveries whose endpoint was deleted: read to be parked.
  const orphanRead = stmt(
    `SELECT ${CANDIDATE_COLUMNS} FROM deliveries INDEXED BY deliveries_due_by_endpoint
     WHERE account_id = ? AND webhook_id IS NULL AND due_at <= ? LIMIT ${LIMIT}`,
  );
  const orphans: Row[] = [];
  let took = 0;
  takeInTurn(
    {
      nextAccount: walk.account,
      nextEndpoint: walk.endpoint,
      takeOrphans: (accountId, n) => {
        const got = orphanRead.all(accountId, now, n) as Row[];
        orphans.push(...got);
        return got.length;
      },
      take: (accountId, webhookId, n, offset) => {
        const got = tally.add(accountId, webhookId, countOf(accountId, webhookId, now, n, offset));
        took += got;
        return got;
      },
    },
    rotation,
    window,
    roomOf,
    already,
  );
  return { took, orphans };
}

/** Whether an endpoint has a delivery due by `now`: one seek of the index by endpoint. */
export function dueOn(
  stmt: Stmt,
): (e: { accountId: string; webhookId: string }, now: number) => boolean {
  const due = stmt(
    `SELECT 1 FROM deliveries INDEXED BY deliveries_due_by_endpoint
     WHERE account_id = ? AND webhook_id = ? AND due_at <= ? LIMIT 1`,
  );
  return (e, now) => due.get(e.accountId, e.webhookId, now) !== undefined;
}

/** Whether any of these endpoints has a delivery due now (completion wakes the worker then). */
export function anyDue(
  stmt: Stmt,
  endpoints: Iterable<{ accountId: string; webhookId: string }>,
  now: number,
): boolean {
  const due = dueOn(stmt);
  for (const e of endpoints) if (due(e, now)) return true;
  return false;
}

export interface QueueWalk {
  /** Due now, their endpoint has room: waiting for a worker. */
  due: number;
  oldestDueAt: number | null;
  /** Due now, their endpoint is at its in-flight cap: waiting for its attempts to finish. */
  held: number;
  oldestHeldAt: number | null;
  /** Due later: a retry, a rate limit's turn, or a lease's end (the leased included). */
  later: number;
  /** When the longest rate-deferred delivery fell due (due_at moved past a time that came). */
  deferredSince: number | null;
}

/**
 * The scheduled deliveries, read endpoint by endpoint from the index by endpoint: those due
 * now split by whether their endpoint is at its in-flight cap, and those due later. One seek
 * and two counts per endpoint with anything scheduled: a scrape's cost, not a claim's.
 */
export function queueWalk(
  stmt: Stmt,
  now: number,
  atCap: (webhookId: string) => boolean,
): QueueWalk {
  const walk = scheduled(stmt);
  const dueOf = stmt(
    `SELECT count(*) AS n, min(due_at) AS t FROM deliveries INDEXED BY deliveries_due_by_endpoint
     WHERE account_id = ? AND webhook_id IS ? AND due_at <= ?`,
  );
  const laterOf = stmt(
    `SELECT count(*) AS n, min(CASE WHEN lease_token IS NULL
         AND coalesce(next_attempt_at, updated_at) <= :now
         THEN coalesce(next_attempt_at, updated_at) END) AS deferred
     FROM deliveries INDEXED BY deliveries_due_by_endpoint
     WHERE account_id = :account AND webhook_id IS :webhook AND due_at > :now`,
  );
  const out: QueueWalk = {
    due: 0,
    oldestDueAt: null,
    held: 0,
    oldestHeldAt: null,
    later: 0,
    deferredSince: null,
  };
  const least = (a: number | null, b: unknown) =>
    b === null || b === undefined ? a : a === null ? Number(b) : Math.min(a, Number(b));
  const count = (account: string, webhook: string | null, held: boolean) => {
    const due = dueOf.get(account, webhook, now) as Row;
    if (Number(due.n) > 0) {
      if (held) {
        out.held += Number(due.n);
        out.oldestHeldAt = least(out.oldestHeldAt, due.t);
      } else {
        out.due += Number(due.n);
        out.oldestDueAt = least(out.oldestDueAt, due.t);
      }
    }
    const later = laterOf.get({ account, webhook, now }) as Row;
    out.later += Number(later.n);
    out.deferredSince = least(out.deferredSince, later.deferred);
  };
  for (let account = ''; ;) {
    const id = walk.account(account);
    if (id === null) break;
    account = id;
    count(id, null, false);
    for (let endpoint = ''; ;) {
      const w = walk.endpoint(id, endpoint);
      if (w === null) break;
      endpoint = w;
      count(id, w, atCap(w));
    }
  }
  return out;
}

/**
 * When a claim could next lease something: the earliest due time of an endpoint with room, or
 * of an endpoint at its cap, the earliest end of its leases (a lease that runs out makes its
 * delivery due, and frees a slot). Finished attempts wake the worker at once (anyDue), so a
 * capped backlog is not polled for. One walk over the endpoints with anything scheduled, at
 * most `maxSeeks` index seeks; cut short, the earliest of those it saw (the worker's poll
 * interval bounds the wait for the rest); null when there is nothing.
 */
export function nextDue(
  stmt: Stmt,
  atCap: (webhookId: string) => boolean,
  maxSeeks: number,
): number | null {
  const walk = scheduled(stmt);
  const earliest = stmt(
    `SELECT min(due_at) AS t FROM deliveries INDEXED BY deliveries_due_by_endpoint
     WHERE account_id = ? AND webhook_id IS ? AND due_at IS NOT NULL`,
  );
  const leaseEnds = stmt(
    `SELECT min(due_at) AS t FROM deliveries INDEXED BY deliveries_leased
     WHERE webhook_id = ? AND lease_token IS NOT NULL`,
  );
  let best: number | null = null;
  const take = (t: unknown) => {
    if (t !== null && t !== undefined) best = best === null ? Number(t) : Math.min(best, Number(t));
  };
  let seeks = 0;
  accounts: for (let account = ''; ;) {
    if (++seeks > maxSeeks) break;
    const id = walk.account(account);
    if (id === null) break;
    account = id;
    take((earliest.get(id, null) as Row).t);
    for (let endpoint = ''; ;) {
      if (++seeks > maxSeeks) break accounts;
      const w = walk.endpoint(id, endpoint);
      if (w === null) break;
      endpoint = w;
      take((atCap(w) ? (leaseEnds.get(w) as Row) : (earliest.get(id, w) as Row)).t);
    }
  }
  return best;
}

/**
 * Applies a completion's outcomes to each endpoint's adaptive limit; writes only changes.
 * `rowOf` gives the endpoint's row as the caller's transaction read it (with its throttle
 * columns), undefined when it is gone.
 */
export function recordThrottle(
  stmt: Stmt,
  rowOf: (webhookId: string) => Row | undefined,
  signals: ReadonlyMap<string, ThrottleSignal[]>,
  settings: ThrottleSettings,
  now: number,
): void {
  const write = stmt(
    `UPDATE webhooks SET concurrency_limit = ?, failure_streak = ?, throttle_reason = ?,
       throttled_since = ? WHERE id = ?`,
  );
  for (const [webhookId, list] of signals) {
    const row = rowOf(webhookId);
    if (!row) continue;
    const before = throttleOf(row);
    const after = applySignals(before, list, settings, now);
    if (after !== before)
      write.run(after.limit, after.streak, after.reason, after.since, webhookId);
  }
}

/** Index seeks nextDueAt may spend; past them it answers with the earliest it saw. */
const NEXT_DUE_SEEKS = 4096;

export class SqliteClaim extends SqlitePart {
  /** Where the claims' turns across accounts stand (fair-share.ts). */
  private readonly rotation: Rotation = { cursor: '' };
  /** The per-endpoint cap the last claim used: nextDueAt does not wake for capped endpoints. */
  private claimCap: number = DEFAULT_THROTTLE.maxConcurrency;

  async claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    return this.tx(() => this.claimWithin(request));
  }

  /**
   * The claim, inside a transaction the caller opened. `freed`: endpoints whose attempts the
   * same transaction just recorded, with how many: their due deliveries are read first, so a
   * busy endpoint's backlog goes out as fast as its attempts finish. `walk: false` reads only
   * those (a publish's hand-off: the endpoints it has just given deliveries).
   */
  claimWithin(request: ClaimRequest, freed?: Map<string, number>, walk = true): ClaimedDelivery[] {
    const { now } = request;
    this.claimCap = request.maxInFlightPerEndpoint;
    // Leased rows per endpoint, counted from the covering index of leased rows, only for
    // the endpoints this claim is about: a count over every lease costs 0.1 ms per claim
    // at 512 in flight; this costs a few µs per endpoint.
    const countLeased = this.stmt(
      `SELECT count(*) AS n FROM deliveries INDEXED BY deliveries_leased
         WHERE webhook_id = ? AND lease_token IS NOT NULL AND due_at > ?`,
    );
    const readWebhook = this.stmt('SELECT * FROM webhooks WHERE id = ?');
    const endpoints = new Map<string, EndpointBucket & { webhook: Webhook }>();
    const gone = new Set<string>();
    const endpointOf = (webhookId: string) => {
      const known = endpoints.get(webhookId);
      if (known || gone.has(webhookId)) return known;
      const row = readWebhook.get(webhookId) as Row | undefined;
      if (!row) {
        gone.add(webhookId);
        return undefined;
      }
      const endpoint = toEndpoint(row, num((countLeased.get(webhookId, now) as Row).n), request);
      endpoints.set(webhookId, endpoint);
      return endpoint;
    };
    // An endpoint's room: what its cap leaves beside its attempts in flight. A disabled or
    // deleted endpoint's deliveries are read a few at a time, to be parked.
    const roomOf = (webhookId: string | null): number => {
      const endpoint = webhookId === null ? undefined : endpointOf(webhookId);
      if (!endpoint || !endpoint.enabled) return ROTATION.minPerAccount;
      return endpointRoom(endpoint, request.maxInFlightPerEndpoint);
    };
    // The freed endpoints first, then the accounts and their endpoints in turn (dueInTurn),
    // up to twice the claim size: the plan leases in turn across them (fair-share.ts).
    // Measured end to end on this quiet 2-core machine, SQLite, ten endpoints at their cap,
    // burst, builds in turn: 4,016-6,408 deliveries/s when the claim held each saturated
    // endpoint's backlog off an index by account (a write per delivery, and a read of it
    // back), 4,848-8,720 reading by endpoint, 5,680-6,851 before fair share.
    let rows: Row[] = [];
    const already = new Map<string, number>();
    const window = request.limit * 2;
    const inline = request.inlinePayloadBytes ?? Number.MAX_SAFE_INTEGER;
    // One reader for the freed endpoints and the walk: the walk goes on where they stopped.
    const read = endpointDue(this.stmt, inline);
    // What the freed reads and then the turn took of each endpoint, in the order first taken.
    const tally = new TurnTally();
    for (const [webhookId, count] of freed ?? []) {
      const endpoint = endpointOf(webhookId);
      const n = Math.min(count, roomOf(webhookId), request.limit - rows.length);
      if (!endpoint || n <= 0) continue;
      const got = read(endpoint.webhook.accountId, webhookId, now, n);
      already.set(webhookId, got.length);
      tally.add(endpoint.webhook.accountId, webhookId, got.length);
      rows.push(...got);
    }
    // The walk takes no endpoint past the claim's limit, counting what the freed reads took,
    // and counts what it takes; then the claim reads only what the plan can lease of the
    // freed endpoints' and the turn's (leasableOfTurn: the limit, the worker's room for each
    // origin, in turn). Read in the turn, the rows past the limit or an origin's room were
    // read only to be left due: SQLite, ten endpoints of one origin, burst bench, 88,260 rows
    // read by the walks and 59,226 by the freed endpoints' reads for 60,000 leased; counted
    // and cut, 61,871 in all.
    const readable = (webhookId: string) => Math.min(roomOf(webhookId), request.limit);
    if (walk && rows.length < window) {
      const turn = dueInTurn(
        this.stmt,
        this.rotation,
        now,
        window - rows.length,
        readable,
        already,
        endpointCount(this.stmt),
        tally,
      );
      // A turn that took nothing leaves the freed endpoints' rows as read: the plan leases
      // what it can of them, and there is nothing more to read (a busy endpoint's refill).
      if (turn.took > 0) {
        const { taken } = leasableOfTurn(tally.taken, endpoints, request);
        // What the cut leaves of each endpoint: the freed reads' rows first (in due order, so
        // the ones cut are the latest), then the rest read on from where they stopped.
        const keep = new Map(taken.map((t) => [t.webhookId, t.n]));
        const kept: Row[] = [];
        const readSoFar = new Map<string, number>();
        for (const r of rows) {
          const id = String(r.webhook_id);
          const n = (readSoFar.get(id) ?? 0) + 1;
          readSoFar.set(id, n);
          if (n <= (keep.get(id) ?? 0)) kept.push(r);
        }
        for (const t of taken) {
          const first = readSoFar.get(t.webhookId ?? '') ?? 0;
          if (t.webhookId === null || t.n <= first) continue;
          kept.push(...read(t.accountId, t.webhookId, now, t.n - first, first));
        }
        rows = kept;
      }
      rows.push(...turn.orphans);
    }
    const candidates = rows.map(toCandidate);
    if (candidates.length === 0) return [];
    const rowOf = new Map(rows.map((r) => [String(r.id), r]));

    // Body sizes only for a claim with a byte budget: octet_length reads the record header,
    // not the body (2,000 bodies of 245 KiB: 2.5 ms, against 1.5 s for length()).
    let sizes: Map<string, number> | undefined;
    if (request.maxPayloadBytes !== undefined) {
      const rows = this.stmt(
        `SELECT id, octet_length(payload) AS n FROM events
         WHERE id IN (SELECT value FROM json_each(?))`,
      ).all(JSON.stringify([...new Set(candidates.map((c) => c.eventId))])) as Row[];
      sizes = new Map(rows.map((r) => [String(r.id), num(r.n)]));
    }
    const plan = planClaim(candidates, endpoints, request, sizes);

    // Rows over an endpoint's cap (plan.hold) stay due: the walk skips an endpoint at its cap
    // with one seek, so they cost nothing until it has room. So do those the claim could
    // lease but took no more of.
    const park = this.stmt('UPDATE deliveries SET due_at = NULL, held = 0 WHERE id = ?');
    for (const id of plan.park) park.run(id);
    const defer = this.stmt('UPDATE deliveries SET due_at = ?, held = 0 WHERE id = ?');
    for (const d of plan.defer) defer.run(d.dueAt, d.deliveryId);
    const bucket = this.stmt(
      'UPDATE webhooks SET rate_tokens = ?, rate_refilled_at = ? WHERE id = ?',
    );
    for (const b of plan.buckets) bucket.run(b.tokens, now, b.webhookId);
    // By rowid, which the read returned: one seek of the table, where the id costs a seek of
    // its index first.
    const lease = this.stmt(
      'UPDATE deliveries SET due_at = ?, lease_token = ?, held = 0 WHERE rowid = ?',
    );
    const claimed: ClaimedDelivery[] = [];
    for (const c of plan.lease) {
      const event = rowOf.get(c.deliveryId)!;
      const rowKey = num(event.row_key);
      lease.run(now + request.leaseMs, request.leaseToken, rowKey);
      const endpoint = endpoints.get(c.webhookId!)!;
      if (event.event_type === null) {
        throw new Error(`the event ${c.eventId} of delivery ${c.deliveryId} is not stored`);
      }
      const webhook = endpoint.webhook;
      claimed.push(
        toClaimed(
          c,
          webhook,
          {
            type: String(event.event_type),
            payload: strOrNull(event.payload),
            payloadBytes: num(event.payload_bytes),
            traceparent: strOrNull(event.traceparent),
          },
          request,
          rowKey,
        ),
      );
    }
    return claimed;
  }

  async readPayloads(eventIds: readonly string[]): Promise<Map<string, string>> {
    return this.run(() => {
      const rows = this.stmt(
        'SELECT id, payload FROM events WHERE id IN (SELECT value FROM json_each(?))',
      ).all(JSON.stringify(eventIds)) as Row[];
      return new Map(rows.map((r) => [String(r.id), String(r.payload)]));
    });
  }

  async nextDueAt(): Promise<number | null> {
    return this.run(() => {
      const webhook = this.stmt('SELECT status, concurrency_limit FROM webhooks WHERE id = ?');
      const leased = this.stmt(
        `SELECT count(*) AS n FROM deliveries INDEXED BY deliveries_leased
         WHERE webhook_id = ? AND lease_token IS NOT NULL`,
      );
      return nextDue(
        this.stmt,
        (webhookId) => {
          const row = webhook.get(webhookId) as Row | undefined;
          if (!row || row.status !== 'enabled') return false;
          const cap = effectiveCap(numOrNull(row.concurrency_limit), this.claimCap);
          return num((leased.get(webhookId) as Row).n) >= cap;
        },
        NEXT_DUE_SEEKS,
      );
    });
  }
}
