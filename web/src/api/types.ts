// Shapes of the public REST API (SPEC §5) as the dashboard reads them.

export interface Account {
  id: string;
  name: string;
  limits: { max_endpoints: number; api_rate_limit_per_minute: number };
  usage: { endpoints: number };
  /** The credential the dashboard signed in with: what it may do, and until when. */
  access?: {
    type: 'api_key' | 'portal_session';
    scopes: string[];
    expires_at: string | null;
  };
}

export interface AuditEntry {
  id: string;
  at: string;
  actor: { type: 'api_key' | 'portal_session' | 'admin' | 'system'; id: string | null };
  action: string;
  target_id: string;
  changes: Record<string, { old: unknown; new: unknown }>;
}

export interface Branding {
  product_name: string;
  accent_color: string | null;
  logo_url: string | null;
}

export interface EventType {
  name: string;
  description: string;
  example: unknown;
  schema?: unknown;
  /** Published by Rizler itself (webhook.disabled, …); `*` does not cover it. */
  operational?: boolean;
}

export type WebhookStatus = 'enabled' | 'disabled';
export type DisabledReason = 'manual' | 'failing' | 'gone';

export interface Webhook {
  id: string;
  url: string;
  description: string | null;
  events: string[];
  status: WebhookStatus;
  disabled_reason: DisabledReason | null;
  rate_limit_per_minute: number | null;
  throttle: WebhookThrottle;
  /** Custom headers; in lists, credential-like values come masked. */
  headers?: Record<string, string>;
  filter?: Record<string, unknown> | null;
  /** SPEC §10: per_key delivers each ordering key's deliveries one at a time, in order. */
  ordering?: WebhookOrdering;
  created_at: string;
  updated_at: string;
  /** Only in the answer to a create. */
  secret?: string;
}

/** The workers' adaptive concurrency towards the endpoint (SPEC §4, issue 18). */
export interface WebhookThrottle {
  state: 'normal' | 'throttled';
  max_in_flight: number;
  reason: 'timeouts' | 'overloaded' | 'errors' | null;
  since: string | null;
}

export type WebhookOrdering = 'none' | 'per_key';

export interface WebhookInput {
  url?: string;
  events?: string[];
  secret?: string;
  status?: WebhookStatus;
  description?: string | null;
  rate_limit_per_minute?: number | null;
  headers?: Record<string, string>;
  filter?: Record<string, unknown> | null;
  ordering?: WebhookOrdering;
}

export interface List<T> {
  data: T[];
  next_cursor: string | null;
}

export type StatsWindow = '1h' | '24h' | '7d';

export interface StatsBucket {
  start: string;
  deliveries: number;
  succeeded: number;
  failed: number;
  pending: number;
  p50: number | null;
  p95: number | null;
}

export interface WebhookStats {
  window: StatsWindow;
  deliveries: number;
  succeeded: number;
  failed: number;
  pending: number;
  success_rate: number | null;
  response_time_ms: { p50: number | null; p95: number | null; p99: number | null };
  last_delivery_at?: string | null;
  bucket_seconds?: number;
  series?: StatsBucket[];
}

/** An item of GET /v1/webhooks/stats: one endpoint's figures, without the series. */
export interface WebhookStatsItem extends WebhookStats {
  webhook_id: string;
}

export interface TestResult {
  success: boolean;
  status_code: number | null;
  duration_ms: number | null;
  response_body: string | null;
  error: string | null;
  delivery_id?: string | null;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed';

export interface Delivery {
  id: string;
  webhook_id: string | null;
  event_id: string;
  event: string;
  /** SPEC §10: the event's ordering key, or null. */
  ordering_key?: string | null;
  status: DeliveryStatus;
  attempt_count: number;
  last_status_code: number | null;
  last_duration_ms: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  /** On a per_key webhook: the delivery at the head of its key that must finish first. */
  waiting_for?: string | null;
  created_at: string;
  updated_at: string;
  test?: boolean;
  url?: string;
}

export type AttemptTrigger = 'auto' | 'manual' | 'test';

export interface Attempt {
  attempt: number;
  trigger: AttemptTrigger;
  started_at: string;
  duration_ms: number | null;
  status_code: number | null;
  response_body: string | null;
  error: string | null;
}

export interface DeliveryDetail extends Delivery {
  request?: { headers: Record<string, string>; body: string } | null;
  attempts: Attempt[];
}
