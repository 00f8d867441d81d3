// The PostgreSQL engine's stored attempts: one row per attempt, kept only while its delivery
// is, inserted a batch at a time.
import type { NewAttempt } from '../types.js';

/**
 * The attempts ($1-$11, attemptColumns) of the deliveries still stored. `known`, when given,
 * is a set of deliveries the statement already knows are stored (a completion's, whose rows it
 * updated): their attempts are kept without looking each delivery up again, three buffer reads
 * each (bench/storage-loop.ts, pg_stat_statements: a completion of 100 read 2,096 buffers where
 * it read 2,396; its time within the machine's noise).
 */
export function insertAttempts(known?: string): string {
  const stored = 'coalesce((SELECT true FROM deliveries d WHERE d.id = u.delivery_id), false)';
  return `
  INSERT INTO attempts (delivery_id, webhook_id, attempt, trigger, url, started_at, duration_ms,
    status_code, response_body, error, request_headers)
  SELECT u.delivery_id, u.webhook_id, u.attempt, u.trigger, u.url, u.started_at, u.duration_ms,
    u.status_code, u.response_body, u.error, u.request_headers::json
  FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bigint[],
      $7::bigint[], $8::int[], $9::text[], $10::text[], $11::text[]) WITH ORDINALITY
    AS u(delivery_id, webhook_id, attempt, trigger, url, started_at, duration_ms, status_code,
      response_body, error, request_headers, ord)
  -- an attempt of a delivery deleted meanwhile (its endpoint was deleted) is not kept: nothing
  -- could show it and purge could never reach it (by key: Planning in connection.ts)
  WHERE ${known === undefined ? stored : `(u.delivery_id IN (${known}) OR ${stored})`}
  ORDER BY u.ord
  RETURNING delivery_id`;
}

export const INSERT_ATTEMPTS = insertAttempts();

export function attemptColumns(
  list: { attempt: NewAttempt; webhookId: string | null }[],
): unknown[] {
  return [
    list.map((a) => a.attempt.deliveryId),
    list.map((a) => a.webhookId),
    list.map((a) => a.attempt.attempt),
    list.map((a) => a.attempt.trigger),
    list.map((a) => a.attempt.url),
    list.map((a) => a.attempt.startedAt),
    list.map((a) => a.attempt.durationMs),
    list.map((a) => a.attempt.statusCode),
    list.map((a) => a.attempt.responseBody),
    list.map((a) => a.attempt.error),
    list.map((a) => a.attempt.requestHeaders),
  ];
}
