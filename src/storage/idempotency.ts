// An Idempotency-Key names one event for 24 h. A repeat with the same type and data returns
// that event; a repeat with another type or data is a client bug (a key reused for a new
// event), answered 409 idempotency_conflict rather than dropping the new event in silence.
// Both engines call sameEvent inside their publish transaction, so a conflict in a batch
// stores nothing of it.
import type { NewEvent, StoredEvent } from './types.js';

export class IdempotencyConflictError extends Error {
  constructor(readonly key: string) {
    super(`idempotency key ${JSON.stringify(key)} names another event`);
    this.name = 'IdempotencyConflictError';
  }
}

/** JSON with object keys sorted: the same data written in another key order compares equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const dataOf = (payload: string): unknown => (JSON.parse(payload) as { data: unknown }).data;

/** Same type and same data (the id and timestamp of a repeat differ by design). */
export function sameEvent(
  stored: Pick<StoredEvent, 'type' | 'payload'>,
  incoming: Pick<NewEvent, 'type' | 'payload'>,
): boolean {
  if (stored.type !== incoming.type) return false;
  if (stored.payload === incoming.payload) return true;
  return canonical(dataOf(stored.payload)) === canonical(dataOf(incoming.payload));
}
