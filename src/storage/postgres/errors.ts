// The PostgreSQL engine's errors: which failures mean "the database cannot be reached"
// (StorageUnavailableError, a 503) rather than a bad statement, and which a transaction may
// simply run again.
import { StorageUnavailableError } from '../types.js';

/** Socket-level failures: the database host, not the request, is at fault. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
]);

/**
 * SQLSTATEs that mean "not now" rather than "bad request": admin/crash shutdown (57P01,
 * 57P02), starting up (57P03), statement timeout or cancel (57014), read-only after a failover
 * to a standby (25006), out of connections, memory or disk (53xxx), I/O trouble (58xxx) and
 * every connection exception (08xxx).
 */
function unavailableSqlState(code: string): boolean {
  return (
    ['57P01', '57P02', '57P03', '57014', '25006'].includes(code) ||
    /^(08|53|58)[0-9A-Z]{3}$/.test(code)
  );
}

const UNAVAILABLE_MESSAGE =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|terminating connection|Connection refused|database system is (starting up|shutting down|in recovery mode)|Query read timeout/i;

/** Whether `err` says the database cannot be reached (as opposed to a bad statement). */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof StorageUnavailableError) return true;
  if (typeof err !== 'object' || err === null) return false;
  const { code, message, errors } = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || unavailableSqlState(code)))
    return true;
  if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return true;
  // Node's happy-eyeballs connect fails with an AggregateError of one error per address.
  if (Array.isArray(errors) && errors.length > 0) return errors.every(isUnavailable);
  return false;
}

export function toStorageError(err: unknown): unknown {
  if (err instanceof StorageUnavailableError || !isUnavailable(err)) return err;
  const detail = (err as { code?: unknown }).code ?? (err as Error).message;
  return new StorageUnavailableError(`the database cannot be reached (${String(detail)})`, {
    cause: err,
  });
}

/**
 * A prepared statement whose result columns a migration changed under it (another process
 * added a column to a table it reads with `*`): the connection's statements are stale, so it
 * is dropped, and the work runs again on a fresh one.
 */
export function stalePlan(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return (
    code === '0A000' && typeof message === 'string' && /cached plan must not change/.test(message)
  );
}

/**
 * deadlock_detected, serialization_failure, a stale prepared statement: the whole transaction
 * may simply run again.
 */
export function retryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001' || stalePlan(err);
}

/** A statement that undid itself (rizler_undo, migration 12): its caller does the work otherwise. */
export function undone(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'RZ001';
}
