// The PostgreSQL engine's claim: the worker's side that leases due deliveries (PostgresClaim),
// and the claim rules that live beside claim-plan.ts: walking the accounts with deliveries due
// and their endpoints in turn (fair-share.ts takeInTurn) from the index by endpoint, reading of
// each only as many as it has room for, and keeping each endpoint's adaptive concurrency
// (throttle.ts) on its row, where every worker process reads it. Called inside the engine's
// claim and completion transactions.
import type { ClaimRequest, ClaimedDelivery, Webhook } from '../types.js';
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
import type { ClaimCandidate, EndpointBucket, TurnTaken } from '../claim-plan.js';
import { ROTATION, takeInTurn, type Rotation, type TurnSource } from '../fair-share.js';
import { num, numOrNull, strOrNull, type Row } from '../rows.js';
import {
  applySignals,
  DEFAULT_THROTTLE,
  throttleOf,
  type ThrottleSettings,
  type ThrottleSignal,
} from '../throttle.js';
import { PostgresPart, type Query } from './connection.js';
import { LocalHolds } from './local-holds.js';

/** A delivery a publish is about to make due now, as its hand-off plans it. */
export interface FreshDelivery {
  id: string;
  webhookId: string;
  eventId: string;
  type: string;
  payload: string;
  /** The body's UTF-8 bytes. */
  payloadBytes: number;
  traceparent: string | null;
  orderingKey: string | null;
  /** In a key's order (the head: only those are due). */
  ordered: boolean;
}

/** What a publish writes for its hand-off (PostgresClaim.planHandoff), and hands over. */
export interface HandoffPlan {
  /** Deliveries not due now: leased (due when the lease ends), deferred, or parked (null). */
  due: Map<string, number | null>;
  leaseIds: Set<string>;
  buckets: { webhookId: string; tokens: number }[];
  /** For the worker, after the commit (older deliveries first, then fresh ones). */
  leased: ClaimedDelivery[];
  /** The endpoints' older deliveries it took in hand: their queue rows' new due time, leased or not. */
  requeued: { id: string; dueAt: number | null; leased: boolean }[];
}

/**
 * The most enabled endpoints an account may have for its publishes to lock them all ahead
 * (PostgresClaim.lockAhead): a few, so that one publish holds little it does not send to.
 */
export const AHEAD_MAX_ENDPOINTS = 8;

/**
 * What PostgresClaim.lockAhead read: the endpoints it locked (`rows`) and the leases of each
 * of the account's enabled endpoints (`counted`, as planHandoff counts them); none of either
 * when the account has more than AHEAD_MAX_ENDPOINTS.
 */
export interface LockedAhead {
  rows: Row[];
  counted: Row[];
}

/**
 * Each endpoint's leases in flight and whether it has deliveries due already, for the
 * endpoints `endpoints` names as `u` ($2 now as the claim counts leases, $3 the account, $4 the
 * publish's time). Sent right behind the statement that locks them: its snapshot sees what the
 * transaction that held a lock before committed, its leases and what it left due.
 */
const countLeases = (endpoints: string) => `SELECT u.id,
  (SELECT count(*) FROM delivery_queue x WHERE x.webhook_id = u.id
     AND x.lease_token IS NOT NULL AND x.due_at > $2) AS in_flight,
  coalesce((SELECT true FROM delivery_queue x WHERE x.account_id = $3
     AND x.webhook_id = u.id AND x.due_at <= $4 LIMIT 1), false) AS older
  FROM ${endpoints}`;

/**
 * A claim's count of the leases in flight ($1 now) of the endpoints it asked for ($2) that it
 * can lock: those its lock statement, sent just before, locked (locked again at once) and any
 * freed since; those another transaction holds are skipped before anything is counted.
 */
const COUNT_HELD = `SELECT l.id, (SELECT count(*) FROM delivery_queue x WHERE x.webhook_id = l.id
    AND x.lease_token IS NOT NULL AND x.due_at > $1) AS n
  FROM (SELECT id FROM webhooks WHERE id = ANY($2::text[]) FOR NO KEY UPDATE SKIP LOCKED) l`;

/** The account $1's enabled endpoints, when it has AHEAD_MAX_ENDPOINTS or fewer. */
const FEW_ENABLED = `(SELECT count(*) FROM (SELECT 1 FROM webhooks WHERE account_id = $1
    AND status = 'enabled' LIMIT ${AHEAD_MAX_ENDPOINTS + 1}) e) <= ${AHEAD_MAX_ENDPOINTS}`;

/** A hand-off that took nothing (and a publish without one). */
export function noHandoff(): HandoffPlan {
  return { due: new Map(), leaseIds: new Set(), buckets: [], leased: [], requeued: [] };
}

/** A leased delivery's event, as toClaimed takes it. */
type ClaimedEvent = Parameters<typeof toClaimed>[2];

/** Above every id (ids are ASCII): the end of a range of account or endpoint ids. */
const END = '\u{10FFFF}';

/**
 * The next account after one with anything scheduled: one probe of delivery_queue_due.
 * Ordered by the index's whole key, so that the planner takes it: asked for min(account_id), it
 * took the index by account and update time and filtered 2,000 rows past the backlog's
 * finished deliveries (EXPLAIN ANALYZE during the bench).
 */
const accountAfter = (after: string) => `
  SELECT account_id FROM delivery_queue WHERE account_id > ${after} AND due_at IS NOT NULL
  ORDER BY account_id, webhook_id, due_at LIMIT 1`;

/**
 * Endpoints of an account after one (`after`, up to `upTo`), with anything scheduled, in id
 * order, each with its earliest due time: a skip scan of delivery_queue_due, one probe
 * each (the probe lands on the endpoint's first live entry, which is its earliest). `account`,
 * `after` and `upTo` are SQL expressions (outer columns); `limit` bounds the steps.
 */
const endpointsAfter = (account: string, after: string, upTo: string, limit: string) => `
  WITH RECURSIVE f(id, due_at, n) AS (
    (SELECT webhook_id, due_at, 1 FROM delivery_queue WHERE account_id = ${account}
       AND webhook_id > ${after} AND webhook_id <= ${upTo} AND due_at IS NOT NULL
     ORDER BY webhook_id, due_at LIMIT 1)
    UNION ALL
    SELECT x.webhook_id, x.due_at, f.n + 1 FROM f CROSS JOIN LATERAL (
      SELECT webhook_id, due_at FROM delivery_queue WHERE account_id = ${account}
        AND webhook_id > f.id AND webhook_id <= ${upTo} AND due_at IS NOT NULL
      ORDER BY webhook_id, due_at LIMIT 1) x
    WHERE f.n < ${limit})
  SELECT id, due_at FROM f`;

/**
 * What a claim's walk needs, in one statement: the accounts with anything scheduled after the
 * cursor ($1; then from the first, when those ran out before $2), and for each its endpoints
 * with anything scheduled after where its last walk stopped ($3/$4; then from the first, when
 * those ran out before $5), each with how many of its deliveries are due now ($6), counted up
 * to ROTATION's minimum ($7): a count reads every entry it counts, and a first pass takes no
 * more. Per account, a row without an endpoint: the same of its deliveries whose endpoint is
 * gone. Measured (pg_stat_statements, the bench's PostgreSQL burst): reading and locking those
 * first deliveries here instead, and only the rest afterwards, was no cheaper.
 */
const WALK = `
  WITH RECURSIVE fwd(id, n) AS (
    SELECT (${accountAfter('$1')}), 1
    UNION ALL
    SELECT (${accountAfter('fwd.id')}), fwd.n + 1
    FROM fwd WHERE fwd.id IS NOT NULL AND fwd.n < $2),
  wrap(id, n) AS (
    SELECT (${accountAfter("''")}), 1
    WHERE $1 <> '' AND (SELECT count(id) FROM fwd) < $2
    UNION ALL
    SELECT (${accountAfter('wrap.id')}), wrap.n + 1
    FROM wrap WHERE wrap.id IS NOT NULL AND wrap.id < $1 AND wrap.n < $2),
  accounts(id) AS (
    SELECT id FROM fwd WHERE id IS NOT NULL
    UNION SELECT id FROM wrap WHERE id IS NOT NULL AND id <= $1),
  starts AS (
    SELECT a.id AS account_id, coalesce(c.after, '') AS after FROM accounts a
    LEFT JOIN unnest($3::text[], $4::text[]) AS c(account_id, after) ON c.account_id = a.id)
  SELECT s.account_id, e.id AS webhook_id, CASE WHEN e.due_at > $6 THEN 0 ELSE (
      SELECT count(*) FROM (
        SELECT 1 FROM delivery_queue x WHERE x.account_id = s.account_id AND x.webhook_id = e.id
          AND x.due_at <= $6 LIMIT $7) y) END AS due
  FROM starts s
  CROSS JOIN LATERAL (
    SELECT f.id, f.due_at FROM (${endpointsAfter('s.account_id', 's.after', `'${END}'`, '$5')}) f
    UNION ALL
    SELECT w.id, w.due_at FROM (${endpointsAfter('s.account_id', "''", 's.after', '$5')}) w
    WHERE s.after <> '') e
  UNION ALL
  SELECT a.id, NULL, (
    SELECT count(*) FROM (
      SELECT 1 FROM delivery_queue x WHERE x.account_id = a.id AND x.webhook_id IS NULL
        AND x.due_at <= $6 LIMIT $7) y)
  FROM accounts a`;

/**
 * Every (account, endpoint) pair with anything scheduled, in id order, at most $1 of them: a
 * skip scan of delivery_queue_due, one probe each. An account's deliveries whose
 * endpoint is gone show as its pair with a NULL endpoint only when it has no other.
 */
export const SCHEDULED_PAIRS = `
  WITH RECURSIVE pairs(account_id, webhook_id, n) AS (
    (SELECT account_id, webhook_id, 1 FROM delivery_queue WHERE due_at IS NOT NULL
     ORDER BY account_id, webhook_id LIMIT 1)
    UNION ALL
    SELECT x.account_id, x.webhook_id, p.n + 1 FROM pairs p CROSS JOIN LATERAL (
      SELECT account_id, webhook_id FROM delivery_queue
      WHERE (account_id, webhook_id) > (p.account_id, coalesce(p.webhook_id, '${END}'))
        AND due_at IS NOT NULL
      ORDER BY account_id, webhook_id LIMIT 1) x
    WHERE p.n < $1)`;

/** Accounts, and endpoints per account, one claim's walk looks at (each way round). */
const WALK_ACCOUNTS = ROTATION.accounts * 2;
const WALK_ENDPOINTS = 32;

/**
 * A queued delivery's columns as a candidate (toCandidate), from its row `d` and, for its
 * place in a key's order (migration 13), its queue row `queue`.
 */
const queuedCandidate = (queue: string) =>
  CANDIDATE_COLUMNS.split(', ')
    .map((c) => (c === 'order_state' ? `${queue}.${c}` : `d.${c}`))
    .join(', ');
const QUEUED_CANDIDATE = queuedCandidate('x');

/**
 * The walk's statement as a TurnSource (fair-share.ts): the accounts and endpoints it found,
 * in id order, and what takeInTurn took of each, to be read afterwards under the endpoints'
 * locks. What the walk did not reach (it looks at WALK_ACCOUNTS accounts and WALK_ENDPOINTS
 * endpoints of each, each way round) waits for the next claim: the cursors move on.
 */
function walked(rows: readonly Row[], rotation: Rotation, cursors: ReadonlyMap<string, string>) {
  /** Per account: its orphans due, and its endpoints with how many are due (up to the minimum). */
  const accounts = new Map<string, { orphans: number; endpoints: Map<string, number> }>();
  const account = (id: string) => {
    let a = accounts.get(id);
    if (!a) accounts.set(id, (a = { orphans: 0, endpoints: new Map() }));
    return a;
  };
  for (const r of rows) {
    const a = account(String(r.account_id));
    if (r.webhook_id === null) a.orphans = num(r.due);
    else a.endpoints.set(String(r.webhook_id), num(r.due));
  }
  // Where the walk's look ended short of the real end: an account with more endpoints after
  // its cursor than the walk looks at, and the accounts after the rotation's cursor likewise.
  // Those before the cursor wait for the next turn (or the turn would skip the ones the walk
  // did not reach), and a turn that got to the last one looked at goes on from there next.
  const lastAhead = new Map<string, string>();
  for (const [id, a] of accounts) {
    const start = cursors.get(id) ?? '';
    const ahead = [...a.endpoints.keys()].filter((e) => e > start).sort();
    if (ahead.length < WALK_ENDPOINTS) continue;
    for (const e of [...a.endpoints.keys()]) if (e <= start) a.endpoints.delete(e);
    lastAhead.set(id, ahead[ahead.length - 1]!);
  }
  const accountsAhead = [...accounts.keys()].filter((id) => id > rotation.cursor).sort();
  if (accountsAhead.length >= WALK_ACCOUNTS) {
    for (const id of [...accounts.keys()]) if (id <= rotation.cursor) accounts.delete(id);
  }
  const lastAccountAhead =
    accountsAhead.length >= WALK_ACCOUNTS ? accountsAhead[accountsAhead.length - 1]! : null;
  const reached = new Set<string>();
  const after = (ids: Iterable<string>, id: string) => {
    let best: string | null = null;
    for (const x of ids) if (x > id && (best === null || x < best)) best = x;
    return best;
  };
  /** What was taken, per account and endpoint (null for the orphans), in the order taken. */
  const tally = new TurnTally();
  const took = (accountId: string, webhookId: string | null, got: number) =>
    tally.add(accountId, webhookId, got);
  const source: TurnSource = {
    nextAccount: (id) => {
      const next = after(accounts.keys(), id);
      if (next !== null) reached.add(next);
      return next;
    },
    nextEndpoint: (accountId, id) => {
      const next = after(accounts.get(accountId)?.endpoints.keys() ?? [], id);
      if (next !== null) reached.add(`${accountId}\n${next}`);
      return next;
    },
    takeOrphans: (accountId, n) =>
      took(accountId, null, Math.min(n, accounts.get(accountId)?.orphans ?? 0)),
    // Due counts stop at ROTATION's minimum: one that reached it may have any number more, and
    // is taken at its word (the read takes what there is).
    take: (accountId, webhookId, n, offset) => {
      const due = accounts.get(accountId)?.endpoints.get(webhookId) ?? 0;
      return took(
        accountId,
        webhookId,
        due >= ROTATION.minPerAccount ? n : Math.min(n, due - offset),
      );
    },
  };
  /** The endpoints with deliveries due now, in id order: the claim locks these. */
  const due = () =>
    [...accounts.values()]
      .flatMap((a) => [...a.endpoints].filter(([, n]) => n > 0).map(([id]) => id))
      .sort();
  /** What the turn took, per endpoint ('' for the orphans), in the order taken. */
  const result = () => tally.taken;
  /** After the turn: where it got to the end of a short look, the next turn goes on from it. */
  const onward = () => {
    for (const [accountId, last] of lastAhead) {
      if (rotation.endpoints?.has(accountId) || !reached.has(`${accountId}\n${last}`)) continue;
      (rotation.endpoints ??= new Map()).set(accountId, last);
    }
    if (lastAccountAhead !== null && reached.has(lastAccountAhead)) {
      rotation.cursor = lastAccountAhead;
    }
  };
  return { source, due, onward, result };
}

/** What a claim's walk found (WALK), and the rotation's cursors it walked from. */
interface Walk {
  rows: Row[];
  cursors: ReadonlyMap<string, string>;
}

/** A claim's walk (WALK): a statement of its own, which needs no transaction. */
async function walkQueue(query: Query, rotation: Rotation, now: number): Promise<Walk> {
  const cursors = new Map(rotation.endpoints ?? []);
  const rows = await query(WALK, [
    rotation.cursor,
    WALK_ACCOUNTS,
    [...cursors.keys()],
    [...cursors.values()],
    WALK_ENDPOINTS,
    now,
    ROTATION.minPerAccount,
  ]);
  return { rows, cursors };
}

/**
 * The most a claim can lease of what its walk found (`walked` takes no more of an endpoint
 * than its count, nor of an account's deliveries without an endpoint), or null when an
 * endpoint's count reached ROTATION's minimum, where any number more may be due.
 */
function mostLeasable(found: Walk): number | null {
  let most = 0;
  for (const r of found.rows) {
    const due = num(r.due);
    if (r.webhook_id !== null && due >= ROTATION.minPerAccount) return null;
    most += due;
  }
  return most;
}

/**
 * The turn of a claim whose walk found nothing due now: it takes nothing, and the rotation
 * moves on as dueInTurn moves it.
 */
function passTurn(found: Walk, rotation: Rotation, limit: number): void {
  const walk = walked(found.rows, rotation, found.cursors);
  takeInTurn(walk.source, rotation, limit * 2, () => 0);
  walk.onward();
}

/**
 * The due deliveries a claim reads, in turn across the accounts and their endpoints: the walk
 * of the index by endpoint (WALK, `found`); `lock` locks the endpoints with deliveries due
 * and tells each one's room (after the lock, so exact); takeInTurn decides how many of each;
 * one more statement reads them, locked. SKIP LOCKED lets concurrent workers take disjoint
 * sets.
 *
 * The turn takes up to twice the claim's limit, and `leasable` cuts what it took to what the
 * plan could lease of it (claim-plan.ts leasableOfTurn): a row read past that was locked only
 * to be left due. One worker on ten endpoints of one origin (bench): its claims read
 * 40,616-55,849 rows for 20,000 leased without the cut (seven runs), the read's statement
 * 202-393 ms of PostgreSQL's time; 20,000 rows and 159-167 ms with it (three runs). An
 * endpoint out of rate-limit tokens defers what the cut gave it, and the claim leases less.
 * `leftDue`: the cut left some due (then nextDueAt answers "now" without its statement).
 */
export async function dueInTurn(
  q: Query,
  rotation: Rotation,
  request: Pick<ClaimRequest, 'now' | 'limit'>,
  found: Walk,
  lock: (webhookIds: string[]) => Promise<(webhookId: string) => number>,
  leasable: (taken: TurnTaken[]) => { taken: TurnTaken[]; cut: boolean },
): Promise<{ rows: Row[]; leftDue: boolean }> {
  const { now } = request;
  if (found.rows.length === 0) return { rows: [], leftDue: false };
  const walk = walked(found.rows, rotation, found.cursors);
  const due = walk.due();
  const roomOf = due.length > 0 ? await lock(due) : () => 0;
  takeInTurn(walk.source, rotation, request.limit * 2, roomOf);
  walk.onward();
  const { taken, cut } = leasable(walk.result());
  const reads = taken.filter((t) => t.webhookId !== null);
  const out: Row[] =
    reads.length === 0
      ? []
      : await q(
          `SELECT d.* FROM unnest($1::text[], $2::text[], $3::int[]) AS u(account_id, webhook_id, n)
     CROSS JOIN LATERAL (
       SELECT ${QUEUED_CANDIDATE} FROM delivery_queue x JOIN deliveries d ON d.id = x.delivery_id
       WHERE x.account_id = u.account_id AND x.webhook_id = u.webhook_id AND x.due_at <= $4
       ORDER BY x.due_at LIMIT u.n
       FOR UPDATE OF x SKIP LOCKED) AS d`,
          [
            reads.map((t) => t.accountId),
            reads.map((t) => t.webhookId),
            reads.map((t) => t.n),
            now,
          ],
        );
  const orphans = taken.filter((t) => t.webhookId === null);
  if (orphans.length > 0) {
    out.push(
      ...(await q(
        `SELECT d.* FROM unnest($1::text[], $2::int[]) AS u(account_id, n)
         CROSS JOIN LATERAL (
           SELECT ${QUEUED_CANDIDATE}
           FROM delivery_queue x JOIN deliveries d ON d.id = x.delivery_id
           WHERE x.account_id = u.account_id AND x.webhook_id IS NULL AND x.due_at <= $3
           LIMIT u.n FOR UPDATE OF x SKIP LOCKED) AS d`,
        [orphans.map((t) => t.accountId), orphans.map((t) => t.n), now],
      )),
    );
  }
  return { rows: out, leftDue: cut };
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

/** How soon nextDueAt answers after a claim that skipped endpoints held elsewhere. */
const HELD_RETRY_MS = 25;

/** Endpoints nextDueAt may look at; past them it answers with the earliest it saw. */
const NEXT_DUE_PAIRS = 4096;

/**
 * nextDueAt's statement: $1 endpoints at most, $2 the cap, $3 the time leases are counted
 * live at (see nextDueAt).
 */
const NEXT_DUE = `${SCHEDULED_PAIRS}
   SELECT min(CASE
     WHEN w.status = 'enabled' AND (
       SELECT count(*) FROM (
         SELECT 1 FROM delivery_queue x WHERE x.webhook_id = p.webhook_id
           AND x.lease_token IS NOT NULL AND x.due_at > $3 LIMIT $2) y
     ) >= least(coalesce(w.concurrency_limit, $2), $2)
     THEN (SELECT min(x.due_at) FROM delivery_queue x
           WHERE x.webhook_id = p.webhook_id AND x.lease_token IS NOT NULL)
     ELSE (SELECT min(x.due_at) FROM delivery_queue x WHERE x.account_id = p.account_id
           AND x.webhook_id = p.webhook_id AND x.due_at IS NOT NULL) END) AS t
   FROM pairs p LEFT JOIN LATERAL (
     SELECT status, concurrency_limit FROM webhooks WHERE id = p.webhook_id LIMIT 1) w ON true`;

export class PostgresClaim extends PostgresPart {
  /** This process's transactions on each account's endpoints: a publish waits its turn here. */
  readonly holds = new LocalHolds();
  /** Where this process's claims' turns across accounts stand (fair-share.ts). */
  private readonly rotation: Rotation = { cursor: '' };
  /** The per-endpoint cap the last claim used: nextDueAt does not wake for capped endpoints. */
  private claimCap: number = DEFAULT_THROTTLE.maxConcurrency;
  /** The last claim's time: nextDueAt counts the leases live then, as that claim did. */
  private claimNow = 0;
  /** The last claim skipped endpoints another transaction held (a claim or a completion). */
  private skippedHeld = false;
  /**
   * The last claim left deliveries it could lease due (ClaimPlan.leftDue): still so while
   * nothing else of this process has run on the engine since (its `activity` then).
   */
  private leftDue: { activity: number } | null = null;

  /**
   * The last claim left deliveries due that it knows of: some it could lease but for its
   * limit, its origins' room or its byte budget, or endpoints another transaction held.
   */
  get leftSomethingDue(): boolean {
    return this.leftDue !== null || this.skippedHeld;
  }

  async claimDue(request: ClaimRequest): Promise<ClaimedDelivery[]> {
    const { now } = request;
    this.claimCap = request.maxInFlightPerEndpoint;
    this.claimNow = now;
    this.skippedHeld = false;
    this.leftDue = null;
    let plannedLeftDue = false;
    // The walk first, on its own: a claim that finds nothing due now ends there, one round
    // trip where BEGIN, the walk and COMMIT took three. At 200 events/s to one endpoint
    // (bench, 6,000 events), 790 of 3,165 claims found nothing due. Its snapshot is a
    // statement older than the locks': as within the transaction, what the walk found is
    // read again under them.
    const found = await walkQueue((text, values) => this.h.byKey(text, values), this.rotation, now);
    if (!found.rows.some((r) => num(r.due) > 0)) {
      passTurn(found, this.rotation, request.limit);
      return [];
    }
    // The worker is told the most this claim can lease of what the walk found, and takes back
    // what it promised beyond it, for the hand-offs of the publishes beside the transaction. A
    // claim of a few held a claim's worst case, the whole byte budget, to its end: at 200
    // events/s on one endpoint, 1,496 of 4,000 publishes found no room to offer (bench,
    // PostgreSQL's latency row; 367-466 with this).
    const most = mostLeasable(found);
    if (most !== null && most < request.limit) request.found?.(most);
    // A publish of this process about to lock the same endpoints waits for this transaction
    // rather than skip them (local-holds.ts).
    const release = this.holds.hold(
      found.rows
        .filter((r) => r.webhook_id !== null && num(r.due) > 0)
        .map((r) => String(r.account_id)),
    );
    const taken = await this.tx(async (q, end) => {
      // A lease need not reach the disk before the claim ends: one the server loses in a crash
      // leaves its delivery due, to be sent again, as at-least-once allows, and the attempt's
      // record, which must be durable, commits after it and flushes the WAL through it. The
      // COMMIT then neither waits for a flush nor holds the endpoints' locks through one.
      // PostgreSQL's throughput rows, one run each: 11.1 WAL flushes a thousand deliveries
      // with one worker against 16.4 (pg_stat_wal).
      const asyncCommit = q('SET LOCAL synchronous_commit TO off');
      // Awaited below; a statement before then that fails first ends the work without it.
      asyncCommit.catch(() => {});
      // The accounts with deliveries due in turn, and within each its endpoints in turn, each
      // endpoint only as many as it has room for (dueInTurn): an endpoint at its cap costs an
      // index probe, never a read of its backlog and never a write. When more is leasable
      // than the claim may take, the plan takes in turn across accounts and endpoints too.
      //
      // The endpoints are locked before their deliveries are read, then their leases
      // counted: a statement started after the lock sees every lease committed by the claim
      // that held it before us, so the in-flight cap and the token bucket hold across
      // processes. An endpoint another claim (or a completion) holds is skipped, not waited
      // for: that claim is leasing for it now, and ours takes the others. Waiting serialised
      // every claim of every worker on the endpoints they shared (bench, ten endpoints: a
      // claim spent 17-22 ms on average in this statement).
      const endpoints = new Map<string, EndpointBucket & { webhook: Webhook }>();
      const busy = new Set<string>();
      const read = await dueInTurn(
        q,
        this.rotation,
        request,
        found,
        async (webhookIds) => {
          // One row per endpoint asked for: locked (its columns), or not, and then held by
          // another transaction (`present`) or gone. Only a gone endpoint's deliveries are
          // parked. The leases are counted in a statement sent right behind the lock's, in the
          // same round trip (as planHandoff counts): its snapshot is taken once the lock's
          // statement has ended, so it sees every lease committed by the transaction that held
          // an endpoint before us, and the in-flight cap and the token bucket hold across
          // processes. It counts only the endpoints it can lock itself (those this claim holds;
          // one freed since is locked too, and left as held): counted for every endpoint asked
          // for, two workers on ten endpoints delivered less in each of six runs (bench,
          // 4,080-4,872 deliveries/s against 4,316-5,235), a count reading past the queue's
          // dead leases for endpoints the other worker held. A claim that sent the count after
          // the lock's answer held its endpoints for one round trip more.
          const [lockedRows, counted] = await Promise.all([
            q(
              `SELECT u.id AS asked,
                 coalesce((SELECT true FROM webhooks x WHERE x.id = u.id), false) AS present, w.*
               FROM unnest($1::text[]) AS u(id)
               LEFT JOIN LATERAL (
                 SELECT * FROM webhooks WHERE id = u.id FOR NO KEY UPDATE SKIP LOCKED) w ON true`,
              [webhookIds],
            ),
            q(COUNT_HELD, [now, webhookIds]),
          ]);
          const rows: Row[] = [];
          for (const r of lockedRows) {
            if (r.id !== null) rows.push(r);
            else if (r.present === true) busy.add(String(r.asked));
          }
          if (busy.size > 0) this.skippedHeld = true;
          const inFlight = new Map(counted.map((r) => [String(r.id), num(r.n)]));
          for (const row of rows) {
            const endpoint = toEndpoint(row, inFlight.get(String(row.id)) ?? 0, request);
            endpoints.set(endpoint.webhookId, endpoint);
          }
          return (webhookId) => {
            if (busy.has(webhookId)) return 0;
            const endpoint = endpoints.get(webhookId);
            // A disabled or deleted endpoint's deliveries are read a few at a time, to park.
            if (!endpoint || !endpoint.enabled) return ROTATION.minPerAccount;
            return endpointRoom(endpoint, request.maxInFlightPerEndpoint);
          };
        },
        (taken) => leasableOfTurn(taken, endpoints, request),
      );
      plannedLeftDue = read.leftDue;
      const candidates = read.rows.map(toCandidate);
      await asyncCommit;
      if (candidates.length === 0) return [];

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
      plannedLeftDue ||= plan.leftDue;
      // Every write of the plan in one statement: parks (off the due index), defers (due when
      // a token comes), leases (due when the lease runs out). Rows over an endpoint's cap
      // (plan.hold) stay due, as do those the claim could lease but took no more of.
      const ids: string[] = [];
      const dues: (number | null)[] = [];
      const kinds: ('park' | 'defer' | 'lease')[] = [];
      const eventIds: string[] = [];
      const eventOf = new Map(candidates.map((c) => [c.deliveryId, c.eventId]));
      const write = (id: string, due: number | null, kind: (typeof kinds)[number]) => {
        ids.push(id);
        dues.push(due);
        kinds.push(kind);
        eventIds.push(eventOf.get(id)!);
      };
      for (const id of plan.park) write(id, null, 'park');
      for (const d of plan.defer) write(d.deliveryId, d.dueAt, 'defer');
      for (const c of plan.lease) write(c.deliveryId, now + request.leaseMs, 'lease');
      // The transaction's last statement, with its COMMIT.
      const leased = await end(
        `WITH buckets AS (
           UPDATE webhooks w SET rate_tokens = b.tokens, rate_refilled_at = $1
           FROM unnest($2::text[], $3::float8[]) AS b(id, tokens)
           WHERE w.id = b.id
         ), changed AS (
           UPDATE delivery_queue x SET due_at = u.due_at,
             lease_token = CASE WHEN u.kind = 'lease' THEN $4 ELSE x.lease_token END
           FROM unnest($5::text[], $6::bigint[], $7::text[], $9::text[])
             AS u(id, due_at, kind, event_id)
           -- by the primary key: joined alone, the planner read the whole queue (a hash join)
           WHERE x.delivery_id = u.id AND x.delivery_id = ANY($5::text[])
           RETURNING x.delivery_id AS id, u.event_id, u.kind
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
          eventIds,
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
    }, 'by-key').finally(release);
    // Read after the transaction has ended, so that its own end is not "something since".
    if (plannedLeftDue) this.leftDue = { activity: this.h.activity };
    return taken;
  }

  /**
   * The hand-off's lock and count (planHandoff) for every enabled endpoint of an account with
   * AHEAD_MAX_ENDPOINTS or fewer, sent with the publish's first statement, before it knows which
   * endpoints its events go to: one round trip fewer before the 202. An endpoint locked this way
   * that the events do not go to is held until the commit, as one they go to is; another
   * publish or claim skips it meanwhile, and what it has due already is this hand-off's to take
   * (planHandoff), as a claim would. An account with more gets nothing here, and planHandoff
   * locks what its events go to.
   */
  lockAhead(q: Query, request: ClaimRequest, accountId: string, now: number): Promise<LockedAhead> {
    return Promise.all([
      q(
        `SELECT w.* FROM webhooks w
         WHERE w.account_id = $1 AND w.status = 'enabled' AND ${FEW_ENABLED}
         ORDER BY w.id FOR NO KEY UPDATE SKIP LOCKED`,
        [accountId],
      ),
      q(
        countLeases(
          `webhooks u WHERE u.account_id = $1 AND u.status = 'enabled' AND ${FEW_ENABLED}`,
        ),
        [accountId, request.now, accountId, now],
      ),
    ]).then(([rows, counted]) => ({ rows, counted }));
  }

  /**
   * The hand-off at publish (PublishRequest.handoff), inside the publish's transaction and
   * before its deliveries are written: the claim's rules (cap, adaptive limit, rate limit,
   * the worker's room) applied to `fresh`, the deliveries it is about to make due now. Each
   * endpoint is locked as a claim locks it, and skipped when another transaction holds it; one
   * with deliveries due already has those read first, up to its room, so that its due order
   * holds. What this returns is written by the publish's insert: each delivery's due time and
   * lease, the older ones' new due time, and the endpoints' token buckets. One statement locks,
   * one counts the leases (after the lock, as claimDue counts them; one round trip for both, or
   * none after lockAhead's), and one reads a backlog when there is one; the claim's own
   * transaction and its walk are not needed. `now`: the publish's.
   */
  async planHandoff(
    q: Query,
    request: ClaimRequest,
    accountId: string,
    now: number,
    fresh: readonly FreshDelivery[],
    ahead?: LockedAhead,
  ): Promise<HandoffPlan> {
    const none = noHandoff();
    const webhookIds = [...new Set(fresh.map((d) => d.webhookId))].sort();
    if (webhookIds.length === 0) return none;
    // Locked in id order as a claim locks them, skipping one another transaction holds (a
    // claim, a completion, another publish's hand-off): waiting would hold every publish to a
    // busy endpoint behind the one before it until its commit. The leases are counted after
    // the lock, in a statement of its own sent right behind it (as claimDue counts): its
    // snapshot sees what the transaction that held the lock before us committed, its leases
    // and what it left due. One round trip for both; none when the publish locked them ahead
    // (lockAhead: the account has few endpoints).
    const [rows, counted] =
      ahead && ahead.counted.length > 0
        ? [ahead.rows, ahead.counted]
        : await Promise.all([
            q(
              `SELECT w.* FROM unnest($1::text[]) AS u(id)
               CROSS JOIN LATERAL (
                 SELECT * FROM webhooks WHERE id = u.id FOR NO KEY UPDATE SKIP LOCKED) w`,
              [webhookIds],
            ),
            q(countLeases('unnest($1::text[]) AS u(id)'), [
              webhookIds,
              request.now,
              accountId,
              now,
            ]),
          ]);
    if (rows.length === 0) return none;
    const inFlight = new Map(counted.map((r) => [String(r.id), num(r.in_flight)]));
    const older = new Set(counted.filter((r) => r.older === true).map((r) => String(r.id)));
    const endpoints = new Map<string, EndpointBucket & { webhook: Webhook }>();
    for (const row of rows) {
      const endpoint = toEndpoint(row, inFlight.get(String(row.id)) ?? 0, request);
      // A disabled one is left due, for a claim to park.
      if (endpoint.enabled) endpoints.set(endpoint.webhookId, endpoint);
    }
    // An endpoint with deliveries due already: they go first, in due order, read and locked as
    // a claim reads them, up to its room. Left to the claims instead, one delivery left due
    // (its endpoint held by a claim for a moment) made every publish after it leave its own,
    // until a claim took them all (PostgreSQL, 200 events/s: most deliveries went by claims).
    const backlog = [...older]
      .filter((id) => endpoints.has(id))
      .map((id) => ({
        id,
        n: Math.min(
          endpointRoom(endpoints.get(id)!, request.maxInFlightPerEndpoint),
          request.limit,
        ),
      }))
      .filter((b) => b.n > 0);
    const inline = request.inlinePayloadBytes ?? Number.MAX_SAFE_INTEGER;
    const waiting =
      backlog.length === 0
        ? []
        : await q(
            `SELECT ${queuedCandidate('b')}, e.type AS event_type,
               octet_length(e.payload) AS payload_bytes,
               CASE WHEN octet_length(e.payload) <= $5::bigint THEN e.payload END AS payload,
               e.traceparent
             FROM unnest($1::text[], $2::int[]) AS u(webhook_id, n)
             CROSS JOIN LATERAL (
               SELECT x.delivery_id, x.due_at, x.order_state FROM delivery_queue x
               WHERE x.account_id = $3 AND x.webhook_id = u.webhook_id AND x.due_at <= $4
               ORDER BY x.due_at LIMIT u.n FOR UPDATE SKIP LOCKED) AS b
             JOIN deliveries d ON d.id = b.delivery_id
             JOIN events e ON e.id = d.event_id
             ORDER BY u.webhook_id, b.due_at, b.delivery_id`,
            [backlog.map((b) => b.id), backlog.map((b) => b.n), accountId, now, inline],
          );
    const eventOf = new Map<string, ClaimedEvent>();
    const candidates: ClaimCandidate[] = [];
    const sizes = new Map<string, number>();
    for (const row of waiting) {
      const c = toCandidate(row);
      candidates.push(c);
      sizes.set(c.eventId, num(row.payload_bytes));
      eventOf.set(c.deliveryId, {
        type: String(row.event_type),
        payload: strOrNull(row.payload),
        payloadBytes: num(row.payload_bytes),
        traceparent: strOrNull(row.traceparent),
      });
    }
    const read = new Set(waiting.map((r) => String(r.webhook_id)));
    for (const d of fresh) {
      if (!endpoints.has(d.webhookId)) continue;
      // Behind a backlog it read none of (another claim has it locked, or no room), a fresh
      // delivery waits its turn.
      if (older.has(d.webhookId) && !read.has(d.webhookId)) continue;
      sizes.set(d.eventId, d.payloadBytes);
      eventOf.set(d.id, {
        type: d.type,
        payload: d.payloadBytes <= inline ? d.payload : null,
        payloadBytes: d.payloadBytes,
        traceparent: d.traceparent,
      });
      candidates.push({
        deliveryId: d.id,
        accountId,
        webhookId: d.webhookId,
        eventId: d.eventId,
        orderingKey: d.orderingKey,
        attemptCount: 0,
        autoAttempts: 0,
        manual: false,
        waiting: false,
        ordered: d.ordered,
        createdAt: now,
      });
    }
    const plan = planClaim(candidates, endpoints, request, sizes);
    const due = new Map<string, number | null>();
    for (const id of plan.park) due.set(id, null);
    for (const d of plan.defer) due.set(d.deliveryId, d.dueAt);
    const leased: ClaimedDelivery[] = [];
    for (const c of plan.lease) {
      due.set(c.deliveryId, request.now + request.leaseMs);
      const webhook = endpoints.get(c.webhookId!)!.webhook;
      leased.push(toClaimed(c, webhook, eventOf.get(c.deliveryId)!, request));
    }
    const leaseIds = new Set(plan.lease.map((c) => c.deliveryId));
    const requeued = waiting
      .map((r) => String(r.id))
      .filter((id) => due.has(id))
      .map((id) => ({ id, dueAt: due.get(id)!, leased: leaseIds.has(id) }));
    return { due, leaseIds, buckets: plan.buckets, leased, requeued };
  }

  async readPayloads(eventIds: readonly string[]): Promise<Map<string, string>> {
    const rows = await this.query('SELECT id, payload FROM events WHERE id = ANY($1::text[])', [
      [...eventIds],
    ]);
    return new Map(rows.map((r) => [String(r.id), String(r.payload)]));
  }

  /**
   * When a claim could next lease something: the earliest due time of an endpoint with room,
   * or of one at its cap (the cap of the last claim), the earliest end of its leases. Finished
   * attempts wake the workers when their endpoint has more due (completeAttempts), so a capped
   * backlog is not polled for. Walks at most NEXT_DUE_PAIRS endpoints with anything
   * scheduled; cut short, the earliest of those (the worker's poll interval bounds the rest).
   * An endpoint's leases are counted as its claims count them, live at the last claim's time
   * (a lease that ended since is due, and answers with a time already past either way): with
   * the lease's end in the condition, the count reads the index of leases. Without it the
   * planner, on young statistics, read every delivery of the endpoint instead (EXPLAIN during
   * the bench: 10,974 buffers for ten endpoints; pg_stat_statements: 23.6-30.8 ms a call on
   * average, and in one PostgreSQL burst a third of all the statements' time).
   */
  async nextDueAt(): Promise<number | null> {
    // The last claim left deliveries due that it could have leased but for its limit, its
    // origins' room (an origin at RIZLER_MAX_IN_FLIGHT_PER_ORIGIN) or its byte budget, and
    // nothing of this process has begun or ended on the engine since (a completion may have
    // parked them): due now, as the statement would answer, having walked every endpoint's
    // leases for it (2.3 ms a call on average through a burst to ten endpoints on one origin,
    // 36 calls in 20,000 deliveries: 5 % of PostgreSQL's execution time with one worker).
    if (this.leftDue?.activity === this.h.activity) return this.claimNow;
    // Endpoints the last claim skipped are held by a transaction that is leasing for them or
    // recording their attempts: they may have room as soon as it commits, and a completion
    // that leaves more due wakes every worker. Looking again shortly costs a claim; asking
    // cost this statement, which answered "due now" for them: with two worker processes on
    // ten endpoints (bench), 220 of it and 290 claims that leased nothing, in a burst of
    // 20,000, where one worker ran it a few times.
    if (this.skippedHeld) return this.claimNow + HELD_RETRY_MS;
    const [row] = await this.query(NEXT_DUE, [NEXT_DUE_PAIRS, this.claimCap, this.claimNow]);
    return numOrNull(row?.t);
  }
}
