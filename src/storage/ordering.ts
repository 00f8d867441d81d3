// Ordered delivery per key (SPEC §10), shared by both engines: on a webhook with
// `ordering: "per_key"`, the deliveries that share an ordering key are attempted one at a time,
// in the order their events were accepted; a delivery goes out only once the one ahead of it has
// succeeded or failed for good. Pure: the engines read the inputs and write the result inside
// their publish and completion transactions (sqlite/ordering.ts, postgres/ordering.ts).
//
// How the rule is kept, without the claim ever reading a key's backlog:
// - Each ordered delivery carries `order_state` and `order_seq` (SQLite on the delivery's row,
//   PostgreSQL on its row in the delivery queue while it is pending). The key's `head` is the one
//   delivery that may be due: it is claimed, retried, deferred and leased like any other.
//   Every other delivery of the key is `waiting`: off the due index (due_at NULL), so no claim
//   sees it.
// - Acceptance order is `order_seq`, assigned in the publish transaction, under a lock on the
//   (webhook, key) pair held until commit: SQLite's single writer, PostgreSQL's transaction
//   advisory lock on the pair. Two publishes of one key (two API nodes) therefore commit one
//   after the other, and the second reads the first's seq: seq order is commit order.
// - When the head finishes for good (succeeded, or failed with its retries spent), the
//   completion that recorded it, under the same lock, promotes the waiting delivery with the
//   lowest seq to head, due now: one index seek per finished head. A completion whose lease was
//   lost (another worker has the delivery since) changes nothing, so it releases nothing.
// - kill -9 or lease expiry: the head's lease runs out and the head itself becomes due again;
//   the next stays waiting, so it never overtakes. Disabled endpoints, rate limits and the
//   per-endpoint cap act on the head only, as on any due delivery.
// - Manual retries and test sends are outside the order (SPEC §10): a manual retry of a waiting
//   delivery sends it at once and leaves it waiting unless it succeeds; a manual retry of the
//   head sends the head at once, and its success releases the key.
// - A key may briefly have more than one head after `ordering` was switched on while several of
//   its deliveries were in flight; the next waiting one goes out when the last head finishes.

export type Ordering = 'none' | 'per_key';
export type OrderState = 'head' | 'waiting';

/** A new delivery of an ordered webhook with a key, in the order the publish accepted it. */
export interface OrderedInsert {
  webhookId: string;
  orderingKey: string;
}

/** What the publish found of a (webhook, key) pair: the highest seq of its pending rows. */
export type KeyTails = ReadonlyMap<string, number | null>;

export interface OrderPlacement {
  state: OrderState;
  seq: number;
}

/** The map key of a (webhook, ordering key) pair. */
export function pairKey(webhookId: string, orderingKey: string): string {
  return `${webhookId}\u0000${orderingKey}`;
}

/** The pairs of a publish, distinct and sorted: locks are taken in this order (no deadlock). */
export function pairsOf(inserts: readonly OrderedInsert[]): OrderedInsert[] {
  const seen = new Map<string, OrderedInsert>();
  for (const i of inserts) seen.set(pairKey(i.webhookId, i.orderingKey), i);
  return [...seen.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, pair]) => pair);
}

/**
 * Places each new delivery in its key's order: the first of a key with nothing pending is the
 * head (due now); every other waits. Seqs continue from the key's highest pending one.
 */
export function placeNew(inserts: readonly OrderedInsert[], tails: KeyTails): OrderPlacement[] {
  const last = new Map<string, number | null>(tails);
  return inserts.map((i) => {
    const key = pairKey(i.webhookId, i.orderingKey);
    const tail = last.get(key) ?? null;
    const seq = (tail ?? 0) + 1;
    last.set(key, seq);
    return { state: tail === null ? 'head' : 'waiting', seq };
  });
}

/** A delivery that left `pending` in a completion, with its order state before. */
export interface FinishedDelivery {
  deliveryId: string;
  webhookId: string;
  orderingKey: string | null;
  orderState: OrderState | null;
}

/**
 * The keys a completion releases: those whose head finished. A waiting delivery that finished
 * (a manual retry that succeeded) leaves its key's order without releasing anything. Every
 * finished ordered delivery leaves the order (`leave`).
 */
export function releasesOf(finished: readonly FinishedDelivery[]): {
  leave: string[];
  release: OrderedInsert[];
} {
  const leave: string[] = [];
  const release: OrderedInsert[] = [];
  for (const f of finished) {
    if (f.orderState === null) continue;
    leave.push(f.deliveryId);
    if (f.orderState === 'head' && f.orderingKey !== null) {
      release.push({ webhookId: f.webhookId, orderingKey: f.orderingKey });
    }
  }
  return { leave, release: pairsOf(release) };
}
