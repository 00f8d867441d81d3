// This process's transactions on each account's endpoint rows (a publish's hand-off, a claim),
// so that a publish can wait for one of its own process's to end rather than skip the rows it
// holds (claim.ts locks them with SKIP LOCKED): skipped, the publish's deliveries are left due
// for a claim, and that claim's transaction holds the rows in turn, so that the next publish
// skips them too. At 200 events/s to one endpoint (bench, PostgreSQL's latency row, one
// `serve`), 1.6-5.9 % of the publishes found their endpoint held (seven runs); their deliveries
// went by claims (p50 10 ms from the publish in one run), and in another were 90 of the slowest
// 119 of 5,967.

/** How long a publish waits at most; then it goes ahead and skips what is still held. */
export const WAIT_MAX_MS = 25;

interface Holders {
  /** Transactions of this process holding (or about to lock) the account's endpoints. */
  count: number;
  /** The one publish waiting for them to end, if any. */
  next: (() => void) | null;
}

/** Releases a hold; calling it again does nothing. */
export type Release = () => void;

export class LocalHolds {
  private readonly accounts = new Map<string, Holders>();

  constructor(private readonly waitMaxMs = WAIT_MAX_MS) {}

  /** Counts a transaction about to lock endpoints of `accountIds` (a claim: it never waits). */
  hold(accountIds: Iterable<string>): Release {
    const held = [...new Set(accountIds)];
    for (const id of held) this.holders(id).count++;
    return once(() => {
      for (const id of held) this.release(id);
    });
  }

  /**
   * A publish's turn on an account's endpoints: at once when no transaction of this process
   * holds them, or when another publish waits already (it goes ahead and skips what is held,
   * so that publishes never queue up one behind another); otherwise after they end, or after
   * waitMaxMs, whichever comes first.
   */
  async turn(accountId: string): Promise<Release> {
    const release = once(() => this.release(accountId));
    const holders = this.holders(accountId);
    if (holders.count === 0 || holders.next !== null) {
      holders.count++;
      return release;
    }
    const handedOver = await new Promise<boolean>((resolve) => {
      const go = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        if (holders.next === go) holders.next = null;
        resolve(false);
      }, this.waitMaxMs);
      holders.next = go;
    });
    // Handed over, the last holder's release counted this one in; otherwise it counts itself
    // (in the entry there is now: the one it waited on may have ended meanwhile).
    if (!handedOver) this.holders(accountId).count++;
    return release;
  }

  /** Accounts with a hold or a waiter (tests read it: nothing is left behind). */
  get size(): number {
    return this.accounts.size;
  }

  private holders(accountId: string): Holders {
    let holders = this.accounts.get(accountId);
    if (!holders) this.accounts.set(accountId, (holders = { count: 0, next: null }));
    return holders;
  }

  private release(accountId: string): void {
    const holders = this.accounts.get(accountId);
    if (!holders) return;
    holders.count--;
    if (holders.count > 0) return;
    const next = holders.next;
    if (next === null) {
      this.accounts.delete(accountId);
      return;
    }
    // Handed over: the waiting publish holds the endpoints from here.
    holders.next = null;
    holders.count = 1;
    next();
  }
}

function once(fn: () => void): Release {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
