// Fair share inside one claim, shared by both engines: when a claim finds more deliveries it
// could lease than it may take, it takes them in turn across accounts, and within an account
// in turn across its endpoints, instead of strictly by due time. One account's backlog then
// costs every other account one turn per round, not its whole length.
//
// Across claims, fairness comes from the held rows (claim-plan.ts): an endpoint over its cap
// has its whole due backlog taken off the due index at once, and its held rows come back at
// the tail of the due order as its attempts finish, so the due index holds about one cap's
// worth of each busy endpoint, and a newcomer is never behind another endpoint's backlog.

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
