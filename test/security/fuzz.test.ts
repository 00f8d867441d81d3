// Property-based fuzzing of every route over real HTTP, on SQLite and on PostgreSQL (a NUL byte
// once answered 404 on one and 500 on the other) (fetch against a real server, not
// inject): generated bodies, raw bytes, content types, headers, query strings and ids. Whatever
// comes in, the answer is never a 5xx, every 4xx carries the one error shape, no request hangs,
// only the real key gets in, and afterwards the normal reads still answer 200 (nothing stored
// breaks a later read).
//
// The worker is off (RIZLER_RUN_WORKER=false) so generated webhooks receive nothing; only test
// sends make requests, and every URL they can reach is on 127.0.0.1 (the receiver or a closed
// port). Generated strings never become an http(s) URL with a host name, so nothing is resolved.
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES, findEventType } from '../../src/core/event-catalogue.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { call, closedPort, expectErrorShape, expectHandled, type Sent } from './support.js';

const EXAMPLE = findEventType('call.ended')!.example;

// ---- what every route looks like -------------------------------------------------------------

interface Fixture {
  webhook: string;
  event: string;
  delivery: string;
  /** The fuzzed account (the operator's routes act on it) and one of its API keys. */
  account: string;
  apiKeyId: string;
  receiverUrl: string;
  closedUrl: string;
}

interface Route {
  method: string;
  path: string;
  auth: 'account' | 'admin' | 'none';
  /** A body this route would accept; its fields are what the body fuzz mutates. */
  body?: (f: Fixture) => Record<string, unknown>;
  /** `:id` in the path. */
  idOf?: keyof Pick<Fixture, 'webhook' | 'event' | 'delivery' | 'account' | 'apiKeyId'>;
  /** Query parameters the route reads. */
  query?: string[];
}

const validEvent = () => ({
  event: 'call.ended',
  data: EXAMPLE,
  timestamp: '2024-01-15T10:30:00Z',
});

/**
 * Every route of src/{accounts,webhooks,events,deliveries}/routes.ts, src/accounts/
 * platform-routes.ts, src/accounts/on-behalf.ts and src/app.ts, but the event streams. The
 * operator's PATCH only renames: a fuzzed limit could rate-limit the reads checked after it.
 */
const ROUTES: Route[] = [
  { method: 'POST', path: '/v1/accounts', auth: 'admin', body: () => ({ name: 'acme' }) },
  { method: 'GET', path: '/v1/account', auth: 'account' },
  { method: 'GET', path: '/v1/event-types', auth: 'none' },
  {
    method: 'POST',
    path: '/v1/webhooks',
    auth: 'account',
    body: (f) => ({
      url: f.receiverUrl,
      events: ['call.*', 'agent.created'],
      secret: 'fuzz-secret-0123456789',
      status: 'enabled',
      description: 'fuzzed',
      rate_limit_per_minute: 60,
      headers: { 'X-Team': 'sales' },
      filter: { data: { duration: { $gte: 60 } } },
    }),
  },
  { method: 'GET', path: '/v1/webhooks', auth: 'account', query: ['limit', 'cursor'] },
  { method: 'GET', path: '/v1/webhooks/:id', auth: 'account', idOf: 'webhook' },
  {
    method: 'PATCH',
    path: '/v1/webhooks/:id',
    auth: 'account',
    idOf: 'webhook',
    body: (f) => ({
      url: f.receiverUrl,
      events: ['*'],
      description: 'patched',
      status: 'enabled',
      rate_limit_per_minute: null,
      headers: { Authorization: 'Bearer crm_token_0123456789' },
      filter: null,
    }),
  },
  { method: 'DELETE', path: '/v1/webhooks/:id', auth: 'account', idOf: 'webhook' },
  { method: 'GET', path: '/v1/webhooks/:id/secret', auth: 'account', idOf: 'webhook' },
  {
    method: 'POST',
    path: '/v1/webhooks/:id/secret/rotate',
    auth: 'account',
    idOf: 'webhook',
    body: () => ({ secret: 'rotated-secret-0123456789' }),
  },
  {
    method: 'POST',
    path: '/v1/webhooks/:id/test',
    auth: 'account',
    idOf: 'webhook',
    body: () => ({ event: 'agent.created' }),
  },
  {
    method: 'POST',
    path: '/v1/webhooks/test',
    auth: 'account',
    body: (f) => ({ url: f.receiverUrl, event: 'call.ended', secret: 'test-secret-0123456789' }),
  },
  {
    method: 'GET',
    path: '/v1/webhooks/:id/stats',
    auth: 'account',
    idOf: 'webhook',
    query: ['window'],
  },
  {
    method: 'POST',
    path: '/v1/webhooks/:id/recover',
    auth: 'account',
    idOf: 'webhook',
    body: () => ({ since: '2024-01-01T00:00:00Z' }),
  },
  { method: 'POST', path: '/v1/events', auth: 'account', body: validEvent },
  {
    method: 'POST',
    path: '/v1/events/batch',
    auth: 'account',
    body: () => ({ events: [validEvent(), { ...validEvent(), idempotency_key: 'b-1' }] }),
  },
  {
    method: 'GET',
    path: '/v1/events',
    auth: 'account',
    query: ['limit', 'cursor', 'event', 'since', 'until'],
  },
  { method: 'GET', path: '/v1/events/:id', auth: 'account', idOf: 'event' },
  {
    method: 'GET',
    path: '/v1/deliveries',
    auth: 'account',
    query: ['limit', 'cursor', 'webhook_id', 'status', 'event', 'since', 'until'],
  },
  { method: 'GET', path: '/v1/deliveries/:id', auth: 'account', idOf: 'delivery' },
  {
    method: 'POST',
    path: '/v1/deliveries/:id/retry',
    auth: 'account',
    idOf: 'delivery',
    body: () => ({}),
  },
  { method: 'GET', path: '/v1/api-keys', auth: 'account', query: ['limit', 'cursor'] },
  {
    method: 'POST',
    path: '/v1/api-keys',
    auth: 'account',
    body: () => ({
      name: 'fuzzed',
      scopes: ['read', 'manage'],
      expires_at: '2999-01-01T00:00:00Z',
    }),
  },
  { method: 'DELETE', path: '/v1/api-keys/:id', auth: 'account', idOf: 'apiKeyId' },
  { method: 'GET', path: '/v1/audit-log', auth: 'account', query: ['limit', 'cursor'] },
  { method: 'GET', path: '/v1/accounts', auth: 'admin', query: ['limit', 'cursor'] },
  { method: 'GET', path: '/v1/accounts/:id', auth: 'admin', idOf: 'account' },
  {
    method: 'PATCH',
    path: '/v1/accounts/:id',
    auth: 'admin',
    idOf: 'account',
    body: () => ({ name: 'fuzzed' }),
  },
  { method: 'DELETE', path: '/v1/accounts/:id', auth: 'admin', idOf: 'account' },
  {
    method: 'POST',
    path: '/v1/accounts/:id/events',
    auth: 'admin',
    idOf: 'account',
    body: validEvent,
  },
  {
    method: 'POST',
    path: '/v1/accounts/:id/events/batch',
    auth: 'admin',
    idOf: 'account',
    body: () => ({ events: [validEvent(), { ...validEvent(), idempotency_key: 'b-2' }] }),
  },
  {
    method: 'POST',
    path: '/v1/accounts/:id/portal-sessions',
    auth: 'admin',
    idOf: 'account',
    body: () => ({ expires_in: 600, read_only: true }),
  },
  {
    method: 'GET',
    path: '/v1/accounts/:id/audit-log',
    auth: 'admin',
    idOf: 'account',
    query: ['limit', 'cursor'],
  },
  { method: 'GET', path: '/v1/dashboard-settings', auth: 'none' },
  { method: 'GET', path: '/healthz', auth: 'none' },
  { method: 'GET', path: '/readyz', auth: 'none' },
  { method: 'GET', path: '/metrics', auth: 'none' },
  { method: 'GET', path: '/openapi.json', auth: 'none' },
  { method: 'GET', path: '/docs', auth: 'none' },
  { method: 'GET', path: '/', auth: 'none' },
];

const BODY_ROUTES = ROUTES.filter((r) => r.body);
const ID_ROUTES = ROUTES.filter((r) => r.idOf);
const QUERY_ROUTES = ROUTES.filter((r) => r.query);

function pathOf(route: Route, f: Fixture, id?: string): string {
  if (!route.idOf) return route.path;
  // DELETE never gets the fixture's own id: the other properties still need the webhook (and
  // the account, and its key).
  const real = route.method === 'DELETE' ? 'wh_01NOSUCHWEBHOOK000000000' : f[route.idOf];
  return route.path.replace(':id', id ?? real);
}

// ---- generators ------------------------------------------------------------------------------

/** Any UTF-16 code unit: NUL, controls, lone surrogates, the private use area. */
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** What an HTTP header value may carry: visible ASCII, space, tab and obs-text (0x80–0xff). */
const headerChar = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.constant(0x09),
  fc.integer({ min: 0x80, max: 0xff }),
);
const headerText = fc.string({
  unit: headerChar.map((c) => String.fromCharCode(c)),
  maxLength: 300,
});

const SPECIAL_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff\ud800',
  '\ud83d\ude00',
  '\u202e\u200b\ufeff',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '../../../../etc/passwd',
  '%00%2e%2e%2f',
  '<script>alert(1)</script>',
  "' OR '1'='1' --",
  '${jndi:ldap://127.0.0.1/x}',
  '{{7*7}}',
  'null',
  'undefined',
  'NaN',
  '-0',
  '1e308',
  'call.*',
  '*',
];

const hugeString = fc
  .tuple(
    fc.constantFrom(2_000, 70_000, 270_000, 1_100_000),
    fc.constantFrom('x', 'é', '\u0000', '\ud83d\ude00', '"'),
  )
  .map(([n, c]) => c.repeat(Math.ceil(n / c.length)));

const junkText = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: anyCodeUnit, maxLength: 60 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 60 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_STRINGS) },
  { weight: 1, arbitrary: hugeString },
);

const NUMBER_LITERALS = [
  '-0',
  '0',
  '1e308',
  '-1e308',
  '1e309',
  '-1e309',
  '5e-324',
  '1e-400',
  '9007199254740993',
  '123456789012345678901234567890',
  '0.1',
  '-1',
  '2147483648',
  '1.0',
  '1E2',
];

/** Nesting that JSON.stringify still handles; deeper is the DEFECT test further down. */
function nested(open: string, depth: number): string {
  const close = open === '[' ? ']' : '}';
  return open.repeat(depth) + '1' + close.repeat(depth);
}

/** The raw JSON text of one value: anything JSON can say, and some things it barely can. */
const valueLiteral: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 3, arbitrary: junkText.map((s) => JSON.stringify(s)) },
  { weight: 2, arbitrary: fc.constantFrom(...NUMBER_LITERALS) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'null',
      'true',
      'false',
      '[]',
      '{}',
      '""',
      '"\\u0000"',
      '"\\ud800"',
      '"\\udfff\\ud800"',
      '{"__proto__":{"polluted":"yes"}}',
      '{"constructor":{"prototype":{"polluted":"yes"}}}',
      '[{"__proto__":null}]',
      '[1,2,3]',
      '[{}]',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 1000 }), fc.constantFrom('[', '{"a":'))
      .map(([depth, open]) => nested(open, depth)),
  },
);

const DATES = [
  '2024-01-01T00:00:00Z',
  '1970-01-01T00:00:00Z',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999999999Z',
  '2024-02-30T00:00:00Z',
  '2024-01-01',
  '2024-01-01T00:00:00+25:00',
  '2024-01-01T00:00:00.000-00:00',
  '+275760-09-13T00:00:00Z',
  'yesterday',
  '1e3',
];

/** Field-specific values that reach deeper than random text would. */
function fieldValues(field: string, f: Fixture): string[] {
  switch (field) {
    case 'url':
      return [
        f.receiverUrl,
        f.closedUrl,
        f.closedUrl.replace('127.0.0.1', 'user:pw@127.0.0.1'),
        f.closedUrl.replace('127.0.0.1', '[::1]'),
        f.closedUrl.replace('127.0.0.1', '0x7f000001'),
        f.closedUrl.replace('127.0.0.1', '127.1'),
        f.closedUrl.replace('127.0.0.1', 'localhost'),
        f.closedUrl.replace('http:', 'HTTP:'),
        f.closedUrl + 'a'.repeat(3000),
        'file:///etc/passwd',
        'javascript:alert(1)',
        'ftp://127.0.0.1/',
        'http://127.0.0.1:99999/',
        '//127.0.0.1/',
        'http://',
      ].map((s) => JSON.stringify(s));
    case 'events':
      return [
        ['*'],
        ['call.*'],
        EVENT_TYPES.map((t) => t.name),
        ['call.ended', 'call.ended'],
        ['call'],
        ['call.**'],
        ['*.*'],
        ['.'],
        ['__proto__'],
        Array.from({ length: 101 }, () => '*'),
      ].map((v) => JSON.stringify(v));
    case 'event':
      return [...EVENT_TYPES.map((t) => t.name), 'call.*', '*', 'CALL.ENDED', 'call.ended '].map(
        (s) => JSON.stringify(s),
      );
    case 'since':
    case 'timestamp':
      return DATES.map((s) => JSON.stringify(s));
    case 'status':
      return ['enabled', 'disabled', 'Enabled', 'gone', 'failing'].map((s) => JSON.stringify(s));
    case 'data':
      return EVENT_TYPES.map((t) => JSON.stringify(t.example));
    case 'headers':
      return [
        ...['Content-Type', 'Host', 'X-Rizler-Signature', 'webhook-signature', 'traceparent'].map(
          (name) => ({ [name]: 'x' }),
        ),
        { 'X-Team': 'sales\r\nX-Evil: 1' },
        { 'X-Team': 'sales\u0000' },
        { 'X-Te\u0000am': 'sales' },
        { '': 'x' },
        { 'X Team': 'x' },
        { 'X-Team': 'x'.repeat(1025) },
        { 'X-Team': 'a', 'x-team': 'b' },
        Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, 'v'])),
      ]
        .map((v) => JSON.stringify(v))
        .concat(['{"X-Team":1}', '{"__proto__":"x"}', '{"constructor":"x"}', '[]']);
    case 'filter':
      return [
        { data: { duration: { $gtx: 60 } } },
        { data: { queue_id: 'queue\u0000sales' } },
        { data: { queue_id: { $in: 'queue_sales' } } },
        { $and: [] },
        { $not: { $not: { $exists: 'yes' } } },
        { data: {} },
        { data: { x: { $in: Array.from({ length: 600 }, (_, i) => `value_${i}`) } } },
      ]
        .map((v) => JSON.stringify(v))
        .concat([
          'null',
          '[]',
          '{"__proto__":{"$exists":true}}',
          nested('{"a":', 9),
          nested('{"a":', 5_000),
          `{"data":{"x":${nested('[', 5_000)}}}`,
        ]);
    default:
      return [];
  }
}

function objectText(base: Record<string, unknown>, drop: string[], add: [string, string][]) {
  const parts = Object.entries(base)
    .filter(([k]) => !drop.includes(k))
    .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  for (const [k, literal] of add) parts.push(`${JSON.stringify(k)}:${literal}`);
  return `{${parts.join(',')}}`;
}

const EXTRA_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'extra', ''];

/** A valid body with one field replaced, removed, or joined by an unexpected key. */
function mutatedObject(base: Record<string, unknown>, f: Fixture, depth = 0): fc.Arbitrary<string> {
  const fields = Object.keys(base);
  const added = fc
    .tuple(fc.oneof(fc.constantFrom(...EXTRA_KEYS), junkText), valueLiteral)
    .map(([key, literal]) => objectText(base, [], [[key, literal]]));
  if (fields.length === 0) return added;
  const replaced = fc.constantFrom(...fields).chain((field) => {
    const value = base[field];
    const options: fc.Arbitrary<string>[] = [valueLiteral];
    const specific = fieldValues(field, f);
    if (specific.length > 0) options.push(fc.constantFrom(...specific));
    // One level down: a valid object with a bad field, or an array element gone wrong.
    if (depth === 0 && value && typeof value === 'object' && !Array.isArray(value)) {
      options.push(mutatedObject(value as Record<string, unknown>, f, 1));
    }
    if (depth === 0 && Array.isArray(value) && value[0] && typeof value[0] === 'object') {
      options.push(
        fc
          .array(mutatedObject(value[0] as Record<string, unknown>, f, 1), {
            minLength: 1,
            maxLength: 3,
          })
          .map((items) => `[${items.join(',')}]`),
      );
    }
    return fc.oneof(...options).map((literal) => objectText(base, [field], [[field, literal]]));
  });
  const removed = fc.constantFrom(...fields).map((field) => objectText(base, [field], []));
  return fc.oneof(
    { weight: 5, arbitrary: replaced },
    { weight: 1, arbitrary: removed },
    { weight: 2, arbitrary: added },
  );
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/JSON',
  'application/json; charset=utf-16',
  'application/problem+json',
  'text/plain',
  'text/html; charset=koi8-r',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/xml',
  '*/*',
  'a/b/c;;;',
  ';',
  'json',
];

function bodyRequest(route: Route, f: Fixture, key: string, admin: string): fc.Arbitrary<Sent> {
  const base = route.body!(f);
  const body: fc.Arbitrary<string | Uint8Array | undefined> = fc.oneof(
    { weight: 8, arbitrary: mutatedObject(base, f) },
    { weight: 1, arbitrary: fc.constant(JSON.stringify(base)) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.constantFrom(...NUMBER_LITERALS, '[]', '""', 'null', '-') },
    { weight: 1, arbitrary: junkText },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
  return fc
    .record({
      body,
      contentType: fc.option(fc.constantFrom(...CONTENT_TYPES), { freq: 3 }),
      idempotencyKey: fc.option(headerText, { freq: 4 }),
    })
    .map(({ body, contentType, idempotencyKey }) => {
      const headers: Record<string, string> = {
        authorization: `Bearer ${route.auth === 'admin' ? admin : key}`,
      };
      if (contentType !== null) headers['content-type'] = contentType;
      if (idempotencyKey !== null) headers['idempotency-key'] = idempotencyKey;
      return { method: route.method, path: pathOf(route, f), headers, body };
    });
}

/** Percent-encodes any string as a path segment, lone surrogates included (as UTF-8 of U+FFFD). */
function encodeSegment(s: string): string {
  return [...Buffer.from(s, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : '%' + b.toString(16).toUpperCase().padStart(2, '0'),
    )
    .join('');
}

// ---- the tests -------------------------------------------------------------------------------

describe.each(['sqlite', 'postgres'] as const)('fuzzing every route over HTTP on %s', (engine) => {
  let db: TestDatabase | undefined;
  let server: TestServer;
  let receiver: Receiver;
  let f: Fixture;
  /** API keys of accounts the admin fuzz created: their reads must still work too. */
  const createdKeys: string[] = [];

  /** The credential a route takes, so that its query and path are what gets checked. */
  const credentialOf = (route: Route) =>
    route.auth === 'admin' ? server.adminToken : server.apiKey;

  const normalReads = async (apiKey: string) => {
    for (const path of ['/v1/webhooks', '/v1/events', '/v1/deliveries', '/v1/account']) {
      const res = await call(server.url, {
        method: 'GET',
        path,
        headers: { authorization: `Bearer ${apiKey}` },
      });
      expect(res.status, `GET ${path} after the fuzz: ${res.text.slice(0, 300)}`).toBe(200);
    }
  };

  beforeAll(async () => {
    if (engine === 'postgres') db = await createTestDatabase();
    server = await startTestServer({
      ...(db ? { RIZLER_DATABASE_URL: db.url } : {}),
      RIZLER_RUN_WORKER: 'false',
      RIZLER_API_RATE_LIMIT: '1000000',
      RIZLER_MAX_ENDPOINTS: '1000',
      RIZLER_DELIVERY_TIMEOUT_MS: '2000',
    });
    receiver = await startReceiver();
    const hook = await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['*'] } });
    const event = await server.api('/v1/events', {
      body: { event: 'call.ended', data: EXAMPLE },
    });
    const deliveries = await server.api(`/v1/deliveries?webhook_id=${hook.body.id}`);
    const key = await server.api('/v1/api-keys', { body: { name: 'fixture', scopes: ['read'] } });
    f = {
      webhook: hook.body.id,
      event: event.body.id,
      delivery: deliveries.body.data[0].id,
      account: server.accountId,
      apiKeyId: key.body.id,
      receiverUrl: receiver.url,
      closedUrl: `http://127.0.0.1:${await closedPort()}/hook`,
    };
  });

  afterAll(async () => {
    await server?.close();
    await receiver?.close();
    await db?.drop();
  });

  describe('generated bodies, raw bytes and content types', () => {
    for (const route of BODY_ROUTES) {
      it(`${route.method} ${route.path}`, { timeout: 60_000 }, async () => {
        await fc.assert(
          fc.asyncProperty(bodyRequest(route, f, server.apiKey, server.adminToken), async (req) => {
            const res = await call(server.url, req);
            expectHandled(req, res);
            if (res.status < 300 && route.path === '/v1/accounts') {
              createdKeys.push(res.json.api_key);
              await normalReads(res.json.api_key);
            } else if (res.status < 300) {
              // Something was stored: it must not break a later read.
              await normalReads(server.apiKey);
            }
          }),
          { numRuns: 100 },
        );
      });
    }
  });

  it('authorization variants, idempotency keys and giant headers on every route', async () => {
    const { apiKey, adminToken } = server;
    const authorization = fc.oneof(
      fc.constant(undefined),
      fc.constantFrom(
        '',
        'Bearer',
        'Bearer ',
        'bearer',
        'Basic dXNlcjpwYXNz',
        `Bearer ${apiKey} extra`,
        `Bearer ${apiKey},Bearer ${apiKey}`,
        `Bearer  ${apiKey}`,
        `bearer ${apiKey}`,
        `BEARER ${apiKey}`,
        `Bearer\t${apiKey}`,
        `Bearer ${apiKey.slice(0, -1)}`,
        `Bearer ${apiKey}x`,
        `Bearer ${apiKey.toUpperCase()}`,
        `Bearer "${apiKey}"`,
        `Token ${apiKey}`,
        `Bearer ${adminToken}`,
        `Bearer ${adminToken.slice(0, -1)}X`,
        'Bearer null',
        'Bearer rzk_',
        `Bearer ${'A'.repeat(8_000)}`,
      ),
      headerText.map((s) => `Bearer ${s}`),
      headerText,
    );
    const request = fc
      .record({
        route: fc.constantFrom(...ROUTES),
        authorization,
        idempotencyKey: fc.option(
          fc.oneof(headerText, fc.constantFrom('x'.repeat(255), 'x'.repeat(256), ' ')),
        ),
        padding: fc.option(fc.integer({ min: 1, max: 12_000 })),
        accept: fc.option(
          fc.constantFrom('text/html', '*/*', 'application/xml', 'application/json;q=0', 'junk'),
        ),
      })
      .map(({ route, authorization, idempotencyKey, padding, accept }) => {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (authorization !== undefined) headers.authorization = authorization;
        if (idempotencyKey !== null) headers['idempotency-key'] = idempotencyKey;
        if (accept !== null) headers.accept = accept;
        // A giant header, keeping all headers together within Node's 16 KiB limit.
        const used = Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
        const room = 15_000 - used;
        if (padding !== null && room > 0)
          headers['x-padding'] = 'p'.repeat(Math.min(padding, room));
        const sent: Sent = { method: route.method, path: pathOf(route, f), headers };
        if (route.body) sent.body = JSON.stringify(route.body(f));
        return { route, sent };
      });
    await fc.assert(
      fc.asyncProperty(request, async ({ route, sent }) => {
        const res = await call(server.url, sent);
        expectHandled(sent, res);
        // No way in: success on a guarded route means the real credential was sent.
        const given = sent.headers?.authorization ?? '';
        if (route.auth === 'account' && res.status < 400) expect(given).toContain(apiKey);
        if (route.auth === 'admin' && res.status < 400) expect(given).toContain(adminToken);
        if (route.auth !== 'none' && !given.includes(apiKey) && !given.includes(adminToken)) {
          expect(res.status, JSON.stringify(res.json)).toBe(401);
        }
        if (res.status === 201 && route.path === '/v1/accounts') {
          createdKeys.push(res.json.api_key);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('junk query strings: limit, cursor, status, since, until, window, repeats, arrays', async () => {
    const key = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...new Set(QUERY_ROUTES.flatMap((r) => r.query!))) },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          'limit[]',
          'limit[0]',
          'cursor[]',
          'status[]',
          'since[gt]',
          '__proto__',
          'constructor',
          'a[b][c]',
          '',
        ),
      },
      { weight: 1, arbitrary: junkText.filter((s) => s.length < 100) },
    );
    const cursorOf = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
    const value = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.constantFrom(
          '0',
          '-1',
          '1',
          '100',
          '101',
          '1e2',
          '0x10',
          '1.5',
          'NaN',
          'Infinity',
          '-0',
          '',
          'null',
          'pending',
          'succeeded',
          'failed',
          'PENDING',
          '1h',
          '24h',
          '7d',
          '9y',
          'call.ended',
          'call.*',
          f.webhook,
          f.event,
          f.delivery,
          cursorOf(f.event),
          cursorOf(f.delivery),
          cursorOf('evt_0000000000'),
          cursorOf('evt_ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ'),
          cursorOf("evt_0000000000' OR 1=1 --"),
          '%%%',
          '%zz',
          '%00',
          '=',
          '&',
          ...DATES,
        ),
      },
      { weight: 2, arbitrary: junkText.filter((s) => s.length < 1000) },
      { weight: 1, arbitrary: junkText.map(cursorOf).filter((s) => s.length < 1000) },
    );
    // Encoded properly, or passed nearly raw (so `%`, `+` and `&` reach the parser as they are).
    const encode = fc.constantFrom(
      (s: string) => encodeSegment(s),
      (s: string) => s.replace(/[#\s]/g, '').replace(/[^\x21-\x7e]/g, (c) => encodeSegment(c)),
    );
    const request = fc
      .record({
        route: fc.constantFrom(...QUERY_ROUTES, ...ROUTES.filter((r) => r.method === 'GET')),
        params: fc.array(fc.tuple(key, value, encode), { maxLength: 8 }),
        tail: fc.constantFrom('', '&', '&&', '&limit', '&=', '?'),
      })
      .map(({ route, params, tail }) => {
        const qs = params.map(([k, v, enc]) => `${enc(k)}=${enc(v)}`).join('&');
        return {
          method: 'GET',
          path: `${pathOf(route, f)}?${qs}${tail}`,
          headers: { authorization: `Bearer ${credentialOf(route)}` },
        } satisfies Sent;
      });
    await fc.assert(
      fc.asyncProperty(request, async (req) => expectHandled(req, await call(server.url, req))),
      { numRuns: 200 },
    );
  });

  it('junk ids: unicode, dots, percent-encoding, prefixes, up to 100 characters', async () => {
    const real = [f.webhook, f.event, f.delivery];
    const segment = fc.oneof(
      { weight: 3, arbitrary: junkText.map(encodeSegment) },
      {
        weight: 3,
        arbitrary: fc.constantFrom(
          '..',
          '.',
          '%2e%2e',
          '%2E',
          '..%2F..%2F..%2Fetc%2Fpasswd',
          '%2F',
          '%5C',
          '%00',
          '%20',
          '~',
          '*',
          '$',
          '@',
          'a;b=c',
          'a,b',
          'wh_',
          'evt_',
          'dlv_',
          'acc_',
          'é',
          '%C3%A9',
          '%EF%BF%BD',
          '%F0%9F%98%80',
          ...real.map((id) => `${id}x`),
          ...real.map((id) => id.toLowerCase()),
          ...real.map((id) => `${id}%00`),
          ...real.map((id) => `%20${id}`),
          ...real.map((id) => id.replace(/^[a-z]+_/, '')),
          ...real.map((id) => encodeURIComponent(`${id}' OR '1'='1`)),
        ),
      },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 100 }).map((n) => 'a'.repeat(n)) },
    );
    const request = fc
      .record({
        route: fc.constantFrom(...ID_ROUTES),
        // Over 100 characters, and malformed percent-encoding, are the DEFECT tests below.
        id: segment.filter((s) => s.length > 0 && s.length <= 100),
      })
      .map(({ route, id }) => {
        const sent: Sent = {
          method: route.method,
          path: pathOf(route, f, id),
          headers: {
            authorization: `Bearer ${credentialOf(route)}`,
            'content-type': 'application/json',
          },
        };
        if (route.body) sent.body = JSON.stringify(route.body(f));
        return sent;
      });
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const res = await call(server.url, req);
        expectHandled(req, res);
        // Only the fixture's own id may be found; anything else is a 404 or a 400. An id of
        // "." or "%2E" before "/stats" resolves to GET /v1/webhooks/stats, a route of its own.
        const resolved = new URL(req.path, server.url).pathname;
        if (res.status < 400) {
          expect(
            real.some((id) => req.path.includes(`/${id}`)) || resolved === '/v1/webhooks/stats',
          ).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  }, 60_000); // 200 runs of real HTTP: 22 s on a busy 2-core machine, over the 30 s default at load 20

  it('admin POST /v1/accounts with and without the token', async () => {
    const { adminToken, apiKey } = server;
    const token = fc.oneof(
      fc.constant(adminToken),
      fc.constantFrom(
        undefined,
        '',
        apiKey,
        adminToken.slice(0, -1),
        adminToken + 'x',
        adminToken.slice(0, -1) + 'X',
        adminToken.toUpperCase(),
        ' ' + adminToken,
        'x'.repeat(adminToken.length),
      ),
      headerText,
    );
    const request = fc
      .record({ token, body: bodyRequest(ROUTES[0]!, f, apiKey, adminToken) })
      .map(({ token, body }) => {
        const headers = { ...body.headers };
        delete headers.authorization;
        if (token !== undefined) headers.authorization = `Bearer ${token}`;
        return { ...body, headers } satisfies Sent;
      });
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const res = await call(server.url, req);
        expectHandled(req, res);
        // RFC 6750: the scheme is case-insensitive, then whitespace, then the token.
        const presented = /^bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
        if (presented !== adminToken) expect(res.status, res.text).toBe(401);
        if (res.status === 201) {
          expect(res.json.api_key).toMatch(/^rzk_/);
          createdKeys.push(res.json.api_key);
          await normalReads(res.json.api_key);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('any method on any path, with and without a key', async () => {
    const paths = [
      ...ROUTES.map((r) => pathOf(r, f)),
      '/v1',
      '/v1/',
      '/v2/webhooks',
      '/V1/WEBHOOKS',
      '/v1/webhooks/',
      '//v1/webhooks',
      '/v1/webhooks?',
      '/v1/webhooks/test/test',
      '/v1/accounts/acc_x',
      '/docs/json',
      '/docs/static/index.html',
      '/index.html',
      '/favicon.svg',
      '/assets/nothing.js',
      '/setup/webhooks',
      '/.env',
      '/data/rizler-webhooks.db',
      '/package.json',
    ];
    const request = fc
      .record({
        method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
        path: fc.constantFrom(...paths),
        withKey: fc.boolean(),
        accept: fc.option(fc.constantFrom('text/html', 'application/json', '*/*')),
        body: fc.option(fc.constantFrom('{}', '{"name":"x"}', 'not json')),
      })
      .filter(({ method, path }) => !(method === 'DELETE' && path.includes(f.webhook)))
      .map(({ method, path, withKey, accept, body }) => {
        const headers: Record<string, string> = {};
        if (withKey) headers.authorization = `Bearer ${server.apiKey}`;
        if (accept !== null) headers.accept = accept;
        const sent: Sent = { method, path, headers };
        if (body !== null && method !== 'GET' && method !== 'HEAD') {
          sent.body = body;
          headers['content-type'] = 'application/json';
        }
        return sent;
      });
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const res = await call(server.url, req);
        expectHandled(req, res);
        // Nothing outside the built dashboard is served as a file.
        expect(res.text).not.toContain('"name": "rizler-webhooks"');
        expect(res.text).not.toContain('SQLite format 3');
      }),
      { numRuns: 150 },
    );
  });

  it('afterwards: the normal reads still answer 200, and no prototype was polluted', async () => {
    await normalReads(server.apiKey);
    for (const key of createdKeys) await normalReads(key);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    const health = await call(server.url, { method: 'GET', path: '/readyz' });
    expect(health.status).toBe(200);
  });

  // ---- defects the properties above leave out, so that they keep guarding everything else ----

  // DEFECT: a path with malformed percent-encoding (`/v1/webhooks/%`, `/v1/events/%E0%A4%A`, `/%`,
  // or escapes that decode to invalid UTF-8 such as the overlong `%C0%AE%C0%AE`)
  // is answered by Fastify's built-in handler before any route or error handler runs:
  // 400 {"error":"Bad Request","code":"FST_ERR_BAD_URL","message":"'/v1/webhooks/%' is not a
  // valid url component","statusCode":400}, not the API's {"error":{"code","message"}}.
  // Fix: pass `frameworkErrors` to Fastify() in src/app.ts buildApp.
  it('answers malformed percent-encoding in a path with the API error shape', async () => {
    // Bad escapes, and escapes of bytes that are not UTF-8 (overlong `.`, an encoded surrogate).
    const bad = fc.constantFrom(
      '%',
      '%zz',
      '%E0%A4%A',
      '%C3',
      'a%2',
      '%%',
      '%u0041',
      '%C0%AE%C0%AE',
      '%ED%A0%80',
      '%FF',
    );
    const request = fc
      .record({ route: fc.constantFrom(...ID_ROUTES), id: bad })
      .map(({ route, id }) => ({
        method: route.method,
        path: pathOf(route, f, id),
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body: route.body ? JSON.stringify(route.body(f)) : undefined,
      }));
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const res = await call(server.url, req);
        expectHandled(req, res);
        expect(res.status).toBe(404);
      }),
      { numRuns: 30 },
    );
  });

  // DEFECT: an id longer than 100 characters (IdParams allows up to 100, find-my-way's default
  // maxParamLength is also 100) is answered by Fastify itself: 414 {"error":"Bad Request",
  // "code":"FST_ERR_MAX_PARAM_LENGTH",…}, a status outside the error registry and not the API's
  // shape. Fix: the same `frameworkErrors` hook in src/app.ts, answering 404 not_found.
  it('answers an id longer than 100 characters with 404 not_found', async () => {
    const request = fc
      .record({ route: fc.constantFrom(...ID_ROUTES), n: fc.integer({ min: 101, max: 4000 }) })
      .map(({ route, n }) => ({
        method: route.method,
        path: pathOf(route, f, 'wh_' + 'A'.repeat(n)),
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body: route.body ? JSON.stringify(route.body(f)) : undefined,
      }));
    await fc.assert(
      fc.asyncProperty(request, async (req) => {
        const res = await call(server.url, req);
        expectHandled(req, res);
        expect(res.status).toBe(404);
      }),
      { numRuns: 30 },
    );
  });

  // DEFECT: event `data` nested about 4,500 levels deep (a 9 KB body, far below the 256 KiB
  // limit) makes JSON.stringify in eventPayload (src/events/payload.ts:3, called from prepare()
  // in src/events/routes.ts) throw RangeError: Maximum call stack size exceeded; the answer is
  // 500 internal_error. Fix: bound the depth of `data` in prepare() (e.g. 64 levels, checked
  // iteratively) and answer 422 invalid_event_data naming the limit.
  it('answers deeply nested event data with a 4xx, never a 500', async () => {
    const request = fc
      .record({
        depth: fc.integer({ min: 5_000, max: 100_000 }),
        open: fc.constantFrom('[', '{"a":'),
        batch: fc.boolean(),
      })
      .map(({ depth, open, batch }) => {
        const event = `{"event":"call.ended","data":{"call_id":"c1","agent_id":"a1","duration":1,"status":"completed","x":${nested(open, depth)}}}`;
        return {
          method: 'POST',
          path: batch ? '/v1/events/batch' : '/v1/events',
          headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
          body: batch ? `{"events":[${event}]}` : event,
        } satisfies Sent;
      });
    await fc.assert(
      fc.asyncProperty(request, async (req) => expectHandled(req, await call(server.url, req))),
      { numRuns: 10 },
    );
  });

  // DEFECT: `since`/`until` pass the schema's date-time format with a leap second
  // (`2016-12-31T23:59:60Z`), but Date.parse() gives NaN, and the list routes hand NaN to the
  // store (src/events/routes.ts GET /v1/events, src/deliveries/routes.ts GET /v1/deliveries:
  // `since: q.since === undefined ? undefined : Date.parse(q.since)`). The filter then matches
  // nothing: GET /v1/events?since=2016-12-31T23:59:60Z answers 200 with an empty list although
  // every event is later. Fix: one parse helper for both routes that answers 400
  // validation_error on NaN (as POST /v1/webhooks/:id/recover and the publish `timestamp` do).
  it('never silently drops rows for a leap-second since/until', async () => {
    for (const path of ['/v1/events', '/v1/deliveries']) {
      for (const q of ['since=2016-12-31T23:59:60Z', 'until=2999-12-31T23:59:60Z']) {
        const res = await call(server.url, {
          method: 'GET',
          path: `${path}?${q}`,
          headers: { authorization: `Bearer ${server.apiKey}` },
        });
        if (res.status === 400) {
          expectErrorShape(res, `${path}?${q}`);
          continue;
        }
        expect(res.status).toBe(200);
        // The fixture's event and delivery are from today: both bounds include them.
        expect(res.json.data.length, `${path}?${q}`).toBeGreaterThan(0);
      }
    }
  });

  // DEFECT: requests that Node's HTTP parser rejects (a control character in a header value,
  // a garbage request line) or that exceed its 16 KiB header limit are answered by Fastify's
  // default clientErrorHandler: 400 {"error":"Bad Request","message":"Client Error",
  // "statusCode":400} and 431 {"error":"Request Header Fields Too Large",…}, not the API's error
  // shape. Fix: pass `clientErrorHandler` to Fastify() in src/app.ts that writes
  // errorBody('validation_error', …) (and a 431 with the same shape) to the socket.
  it('answers requests the HTTP parser rejects with the API error shape', async () => {
    const raw = (head: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(server.service.port, '127.0.0.1', () => socket.write(head));
        let out = '';
        socket.on('data', (c: Buffer) => (out += c.toString('latin1')));
        socket.on('close', () => resolve(out));
        socket.setTimeout(2_000, () => socket.destroy());
      });
    const answers = [
      await raw(
        'GET /v1/webhooks HTTP/1.1\r\nHost: x\r\nX-Junk: a\x01b\r\nConnection: close\r\n\r\n',
      ),
      await raw('GARBAGE\r\n\r\n'),
      await raw(
        `GET /v1/webhooks HTTP/1.1\r\nHost: x\r\nX-Big: ${'x'.repeat(20_000)}\r\nConnection: close\r\n\r\n`,
      ),
    ];
    for (const answer of answers) {
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 4\d\d /);
      const json = JSON.parse(body);
      expect(Object.keys(json)).toEqual(['error']);
      expect(json.error.code).toMatch(/^[a-z_]+$/);
    }
  });
});
