// The SQLite engine's stored attempts: one row per attempt, kept only while its delivery is.
import type { NewAttempt } from '../types.js';
import type { Stmt } from './connection.js';

const COLUMNS = `delivery_id, webhook_id, attempt, trigger, url, started_at, duration_ms,
  status_code, response_body, error, request_headers`;

function values(attempt: NewAttempt, webhookId: string | null) {
  return [
    attempt.deliveryId,
    webhookId,
    attempt.attempt,
    attempt.trigger,
    attempt.url,
    attempt.startedAt,
    attempt.durationMs,
    attempt.statusCode,
    attempt.responseBody,
    attempt.error,
    attempt.requestHeaders,
  ];
}

/** Inserts the attempt when its delivery still exists; returns whether it did. */
export function insertAttempt(stmt: Stmt, attempt: NewAttempt, webhookId: string | null): boolean {
  return (
    stmt(
      `INSERT INTO attempts (${COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
       WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?)`,
    ).run(...values(attempt, webhookId), attempt.deliveryId).changes > 0
  );
}

/** Inserts the attempt of a delivery the same transaction has just found (and updated). */
export function insertFoundAttempt(
  stmt: Stmt,
  attempt: NewAttempt,
  webhookId: string | null,
): void {
  stmt(`INSERT INTO attempts (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
    ...values(attempt, webhookId),
  );
}
