// What the OpenAPI document says about each operation beyond its schemas: a stable
// operationId (SDK generators name methods after it; never rename one), its tag, the answers
// every route shares (503 while the database is unreachable), a `security` of [] on public
// routes, and examples. One table keyed by "METHOD /path", applied by an onRoute hook, so route
// files stay about behaviour. test/api/openapi.test.ts fails on a documented route missing
// here: add a row with each new route.
import type { RouteOptions } from 'fastify';
import { errorResponses } from './schemas.js';

export interface OperationDoc {
  operationId: string;
  tag:
    | 'operations'
    | 'accounts'
    | 'api keys'
    | 'audit log'
    | 'webhooks'
    | 'events'
    | 'deliveries'
    | 'dashboard';
  /** false: the route never reads the database, so it never answers 503. */
  usesDatabase?: boolean;
  /** An example request body. */
  body?: unknown;
  /** An example of the success answer, keyed by its status. */
  answer?: [status: number, example: unknown];
}

const WEBHOOK = {
  id: 'wh_2Yh3kQ1b9cZ7mN4pR6sT8vW0xA',
  url: 'https://crm.example.com/hooks/rizler',
  description: 'CRM sync',
  events: ['call.*'],
  status: 'enabled',
  disabled_reason: null,
  rate_limit_per_minute: null,
  throttle: { state: 'normal', max_in_flight: 4096, reason: null, since: null },
  headers: { 'X-Team': 'sales' },
  filter: { data: { direction: 'inbound', duration: { $gte: 60 } } },
  ordering: 'per_key',
  created_at: '2026-01-15T10:30:00.000Z',
  updated_at: '2026-01-15T10:30:00.000Z',
};
const CALL_ENDED = {
  event: 'call.ended',
  data: { call_id: 'call_123456', agent_id: 'agent_789', duration: 180, status: 'completed' },
};
const PUBLISHED = {
  id: 'evt_2Yh3kQ1b9cZ7mN4pR6sT8vW0xB',
  event: 'call.ended',
  timestamp: '2026-01-15T10:30:00.000Z',
  deliveries: 2,
};
const ACCOUNT = {
  id: 'acc_2Yh3kQ1b9cZ7mN4pR6sT8vW0xC',
  name: 'Acme Support',
  status: 'active',
  limits: {
    max_endpoints: 10,
    api_rate_limit_per_minute: 1000,
    endpoint_rate_limit_per_minute: 1000,
    publish_rate_limit_per_minute: null,
  },
  usage: { endpoints: 2 },
  created_at: '2026-01-15T10:30:00.000Z',
};
const API_KEY = {
  id: 'key_2Yh3kQ1b9cZ7mN4pR6sT8vW0xF',
  name: 'CRM sync (read only)',
  scopes: ['read'],
  prefix: 'rzk_Xy7Qp',
  created_at: '2026-01-15T10:30:00.000Z',
  expires_at: null,
  last_used_at: null,
};
const AUDIT_ENTRY = {
  id: 'aud_2Yh3kQ1b9cZ7mN4pR6sT8vW0xG',
  at: '2026-01-15T10:31:00.000Z',
  actor: { type: 'portal_session', id: 'ps_2Yh3kQ1b9cZ7mN4pR6sT8vW0xH' },
  action: 'webhook.updated',
  target_id: WEBHOOK.id,
  changes: { status: { old: 'enabled', new: 'disabled' } },
};

export const OPERATIONS: Record<string, OperationDoc> = {
  'GET /healthz': { operationId: 'getHealth', tag: 'operations', usesDatabase: false },
  'GET /readyz': { operationId: 'getReadiness', tag: 'operations' },
  'GET /metrics': { operationId: 'getMetrics', tag: 'operations', usesDatabase: false },
  'POST /v1/accounts': {
    operationId: 'createAccount',
    tag: 'accounts',
    body: { name: 'Acme Support' },
    answer: [
      201,
      {
        id: 'acc_2Yh3kQ1b9cZ7mN4pR6sT8vW0xC',
        name: 'Acme Support',
        api_key: 'rzk_…',
        created_at: '2026-01-15T10:30:00.000Z',
      },
    ],
  },
  'GET /v1/account': { operationId: 'getCurrentAccount', tag: 'accounts' },
  'GET /v1/accounts': {
    operationId: 'listAccounts',
    tag: 'accounts',
    answer: [200, { data: [ACCOUNT], next_cursor: null }],
  },
  'GET /v1/accounts/:id': { operationId: 'getAccount', tag: 'accounts', answer: [200, ACCOUNT] },
  'PATCH /v1/accounts/:id': {
    operationId: 'updateAccount',
    tag: 'accounts',
    body: { status: 'suspended', limits: { publish_rate_limit_per_minute: 600 } },
  },
  'DELETE /v1/accounts/:id': { operationId: 'deleteAccount', tag: 'accounts' },
  'POST /v1/accounts/:id/events': {
    operationId: 'publishEventForAccount',
    tag: 'accounts',
    body: CALL_ENDED,
    answer: [202, PUBLISHED],
  },
  'POST /v1/accounts/:id/events/batch': {
    operationId: 'publishEventBatchForAccount',
    tag: 'accounts',
    body: { events: [CALL_ENDED] },
    answer: [202, { data: [PUBLISHED] }],
  },
  'POST /v1/accounts/:id/portal-sessions': {
    operationId: 'createPortalSession',
    tag: 'accounts',
    body: { expires_in: 3600, read_only: false },
    answer: [
      201,
      {
        url: 'https://hooks.example.com/portal#token=rzp_…',
        token: 'rzp_…',
        expires_at: '2026-01-15T11:30:00.000Z',
      },
    ],
  },
  'GET /v1/accounts/:id/audit-log': { operationId: 'listAccountAuditLog', tag: 'accounts' },
  'GET /v1/api-keys': {
    operationId: 'listApiKeys',
    tag: 'api keys',
    answer: [200, { data: [API_KEY], next_cursor: null }],
  },
  'POST /v1/api-keys': {
    operationId: 'createApiKey',
    tag: 'api keys',
    body: { name: API_KEY.name, scopes: API_KEY.scopes },
    answer: [201, { ...API_KEY, key: 'rzk_…' }],
  },
  'DELETE /v1/api-keys/:id': { operationId: 'revokeApiKey', tag: 'api keys' },
  'GET /v1/audit-log': {
    operationId: 'listAuditLog',
    tag: 'audit log',
    answer: [200, { data: [AUDIT_ENTRY], next_cursor: null }],
  },
  'GET /v1/dashboard-settings': {
    operationId: 'getDashboardSettings',
    tag: 'dashboard',
    usesDatabase: false,
  },
  'POST /v1/webhooks': {
    operationId: 'createWebhook',
    tag: 'webhooks',
    body: {
      url: WEBHOOK.url,
      events: ['call.*'],
      description: 'CRM sync',
      headers: WEBHOOK.headers,
      filter: WEBHOOK.filter,
      ordering: 'per_key',
    },
    answer: [201, { ...WEBHOOK, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }],
  },
  'GET /v1/webhooks': {
    operationId: 'listWebhooks',
    tag: 'webhooks',
    answer: [200, { data: [WEBHOOK], next_cursor: null }],
  },
  'GET /v1/webhooks/:id': { operationId: 'getWebhook', tag: 'webhooks', answer: [200, WEBHOOK] },
  'PATCH /v1/webhooks/:id': {
    operationId: 'updateWebhook',
    tag: 'webhooks',
    body: { status: 'disabled' },
  },
  'DELETE /v1/webhooks/:id': { operationId: 'deleteWebhook', tag: 'webhooks' },
  'GET /v1/webhooks/:id/secret': {
    operationId: 'getWebhookSecret',
    tag: 'webhooks',
    answer: [200, { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }],
  },
  'POST /v1/webhooks/:id/secret/rotate': {
    operationId: 'rotateWebhookSecret',
    tag: 'webhooks',
    body: {},
  },
  'POST /v1/webhooks/:id/test': {
    operationId: 'testWebhook',
    tag: 'webhooks',
    body: { event: 'call.ended' },
    answer: [
      200,
      {
        success: true,
        status_code: 200,
        duration_ms: 84,
        response_body: 'ok',
        error: null,
        delivery_id: 'dlv_2Yh3kQ1b9cZ7mN4pR6sT8vW0xD',
        event_id: 'evt_2Yh3kQ1b9cZ7mN4pR6sT8vW0xE',
      },
    ],
  },
  'POST /v1/webhooks/test': {
    operationId: 'testWebhookUrl',
    tag: 'webhooks',
    body: { url: WEBHOOK.url, event: 'call.ended' },
  },
  'GET /v1/webhooks/:id/stats': { operationId: 'getWebhookStats', tag: 'webhooks' },
  'GET /v1/webhooks/stats': { operationId: 'listWebhookStats', tag: 'webhooks' },
  'POST /v1/webhooks/:id/recover': {
    operationId: 'recoverWebhook',
    tag: 'webhooks',
    body: { since: '2026-01-15T00:00:00Z' },
  },
  'GET /v1/event-types': { operationId: 'listEventTypes', tag: 'events', usesDatabase: false },
  'POST /v1/events': {
    operationId: 'publishEvent',
    tag: 'events',
    body: CALL_ENDED,
    answer: [202, PUBLISHED],
  },
  'GET /v1/events': { operationId: 'listEvents', tag: 'events' },
  'POST /v1/events/batch': {
    operationId: 'publishEventBatch',
    tag: 'events',
    body: { events: [CALL_ENDED] },
    answer: [202, { data: [PUBLISHED] }],
  },
  'GET /v1/events/:id': { operationId: 'getEvent', tag: 'events' },
  'GET /v1/deliveries': { operationId: 'listDeliveries', tag: 'deliveries' },
  'GET /v1/deliveries/:id': { operationId: 'getDelivery', tag: 'deliveries' },
  'POST /v1/deliveries/:id/retry': { operationId: 'retryDelivery', tag: 'deliveries' },
  'GET /v1/stream/events': { operationId: 'streamEvents', tag: 'events' },
  'GET /v1/stream/deliveries': { operationId: 'streamDeliveries', tag: 'deliveries' },
  'POST /v1/listen/attempts': { operationId: 'recordListenAttempt', tag: 'deliveries' },
};

/** The document's top level: where the API is, and what each tag holds. */
export const DOCUMENT = {
  servers: [{ url: 'http://localhost:8080', description: '`npm start` on this machine' }],
  tags: [
    { name: 'webhooks', description: 'Endpoints: register, change, test, rotate secrets' },
    { name: 'events', description: 'Publish events and read the event log and catalogue' },
    { name: 'deliveries', description: 'Delivery logs, every attempt, manual retries' },
    {
      name: 'accounts',
      description: "Accounts: the operator's API (admin token) and the calling account's own view",
    },
    { name: 'api keys', description: "An account's API keys and their scopes" },
    { name: 'audit log', description: 'Every change to the account, its keys and webhooks' },
    { name: 'dashboard', description: "The dashboard's branding, set by the operator" },
    { name: 'operations', description: 'Health, readiness and metrics' },
  ],
};

type RouteSchema = NonNullable<RouteOptions['schema']> & Record<string, unknown>;

/** Adds the table's row for `route` to its schema; routes not in the table are left alone. */
export function documentRoute(route: RouteOptions): void {
  const schema = route.schema as RouteSchema | undefined;
  if (!schema || schema.hide) return;
  for (const method of [route.method].flat()) {
    const doc = OPERATIONS[`${method} ${route.url}`];
    if (!doc) continue;
    schema.operationId = doc.operationId;
    schema.tags ??= [doc.tag];
    schema.security ??= [];
    const response = { ...(schema.response as Record<string, unknown> | undefined) };
    if (doc.usesDatabase !== false) Object.assign(response, errorResponses(503), response);
    if (doc.answer) {
      const [status, example] = doc.answer;
      const answer = response[status];
      if (answer && typeof answer === 'object') {
        response[status] = { ...answer, examples: [example] };
      }
    }
    schema.response = response;
    if (doc.body !== undefined && schema.body && typeof schema.body === 'object') {
      schema.body = { ...schema.body, examples: [doc.body] };
    }
  }
}

/** JSON Schema keywords OpenAPI 3.0 does not know; the validator keeps them, the document not. */
const NOT_IN_OPENAPI_30 = new Set(['propertyNames']);

function withoutUnknownKeywords(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutUnknownKeywords);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) {
    if (!NOT_IN_OPENAPI_30.has(key)) out[key] = withoutUnknownKeywords(child);
  }
  return out;
}

/** @fastify/swagger's transform: the route's schema as the document shows it. */
export function documentSchema<T extends { schema: unknown; url: string }>(route: T) {
  return { schema: withoutUnknownKeywords(route.schema), url: route.url } as {
    schema: T['schema'];
    url: string;
  };
}
