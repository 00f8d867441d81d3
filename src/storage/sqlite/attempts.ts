// The SQLite engine's stored attempts: one row per attempt, kept only while its delivery is.
import type { Attempt } from '../types.js';
import type { Stmt } from './connection.js';

/** Inserts the attempt when its delivery still exists; returns whether it did. */
export function insertAttempt(stmt: Stmt, attempt: Attempt, webhookId: string | null): boolean {
  return (
    stmt(
      `INSERT INTO attempts (delivery_id, webhook_id, attempt, trigger, url, started_at,
         duration_ms, status_code, response_body, error, request_headers)
       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
       WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?)`,
    ).run(
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
      JSON.stringify(attempt.requestHeaders),
      attempt.deliveryId,
    ).changes > 0
  );
}
