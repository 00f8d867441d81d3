// The maintenance rules both engines share: the queue figures made from the engine's counts,
// and resealing every endpoint's secrets under a new key, a page of endpoints per transaction.
// Pure, or given the engine's reads and writes as functions: no I/O of its own.
import { num, numOrNull, type Row } from './rows.js';
import type { QueueStats } from './types.js';

/** The counts an engine reads for QueueStats, as its queries return them. */
export interface QueueCounts {
  /** `n`, `oldest`: due now. */
  due: Row;
  /** `n`: due later, the leased included (their due_at is their lease's end). */
  later: Row;
  /** `n`: leased. */
  inFlight: Row;
  /** `n`: held at their endpoint's cap. */
  held: Row;
  /** `t`: when the longest-throttled delivery fell due. */
  throttledSince: Row | undefined;
  /** `status`, `disabled_reason`, `n`: endpoints by state. */
  endpoints: Row[];
  /** `throttle_reason`, `n`: throttled endpoints by reason. */
  throttled: Row[];
}

export function queueStats(counts: QueueCounts): QueueStats {
  const endpoints: Record<string, number> = {};
  for (const row of counts.endpoints) {
    const key =
      row.status === 'enabled' ? 'enabled' : `disabled:${String(row.disabled_reason ?? 'manual')}`;
    endpoints[key] = (endpoints[key] ?? 0) + num(row.n);
  }
  const throttled: Record<string, number> = {};
  for (const row of counts.throttled) throttled[String(row.throttle_reason)] = num(row.n);
  return {
    throttled,
    due: num(counts.due.n),
    oldestDueAt: numOrNull(counts.due.oldest),
    inFlight: num(counts.inFlight.n),
    scheduled: num(counts.later.n) - num(counts.inFlight.n),
    held: num(counts.held.n),
    oldestThrottledAt: numOrNull(counts.throttledSince?.t),
    endpoints,
  };
}

/** Endpoints per reseal transaction. */
export const RESEAL_PAGE = 500;

export interface Resealed {
  id: string;
  secret: string;
  previousSecret: string | null;
}

/** The endpoints (`id`, `secret`, `previous_secret` rows) whose sealed secrets `reseal` changes. */
export function resealed(rows: Row[], reseal: (sealed: string) => string): Resealed[] {
  const out: Resealed[] = [];
  for (const row of rows) {
    const secret = reseal(String(row.secret));
    const previousSecret =
      row.previous_secret === null ? null : reseal(String(row.previous_secret));
    if (secret === row.secret && previousSecret === row.previous_secret) continue;
    out.push({ id: String(row.id), secret, previousSecret });
  }
  return out;
}

/**
 * Reseals every endpoint, in id order, a page at a time: `page(after)` reads up to RESEAL_PAGE
 * endpoints after that id, `write(changes)` stores a page's changes in one transaction and
 * returns how many it stored. Returns how many endpoints changed.
 */
export async function resealAll(
  reseal: (sealed: string) => string,
  page: (after: string) => Promise<Row[]>,
  write: (changes: Resealed[]) => Promise<number>,
): Promise<number> {
  let changed = 0;
  let after = '';
  for (;;) {
    const rows = await page(after);
    if (rows.length === 0) return changed;
    changed += await write(resealed(rows, reseal));
    after = String(rows[rows.length - 1]!.id);
  }
}
