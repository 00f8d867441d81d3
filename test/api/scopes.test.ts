// Who may call what: every operation of the OpenAPI document declares its scope (`x-scope`,
// written from the route's config), the declaration follows SPEC §9's rule, and the server
// enforces it: each operation is called with a key of each scope, a portal session (full and
// read-only) and the admin token, and answers 401/403 exactly where the declaration says.
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { requireScopes } from '../../src/http/access.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const DATA = findEventType('call.ended')!.example;
type Cred = { name: string; token: string; scopes: string[]; admin?: boolean };

/** SPEC §9: publish = POST /v1/events*, keys = /v1/api-keys, read = every GET, manage = the rest. */
function specScope(method: string, path: string): string {
  if (
    ['/healthz', '/readyz', '/metrics', '/v1/event-types', '/v1/dashboard-settings'].includes(path)
  )
    return 'public';
  if (path === '/v1/accounts' || path.startsWith('/v1/accounts/')) return 'admin';
  if (method === 'POST' && (path === '/v1/events' || path === '/v1/events/batch')) return 'publish';
  if (path.startsWith('/v1/api-keys')) return 'keys';
  return method === 'GET' ? 'read' : 'manage';
}

describe('route scopes', () => {
  let server: TestServer;
  let doc: { paths: Record<string, Record<string, { 'x-scope'?: string }>> };
  const creds: Cred[] = [];
  const ids = { webhook: '', event: '', delivery: '' };

  beforeAll(async () => {
    server = await startTestServer({ RIZLER_API_RATE_LIMIT: '100000' });
    const hook = await server.api('/v1/webhooks', {
      body: { url: 'http://127.0.0.1:9/hook', events: ['*'] },
    });
    ids.webhook = hook.body.id;
    const event = await server.api('/v1/events', { body: { event: 'call.ended', data: DATA } });
    ids.event = event.body.id;
    const deliveries = await server.api(`/v1/deliveries?webhook_id=${ids.webhook}`);
    ids.delivery = deliveries.body.data[0].id;
    for (const scope of ['publish', 'read', 'manage', 'keys']) {
      const key = await server.api('/v1/api-keys', { body: { name: scope, scopes: [scope] } });
      expect(key.status).toBe(201);
      creds.push({ name: `key(${scope})`, token: key.body.key, scopes: [scope] });
    }
    const admin = { authorization: `Bearer ${server.adminToken}` };
    for (const readOnly of [false, true]) {
      const res = await server.api(`/v1/accounts/${server.accountId}/portal-sessions`, {
        body: { read_only: readOnly },
        headers: admin,
      });
      expect(res.status).toBe(201);
      creds.push({
        name: readOnly ? 'portal(read-only)' : 'portal',
        token: res.body.token,
        scopes: readOnly ? ['read'] : ['read', 'manage'],
      });
    }
    creds.push({ name: 'admin', token: server.adminToken, scopes: [], admin: true });
    doc = (await server.api('/openapi.json')).body;
  });
  afterAll(() => server?.close());

  it('declares a scope on every operation, following SPEC §9', () => {
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
    );
    expect(operations.length).toBeGreaterThan(35);
    for (const { method, path, op } of operations) {
      expect(op['x-scope'], `${method} ${path}`).toBe(
        specScope(method, path.replace(/\{id\}/g, ':id')),
      );
    }
  });

  it('refuses to register an API route without a scope', async () => {
    const app = Fastify();
    app.addHook('onRoute', requireScopes);
    expect(() => app.get('/v1/new-thing', async () => ({}))).toThrow(/declares no scope/);
    app.get('/v1/declared', { config: { scope: 'read' } }, async () => ({}));
    await app.close();
  });

  it('allows each operation exactly to the credentials its scope names', async () => {
    const fill = async (path: string, method: string): Promise<string> => {
      if (!path.includes('{id}')) return path;
      if (path.startsWith('/v1/accounts/')) {
        // Destructive admin calls act on an account of their own.
        if (method === 'DELETE') return path.replace('{id}', (await server.newAccount()).accountId);
        return path.replace('{id}', server.accountId);
      }
      const id = path.startsWith('/v1/webhooks')
        ? ids.webhook
        : path.startsWith('/v1/events')
          ? ids.event
          : path.startsWith('/v1/deliveries')
            ? ids.delivery
            : 'key_00000000000000000000000000';
      return path.replace('{id}', id);
    };
    const checked: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [lower, op] of Object.entries(ops)) {
        const method = lower.toUpperCase();
        const scope = op['x-scope']!;
        for (const cred of creds) {
          const url = server.url + (await fill(path, method));
          const abort = new AbortController();
          const res = await fetch(url, {
            method,
            signal: abort.signal,
            headers: {
              authorization: `Bearer ${cred.token}`,
              'content-type': 'application/json',
            },
            body: method === 'GET' || method === 'DELETE' ? undefined : '{}',
          });
          const text = res.headers.get('content-type')?.includes('event-stream')
            ? ''
            : await res.text();
          abort.abort();
          const code = res.headers.get('content-type')?.includes('json')
            ? (JSON.parse(text) as { error?: { code: string } }).error?.code
            : '';
          const where = `${cred.name} ${method} ${path} → ${res.status} ${text.slice(0, 120)}`;
          if (scope === 'public') {
            expect([401, 403], where).not.toContain(res.status);
          } else if (scope === 'admin') {
            if (cred.admin) expect([401, 403], where).not.toContain(res.status);
            else expect(res.status, where).toBe(401);
          } else if (cred.admin) {
            // Not an account's credential: the admin token acts under /v1/accounts/:id/.
            expect(res.status, where).toBe(401);
          } else if (cred.scopes.includes(scope)) {
            expect([401, 403], where).not.toContain(res.status);
          } else {
            expect(res.status, where).toBe(403);
            expect(code, where).toBe('forbidden');
          }
          checked.push(where);
        }
      }
    }
    expect(checked.length).toBeGreaterThan(35 * creds.length - 1);
  });
});
