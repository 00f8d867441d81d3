// Framing and the operator's logo live in the one Content-Security-Policy that also carries the
// TLS-only upgrade: RIZLER_EMBED_ORIGINS becomes frame-ancestors (and drops X-Frame-Options,
// which cannot name another origin), RIZLER_BRAND_LOGO_URL's origin joins img-src, and neither
// undoes `upgrade-insecure-requests` and HSTS over TLS or their absence over plain HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentSecurityPolicy } from '../../src/http/security-headers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { call } from './support.js';

const page = (server: TestServer, path = '/', headers: Record<string, string> = {}) =>
  call(server.url, { method: 'GET', path, headers: { accept: 'text/html', ...headers } });

/** The policy's directives, each once: a second CSP header or directive would fight the first. */
function directives(csp: string | null): Map<string, string> {
  expect(csp).toBeTruthy();
  const out = new Map<string, string>();
  for (const part of csp!.split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (!name) continue;
    expect(out.has(name), `${name} appears twice in ${csp}`).toBe(false);
    out.set(name, values.join(' '));
  }
  return out;
}

describe('the policy', () => {
  it('names the embed origins and the logo origin, and refuses framing without them', () => {
    const open = directives(
      contentSecurityPolicy({
        secure: true,
        embedOrigins: ['https://app.example.com', 'http://localhost:3000'],
        imageOrigins: ['https://cdn.example.com'],
      }),
    );
    expect(open.get('frame-ancestors')).toBe('https://app.example.com http://localhost:3000');
    expect(open.get('img-src')).toBe("'self' data: https://cdn.example.com");
    expect(open.has('upgrade-insecure-requests')).toBe(true);
    const closed = directives(contentSecurityPolicy({ secure: false }));
    expect(closed.get('frame-ancestors')).toBe("'none'");
    expect(closed.get('img-src')).toBe("'self' data:");
  });
});

describe('RIZLER_EMBED_ORIGINS and RIZLER_BRAND_LOGO_URL set, behind a trusted proxy', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      RIZLER_RUN_WORKER: 'false',
      RIZLER_EMBED_ORIGINS: 'https://app.example.com',
      RIZLER_BRAND_LOGO_URL: 'https://cdn.example.com/brand/logo.svg',
      RIZLER_TRUST_PROXY: '127.0.0.1',
    });
  });
  afterAll(async () => server?.close());

  it('lets the embed origin frame the dashboard and the portal, over HTTP and over TLS', async () => {
    for (const path of ['/', '/portal']) {
      const plain = await page(server, path);
      expect(plain.status, path).toBe(200);
      const d = directives(plain.headers.get('content-security-policy'));
      expect(d.get('frame-ancestors'), path).toBe('https://app.example.com');
      expect(d.get('img-src'), path).toBe("'self' data: https://cdn.example.com");
      expect(d.has('upgrade-insecure-requests'), path).toBe(false);
      expect(plain.headers.get('x-frame-options'), path).toBeNull();
      expect(plain.headers.get('strict-transport-security'), path).toBeNull();

      const tls = await page(server, path, { 'x-forwarded-proto': 'https' });
      const t = directives(tls.headers.get('content-security-policy'));
      expect(t.get('frame-ancestors'), path).toBe('https://app.example.com');
      expect(t.has('upgrade-insecure-requests'), path).toBe(true);
      expect(tls.headers.get('strict-transport-security'), path).toMatch(/^max-age=\d+/);
      expect(tls.headers.get('x-frame-options'), path).toBeNull();
    }
  });
});

describe('without RIZLER_EMBED_ORIGINS', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ RIZLER_RUN_WORKER: 'false' });
  });
  afterAll(async () => server?.close());

  it("refuses every frame: frame-ancestors 'none' and X-Frame-Options DENY", async () => {
    for (const path of ['/', '/portal', '/v1/event-types']) {
      const res = await page(server, path);
      expect(directives(res.headers.get('content-security-policy')).get('frame-ancestors')).toBe(
        "'none'",
      );
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
    }
  });
});
