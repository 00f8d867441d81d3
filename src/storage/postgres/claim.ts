// The PostgreSQL engine's claim: the worker's side that leases due deliveries (PostgresClaim),
// and the claim rules that live beside claim-plan.ts: taking turns across the accounts that
// have deliveries due, holding a saturated endpoint's due backlog, and keeping each endpoint's
// adaptive concurrency (throttle.ts) on its row, where every worker process reads it. Called
// inside the engine's claim and completion transactions.
import type { ClaimRequest, ClaimedDelivery, Webhook } from '../types.js';
import { planClaim, toCandidate, toClaimed, toEndpoint } from '../claim-plan.js';
import type { EndpointBucket } from '../claim-plan.js';
import { perAccount, ROTATION, type Rotation } from '../fair-share.js';
import { num, numOrNull, strOrNull, type Row } from '../rows.js';
import {
  applySignals,
  effectiveCap,
  throttleOf,
  type ThrottleSettings,
  type ThrottleSignal,
} from '../throttle.js';
import { PostgresPart, type Query } from './connection.js';

/** The next accounts in turn after the cursor, then from the start up to it. */
const ACCOUNTS_AFTER = `
  WITH RECURSIVE a(id) AS (
    SELECT (SELECT min(account_id) FROM deliveries WHERE account_id > $1 AND due_at IS NOT NULL)
    UNION ALL
    SELECT (SELECT min(account_id) FROM deliveries WHERE account_id > a.id AND due_at IS NOT NULL)
    FROM a WHERE a.id IS NOT NULL AND a.id < $3)
  SELECT id FROM (SELECT id FROM a WHERE id IS NOT NULL AND id <= $3 LIMIT $5) AS visited
  WHERE (SELECT min(due_at) FROM deliveries d WHERE d.account_id = visited.id
         AND d.due_at IS NOT NULL) <= $2
  LIMIT $4`;

/**
 * The next accounts in turn, after the rotation's cursor (wrapping around), that have a
 * delivery due now: a skip scan of deliveries_due_by_account, two index probes per account
 * with anything scheduled, at most ROTATION.maxVisits of them per pass.
 */
export async function accountsInTurn(q: Query, rotation: Rotation, now: number) {
  const { accounts, maxVisits } = ROTATION;
  // The top of the text range: ids are ASCII, so every id sorts below it.
  const END = '\u{10FFFF}';
  const found = (await q(ACCOUNTS_AFTER, [rotation.cursor, now, END, accounts, maxVisits])).map(
    (r) => String(r.id),
  );
  if (found.length < accounts && rotation.cursor !== '') {
    for (const r of await q(ACCOUNTS_AFTER, ['', now, rotation.cursor, accounts, maxVisits])) {
      const id = String(r.id);
      if (found.length < accounts && !found.includes(id)) found.push(id);
    }
  }
  if (found.length > 0) rotation.cursor = found[found.length - 1]!;
  return found;
}

/**
 * Each account's first `perAccount` due deliveries in due order, locked: SKIP LOCKED lets
 * concurrent workers take disjoint sets instead of queueing behind the first rows.
 */
export async function dueOf(
  q: Query,
  accounts: readonly string[],
  perAccount: number,
  now: number,
): Promise<Row[]> {
  if (accounts.length === 0) return [];
  return q(
    `SELECT d.* FROM unnest($1::text[]) AS u(account_id)
     CROSS JOIN LATERAL (
       SELECT id, account_id, webhook_id, event_id, ordering_key, attempt_count, auto_attempts,
         manual_requested, order_state
       FROM deliveries
       WHERE account_id = u.account_id AND due_at <= $2
       ORDER BY due_at
       LIMIT $3
       FOR UPDATE SKIP LOCKED) AS d`,
    [accounts, now, perAccount],
  );
}

/**
 * Takes the due, unleased deliveries of saturated endpoints off the due index (held rows come
 * back as the endpoint's attempts finish), up to ROTATION.holdChunk per endpoint per claim.
 * Rows another claim has locked are skipped, never waited for: that claim decides about them.
 * Runs under the endpoints' locks, before the plan's own writes.
 */
export async function holdBacklog(
  q: Query,
  endpoints: readonly { accountId: string; webhookId: string }[],
  now: number,
): Promise<void> {
  if (endpoints.length === 0) return;
  await q(
    `UPDATE deliveries SET due_at = NULL, held = true WHERE id IN (
       SELECT h.id FROM unnest($1::text[], $2::text[]) AS u(account_id, webhook_id)
       CROSS JOIN LATERAL (
         SELECT id FROM deliveries
         WHERE account_id = u.account_id AND due_at <= $3 AND webhook_id = u.webhook_id
           AND lease_token IS NULL
         LIMIT $4
         FOR UPDATE SKIP LOCKED) AS h)`,
    [endpoints.map((e) => e.accountId), endpoints.map((e) => e.webhookId), now, ROTATION.holdChunk],
  );
}

/**
 * Applies a completion's outcomes to each endpoint's adaptive limit and writes the changed
 * ones. `rows` are the endpoints' rows, read under FOR NO KEY UPDATE by the caller.
 */
export async function recordThrottle(
  q: Query,
  rows: readonly Row[],
  signals: ReadonlyMap<string, ThrottleSignal[]>,
  settings: ThrottleSettings,
  now: number,
): Promise<void> {
  const changed: {
    id: string;
    limit: number | null;
    streak: number;
    reason: string | null;
    since: number | null;
  }[] = [];
  for (const row of rows) {
    const list = signals.get(String(row.id));
    if (!list) continue;
    const before = throttleOf(row);
    const after = applySignals(before, list, settings, now);
    if (after !== before) changed.push({ id: String(row.id), ...after });
  }
  if (changed.length === 0) return;
  await q(
    `UPDATE webhooks w SET concurrency_limit = u.concurrency_limit,
       failure_streak = u.failure_streak, throttle_reason = u.throttle_reason,
       throttled_since = u.throttled_since
     FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::bigint[])
       AS u(id, concurrency_limit, failure_streak, throttle_reason, throttled_since)
     WHERE w.id = u.id`,
    [
      changed.map((c) => c.id),
      changed.map((c) => c.limit),
      changed.map((c) => c.streak),
      changed.map((c) => c.reason),
      changed.map((c) => c.since),
    ],
  );
}

export class PostgresClaim extends PostgresPart {
  /** Where this process's claims' turns across accounts stand (fair-share.ts). */
  private readonly rotation: Rotation = { cursor: '' };

  async claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    const { now } = request;
    await this.releaseHeld(request);
    return this.tx(async (q) => {
      // The hot query. It was the global due index in due order, bounded by the claim size
      // (0.24 ms for 200 rows of 10k due over 50 endpoints, EXPLAIN ANALYZE, this machine),
      // but then one account's backlog of 30,000 put another account's new delivery 470
      // claims back. Now: the next accounts in turn (a skip scan of deliveries_due_by_account,
      // two probes per account), each its share of twice the claim size in due order, with
      // SKIP LOCKED so concurrent workers take disjoint sets. Rows of endpoints at their cap
      // are held (below), so no claim rereads a saturated endpoint's backlog; when more is
      // leasable than the claim may take, the plan takes in turn across accounts and endpoints
      // (fair-share.ts).
      const accounts = await accountsInTurn(q, this.rotation, now);
      const candidates = (
        await dueOf(q, accounts, perAccount(request.limit * 2, accounts.length), now)
      ).map(toCandidate);
      if (candidates.length === 0) return [];

      // Lock the endpoints (in id order: two claims never wait on each other in a cycle), then
      // count their leases: a statement started after the lock sees every lease committed by
      // the claim that held it before us, so the in-flight cap and the token bucket hold
      // across processes.
      const webhookIds = [
        ...new Set(candidates.map((c) => c.webhookId).filter((id) => id !== null)),
      ].sort();
      const rows = await q(
        'SELECT * FROM webhooks WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE',
        [webhookIds],
      );
      const inFlight = await this.countInFlight(q, webhookIds, now);
      const endpoints = new Map<string, EndpointBucket & { webhook: Webhook }>();
      for (const row of rows) {
        const endpoint = toEndpoint(row, inFlight.get(String(row.id)) ?? 0, request);
        endpoints.set(endpoint.webhookId, endpoint);
      }

      // Body sizes only for a claim with a byte budget (the worker asks for one only when
      // its bytes in flight near RIZLER_MAX_BYTES_IN_FLIGHT): octet_length of a TOASTed body
      // reads its pointer, not the body.
      let sizes: Map<string, number> | undefined;
      if (request.maxPayloadBytes !== undefined) {
        const rows = await q(
          'SELECT id, octet_length(payload) AS n FROM events WHERE id = ANY($1::text[])',
          [[...new Set(candidates.map((c) => c.eventId))]],
        );
        sizes = new Map(rows.map((r) => [String(r.id), num(r.n)]));
      }
      const plan = planClaim(candidates, endpoints, request, sizes);
      await holdBacklog(
        q,
        plan.saturated.map((id) => ({
          webhookId: id,
          accountId: endpoints.get(id)!.webhook.accountId,
        })),
        now,
      );

      // Every write of the plan in one statement: parks and holds (off the due index),
      // defers (due when a token comes), leases (due when the lease runs out).
      const ids: string[] = [];
      const dues: (number | null)[] = [];
      const kinds: ('park' | 'hold' | 'defer' | 'lease')[] = [];
      const write = (id: string, due: number | null, kind: (typeof kinds)[number]) => {
        ids.push(id);
        dues.push(due);
        kinds.push(kind);
      };
      for (const id of plan.park) write(id, null, 'park');
      for (const id of plan.hold) write(id, null, 'hold');
      for (const d of plan.defer) write(d.deliveryId, d.dueAt, 'defer');
      for (const c of plan.lease) write(c.deliveryId, now + request.leaseMs, 'lease');
      const leased = await q(
        `WITH buckets AS (
           UPDATE webhooks w SET rate_tokens = b.tokens, rate_refilled_at = $1
           FROM unnest($2::text[], $3::float8[]) AS b(id, tokens)
           WHERE w.id = b.id
         ), changed AS (
           UPDATE deliveries d SET due_at = u.due_at,
             lease_token = CASE WHEN u.kind = 'lease' THEN $4 ELSE d.lease_token END,
             held = CASE u.kind WHEN 'hold' THEN true WHEN 'park' THEN d.held ELSE false END
           FROM unnest($5::text[], $6::bigint[], $7::text[]) AS u(id, due_at, kind)
           WHERE d.id = u.id
           RETURNING d.id, d.event_id, u.kind
         )
         SELECT c.id, e.type, octet_length(e.payload) AS payload_bytes,
           CASE WHEN octet_length(e.payload) <= $8::bigint THEN e.payload END AS payload,
           e.traceparent
         FROM changed c JOIN events e ON e.id = c.event_id
         WHERE c.kind = 'lease'`,
        [
          now,
          plan.buckets.map((b) => b.webhookId),
          plan.buckets.map((b) => b.tokens),
          request.leaseToken,
          ids,
          dues,
          kinds,
          request.inlinePayloadBytes ?? Number.MAX_SAFE_INTEGER,
        ],
      );
      const events = new Map(leased.map((r) => [String(r.id), r]));

      const claimed: ClaimedDelivery[] = [];
      for (const c of plan.lease) {
        const webhook = endpoints.get(c.webhookId!)!.webhook;
        const event = events.get(c.deliveryId)!;
        claimed.push(
          toClaimed(
            c,
            webhook,
            {
              type: String(event.type),
              payload: strOrNull(event.payload),
              payloadBytes: num(event.payload_bytes),
              traceparent: strOrNull(event.traceparent),
            },
            request,
          ),
        );
      }
      return claimed;
    });
  }

  /** Deliveries leased right now, per endpoint, across every worker. */
  private async countInFlight(
    q: Query,
    webhookIds: string[],
    now: number,
  ): Promise<Map<string, number>> {
    const rows = await q(
      `SELECT webhook_id, count(*) AS n FROM deliveries
       WHERE lease_token IS NOT NULL AND due_at > $1 AND webhook_id = ANY($2::text[])
       GROUP BY webhook_id`,
      [now, webhookIds],
    );
    return new Map(rows.map((r) => [String(r.webhook_id), num(r.n)]));
  }

  /**
   * Brings back up to `room` held deliveries per endpoint, oldest first. Only rows still off
   * the due index: a held row that a manual retry made due is no longer waiting.
   */
  async unhold(q: Query, room: Map<string, number>, now: number): Promise<number> {
    const wanted = [...room].filter(([, n]) => n > 0);
    if (wanted.length === 0) return 0;
    const rows = await q(
      `UPDATE deliveries SET held = false,
         -- back at its old place in due order, so the backlog keeps its order
         due_at = least($1, coalesce(next_attempt_at, created_at))
       WHERE id IN (
         SELECT h.id FROM unnest($2::text[], $3::int[]) AS u(webhook_id, n)
         CROSS JOIN LATERAL (
           SELECT id FROM deliveries
           WHERE webhook_id = u.webhook_id AND held AND due_at IS NULL
           ORDER BY id LIMIT u.n) AS h)
       RETURNING 1`,
      [now, wanted.map(([id]) => id), wanted.map(([, n]) => n)],
    );
    return rows.length;
  }

  private lastSweep = 0;

  /**
   * Held rows come back as their endpoint's attempts finish (completeAttempts). This sweep,
   * at most once a second per process, also frees them where no attempt is left to finish
   * (its worker died and the lease ran out). Endpoints another transaction has locked are
   * left to the next sweep rather than waited for.
   */
  private async releaseHeld(request: ClaimRequest): Promise<void> {
    if (request.now - this.lastSweep < 1000) return;
    this.lastSweep = request.now;
    // Distinct held endpoints by skipping through the index, one probe per endpoint; usually
    // none, and then no transaction is needed.
    const held = (
      await this.query(
        `WITH RECURSIVE w(id) AS (
           SELECT (SELECT min(webhook_id) FROM deliveries WHERE held)
           UNION ALL
           SELECT (SELECT min(webhook_id) FROM deliveries WHERE held AND webhook_id > w.id)
           FROM w WHERE w.id IS NOT NULL)
         SELECT id FROM w WHERE id IS NOT NULL`,
      )
    ).map((r) => String(r.id));
    if (held.length === 0) return;
    // The claim that follows takes what comes back; no other process needs waking.
    await this.tx(async (q) => {
      const lockedRows = await q(
        `SELECT id, concurrency_limit FROM webhooks WHERE id = ANY($1::text[])
         ORDER BY id FOR NO KEY UPDATE SKIP LOCKED`,
        [held],
      );
      const locked = lockedRows.map((r) => String(r.id));
      if (locked.length === 0) return;
      const inFlight = await this.countInFlight(q, locked, request.now);
      const room = new Map(
        lockedRows.map((r) => [
          String(r.id),
          effectiveCap(numOrNull(r.concurrency_limit), request.maxInFlightPerEndpoint) -
            (inFlight.get(String(r.id)) ?? 0),
        ]),
      );
      await this.unhold(q, room, request.now);
    });
  }

  async readPayloads(eventIds: readonly string[]): Promise<Map<string, string>> {
    const rows = await this.query('SELECT id, payload FROM events WHERE id = ANY($1::text[])', [
      [...eventIds],
    ]);
    return new Map(rows.map((r) => [String(r.id), String(r.payload)]));
  }

  async nextDueAt(): Promise<number | null> {
    const [row] = await this.query(
      'SELECT min(due_at) AS t FROM deliveries WHERE due_at IS NOT NULL',
    );
    return numOrNull(row?.t);
  }
}
