// Fair share inside one claim, shared by both engines: when a claim finds more deliveries it
// could lease than it may take, it takes them in turn across accounts, and within an account
// in turn across its endpoints, instead of strictly by due time. One account's backlog then
// costs every other account one turn per round, not its whole length.
//
// Across claims: each claim reads the due deliveries of the next accounts in turn (a cursor
// that rotates over the accounts with deliveries due, per process), a share of the claim's
// window each, rather than the head of one global due order where a backlog of 30,000 put
// another account's new delivery 470 claims back. Within an account, an endpoint at its cap
// must not stand in front of the others: SQLite reads each account's endpoints in turn from an
// index by endpoint and skips one at its cap with a seek (sqlite/claim.ts); PostgreSQL takes
// its due backlog off the due index (held, claim-plan.ts).

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
  /** Rows of a saturated endpoint held per claim: bounded so no claim stalls the process. */
  holdChunk: 64,
};

/** The share of a claim's window each account in turn reads. */
export function perAccount(window: number, accounts: number): number {
  return Math.max(ROTATION.minPerAccount, Math.ceil(window / Math.max(1, accounts)));
}

export interface Shareable {
  accountId: string;
  webhookId: string | null;
}

/**
 * Round robin over accounts (in order of their first item), and within each account over its
 * endpoints (likewise); each endpoint's items keep their order. Returns at most `limit`.
 */
export function fairOrder<T extends Shareable>(items: readonly T[], limit: number): T[] {
  if (items.length <= limit) return [...items];
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
      picked.push(item);
      took = true;
      if (picked.length === limit) break;
    }
    if (!took) break;
  }
  return picked;
}
