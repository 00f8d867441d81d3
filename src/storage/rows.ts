// Rows to domain objects, shared by both engines. SQLite hands back JSON as text and booleans
// as 0/1, PostgreSQL jsonb as values and booleans as booleans: each reader takes either.
import { readHeaders } from '../core/request-headers.js';
import { throttleOf } from './throttle.js';
import type { Account, Attempt, Delivery, StoredEvent, Webhook } from './types.js';

export type Row = Record<string, unknown>;

export function num(value: unknown): number {
  return Number(value);
}
export function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}
export function strOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}
export function bool(value: unknown): boolean {
  return value === true || value === 1;
}
export function json<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

export function toAccount(row: Row): Account {
  return {
    id: String(row.id),
    name: String(row.name),
    status: row.status === 'suspended' ? 'suspended' : 'active',
    limits: {
      maxEndpoints: numOrNull(row.max_endpoints),
      apiRateLimitPerMinute: numOrNull(row.api_rate_limit_per_minute),
      publishRateLimitPerMinute: numOrNull(row.publish_rate_limit_per_minute),
      endpointRateLimitPerMinute: numOrNull(row.endpoint_rate_limit_per_minute),
    },
    createdAt: num(row.created_at),
  };
}

export function toWebhook(row: Row): Webhook {
  return {
    id: String(row.id),
    accountId: String(row.account_id),
    url: String(row.url),
    description: strOrNull(row.description),
    events: json<string[]>(row.events),
    status: row.status as Webhook['status'],
    disabledReason: (row.disabled_reason ?? null) as Webhook['disabledReason'],
    rateLimitPerMinute: numOrNull(row.rate_limit_per_minute),
    accountRateLimitPerMinute: numOrNull(row.account_rate_limit_per_minute),
    sealedSecret: String(row.secret),
    sealedPreviousSecret: strOrNull(row.previous_secret),
    previousSecretExpiresAt: numOrNull(row.previous_secret_expires_at),
    throttle: throttleOf(row),
    headers: row.headers === undefined ? {} : json<Record<string, string>>(row.headers),
    filter: row.filter === null || row.filter === undefined ? null : json(row.filter),
    ordering: row.ordering === 'per_key' ? 'per_key' : 'none',
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
  };
}

export function toEvent(row: Row): StoredEvent {
  return {
    id: String(row.id),
    accountId: String(row.account_id),
    type: String(row.type),
    timestamp: String(row.timestamp),
    payload: String(row.payload),
    orderingKey: strOrNull(row.ordering_key),
    test: bool(row.test),
    traceparent: strOrNull(row.traceparent),
    createdAt: num(row.created_at),
  };
}

export function toDelivery(row: Row): Delivery {
  return {
    id: String(row.id),
    accountId: String(row.account_id),
    webhookId: strOrNull(row.webhook_id),
    eventId: String(row.event_id),
    eventType: String(row.event_type),
    orderingKey: strOrNull(row.ordering_key),
    url: String(row.url),
    status: row.status as Delivery['status'],
    attemptCount: num(row.attempt_count),
    lastStatusCode: numOrNull(row.last_status_code),
    lastDurationMs: numOrNull(row.last_duration_ms),
    lastError: strOrNull(row.last_error),
    nextAttemptAt: numOrNull(row.next_attempt_at),
    // a column only the delivery reads add (ordering.ts WAITING_FOR)
    waitingFor: strOrNull(row.waiting_for),
    test: bool(row.test),
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
  };
}

export function toAttempt(row: Row): Attempt {
  return {
    deliveryId: String(row.delivery_id),
    attempt: num(row.attempt),
    trigger: row.trigger as Attempt['trigger'],
    url: String(row.url),
    startedAt: num(row.started_at),
    durationMs: num(row.duration_ms),
    statusCode: numOrNull(row.status_code),
    responseBody: strOrNull(row.response_body),
    error: strOrNull(row.error),
    requestHeaders: readHeaders(row.request_headers, {
      deliveryId: String(row.delivery_id),
      attempt: num(row.attempt),
      startedAt: num(row.started_at),
    }),
  };
}
