// Fair share across claims and inside one, shared by both engines.
//
// Across claims: each claim walks the accounts with deliveries scheduled, in turn from a
// cursor that rotates over them (per process), and within each account its endpoints in turn
// from where that account's last walk stopped (takeInTurn). It reads of each endpoint only as
// many due deliveries as the endpoint has room for under its in-flight cap, so an endpoint at
// its cap costs one index probe, never a read of its backlog and never a write. A backlog of
// 30,000 in one account then costs another account's new delivery one turn, where a claim in
// global due order put it 470 claims back.
//
// Inside one claim: when it finds more deliveries it could lease than it may take, it takes
// them in turn across accounts, and within an account in turn across its endpoints (fairOrder),
// instead of strictly by due time.
/** Where the rotation over accounts stands, per engine instance (per process). */
export interface Rotation {
  cursor: string;
  /** Per account whose last walk over its endpoints was cut short: where it stopped. */
  endpoints?: Map<string, string>;
}

export const ROTATION = {
  /** Accounts with deliveries due that one claim takes from. */
  accounts: 16,
  /**
   * Index seeks a claim spends finding them: accounts, and endpoints within them (those with
   * only future deliveries, or at their cap, count too).
   */
  maxVisits: 256,
  /** Fewest candidates read per account (and per endpoint, in a claim's first pass). */
  minPerAccount: 8,
};

/**
 * Visits ids in turn, from the one after `start` on, wrapping around to the first and ending
 * with `start` itself; each once, until `visit` says stop or they run out. `next(after)` is the
 * id after one (`''`: the first), null past the last.
 */
export function inTurn(
  start: string,
  next: (after: string) => string | null,
  visit: (id: string) => boolean,
): void {
  let cursor = start;
  let wrapped = false;
  for (;;) {
    const id = next(cursor);
    if (id === null || (wrapped && id > start)) {
      if (wrapped || start === '') return;
      wrapped = true;
      cursor = '';
      continue;
    }
    cursor = id;
    if (!visit(id) || (wrapped && id === start)) return;
  }
}

/** What a claim's walk reads: the engine's index by endpoint of scheduled deliveries. */
export interface TurnSource {
  /** The next account after `after` (in id order) with anything scheduled; null past the last. */
  nextAccount(after: string): string | null;
  /** The next endpoint of an account after `after` with anything scheduled; null past the last. */
  nextEndpoint(accountId: string, after: string): string | null;
  /** Takes up to `n` due deliveries of the account whose endpoint is gone; how many it took. */
  takeOrphans(accountId: string, n: number): number;
  /**
   * Takes up to `n` of an endpoint's deliveries due now, in due order, after the first
   * `offset` (taken already); how many it took.
   */
  take(accountId: string, webhookId: string, n: number, offset: number): number;
}

/**
 * Takes up to `window` due deliveries in turn across the accounts with deliveries scheduled
 * (the rotation's cursor) and, within each account, across its endpoints, each endpoint only
 * as many as `roomOf` says it has room for. `already` counts the deliveries of each endpoint
 * the caller took first (they come at the front of the endpoint's due order, so they are
 * skipped); it is updated with what this takes.
 *
 * A first pass takes up to ROTATION.minPerAccount of each endpoint in turn (at most
 * ROTATION.maxVisits steps over accounts and endpoints, from at most ROTATION.accounts
 * accounts); a second divides what is left of the window among the endpoints that had more.
 * Returns how many it took.
 */
export function takeInTurn(
  source: TurnSource,
  rotation: Rotation,
  window: number,
  roomOf: (webhookId: string) => number,
  already: Map<string, number> = new Map(),
): number {
  let taken = 0;
  const more: { accountId: string; webhookId: string; room: number }[] = [];
  const take = (accountId: string, webhookId: string, n: number): number => {
    const offset = already.get(webhookId) ?? 0;
    const got = source.take(accountId, webhookId, n, offset);
    already.set(webhookId, offset + got);
    taken += got;
    return got;
  };
  let visits = 0;
  /** One account's endpoints in turn, from where its last walk stopped. */
  const walkEndpoints = (accountId: string): void => {
    taken += source.takeOrphans(accountId, ROTATION.minPerAccount);
    const start = rotation.endpoints?.get(accountId) ?? '';
    rotation.endpoints?.delete(accountId);
    inTurn(
      start,
      (after) => {
        visits++;
        return source.nextEndpoint(accountId, after);
      },
      (id) => {
        const room = roomOf(id) - (already.get(id) ?? 0);
        const n = Math.min(room, ROTATION.minPerAccount);
        if (n > 0 && take(accountId, id, n) === n && room > n) {
          more.push({ accountId, webhookId: id, room: room - n });
        }
        if (visits < ROTATION.maxVisits && taken < window) return true;
        // Cut short: the next claim goes on from here.
        (rotation.endpoints ??= new Map()).set(accountId, id);
        return false;
      },
    );
  };

  let accounts = 0;
  let lastWithRows: string | null = null;
  let lastVisited: string | null = null;
  inTurn(
    rotation.cursor,
    (after) => {
      visits++;
      return source.nextAccount(after);
    },
    (id) => {
      const before = taken;
      lastVisited = id;
      walkEndpoints(id);
      if (taken > before) {
        accounts++;
        lastWithRows = id;
      }
      return accounts < ROTATION.accounts && visits < ROTATION.maxVisits && taken < window;
    },
  );
  // The next claim starts after the last account served; when none was, after the last one
  // looked at, so accounts with nothing due now never hold the turn.
  const cursor = lastWithRows ?? lastVisited;
  if (cursor !== null) rotation.cursor = cursor;

  // What is left of the window, shared among the endpoints that had more.
  let queue = more;
  while (queue.length > 0 && taken < window) {
    const share = Math.max(1, Math.ceil((window - taken) / queue.length));
    const next: typeof queue = [];
    for (const e of queue) {
      const n = Math.min(share, e.room, window - taken);
      if (n <= 0) break;
      if (take(e.accountId, e.webhookId, n) === n && e.room > n) {
        next.push({ ...e, room: e.room - n });
      }
    }
    queue = next;
  }
  return taken;
}

export interface Shareable {
  accountId: string;
  webhookId: string | null;
}

/**
 * Round robin over accounts (in order of their first item), and within each account over its
 * endpoints (likewise); each endpoint's items keep their order. Returns at most `limit`, and
 * with `admit`, only the items it admits, asked in that order.
 */
export function fairOrder<T extends Shareable>(
  items: readonly T[],
  limit: number,
  admit?: (item: T) => boolean,
): T[] {
  if (items.length <= limit && !admit) return [...items];
  const accounts = new Map<string, Map<string, T[]>>();
  for (const item of items) {
    let endpoints = accounts.get(item.accountId);
    if (!endpoints) accounts.set(item.accountId, (endpoints = new Map()));
    const key = item.webhookId ?? '';
    let queue = endpoints.get(key);
    if (!queue) endpoints.set(key, (queue = []));
    queue.push(item);
  }
  // Per account: its endpoints' queues interleaved, one item of each in turn.
  const perAccount = [...accounts.values()].map((endpoints) => {
    const queues = [...endpoints.values()];
    const out: T[] = [];
    for (let round = 0; out.length < items.length; round++) {
      let took = false;
      for (const queue of queues) {
        const item = queue[round];
        if (item !== undefined) {
          out.push(item);
          took = true;
        }
      }
      if (!took) break;
    }
    return out;
  });
  const picked: T[] = [];
  for (let round = 0; picked.length < limit; round++) {
    let took = false;
    for (const list of perAccount) {
      const item = list[round];
      if (item === undefined) continue;
      took = true;
      if (admit && !admit(item)) continue;
      picked.push(item);
      if (picked.length === limit) break;
    }
    if (!took) break;
  }
  return picked;
}
