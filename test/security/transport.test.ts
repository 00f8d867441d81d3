// How the request came decides two headers: `upgrade-insecure-requests` (CSP) and HSTS make a
// browser switch to https://, which over plain HTTP leaves the dashboard a blank page. They are
// sent only over TLS, and a proxy's X-Forwarded-Proto counts only from a trusted proxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { contentSecurityPolicy } from '../../src/http/security-headers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { call } from './support.js';

const page = (server: TestServer, headers: Record<string, string> = {}) =>
  call(server.url, { method: 'GET', path: '/', headers: { accept: 'text/html', ...headers } });

describe('CSP and HSTS over plain HTTP, proxies not trusted (the default)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => server?.close());

  it('sends neither upgrade-insecure-requests nor HSTS', async () => {
    for (const path of ['/', '/docs', '/v1/event-types', '/healthz']) {
      const res = await call(server.url, { method: 'GET', path, headers: { accept: 'text/html' } });
      expect(res.headers.get('content-security-policy') ?? '', path).not.toMatch(
        /upgrade-insecure-requests/,
      );
      expect(res.headers.get('strict-transport-security'), path).toBeNull();
    }
  });

  it('ignores X-Forwarded-Proto from a proxy it does not trust', async () => {
    const res = await page(server, { 'x-forwarded-proto': 'https' });
    expect(res.headers.get('content-security-policy')).not.toMatch(/upgrade-insecure-requests/);
    expect(res.headers.get('strict-transport-security')).toBeNull();
  });
});

describe('behind a trusted proxy (RIZLER_TRUST_PROXY=127.0.0.1)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ RIZLER_TRUST_PROXY: '127.0.0.1' });
  });
  afterAll(async () => server?.close());

  it('upgrades and sends HSTS when the proxy says the request came over TLS', async () => {
    const res = await page(server, { 'x-forwarded-proto': 'https' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/upgrade-insecure-requests/);
    expect(res.headers.get('strict-transport-security')).toMatch(/^max-age=\d+/);
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
  });

  it('does neither when the proxy says http', async () => {
    for (const headers of [{ 'x-forwarded-proto': 'http' }, {}] as Record<string, string>[]) {
      const res = await page(server, headers);
      expect(res.headers.get('content-security-policy')).not.toMatch(/upgrade-insecure-requests/);
      expect(res.headers.get('strict-transport-security')).toBeNull();
    }
  });
});

describe('the policy and the setting', () => {
  it('builds one policy, with the upgrade only when secure', () => {
    expect(contentSecurityPolicy({ secure: false })).not.toContain('upgrade-insecure-requests');
    expect(contentSecurityPolicy({ secure: true })).toMatch(/; upgrade-insecure-requests$/);
    expect(contentSecurityPolicy({ secure: false })).toContain("frame-ancestors 'none'");
  });

  it('reads RIZLER_TRUST_PROXY as off, on, hops or addresses', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ RIZLER_TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ RIZLER_TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ RIZLER_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '127.0.0.1/32',
    ]);
    expect(() => loadConfig({ RIZLER_TRUST_PROXY: 'proxy.local' })).toThrow(/RIZLER_TRUST_PROXY/);
  });
});
