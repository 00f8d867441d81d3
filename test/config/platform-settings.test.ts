// The platform settings (SPEC §1, §9): RIZLER_PUBLIC_URL, RIZLER_EMBED_ORIGINS and the
// dashboard's branding, read and checked once at start.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('platform settings', () => {
  it('defaults: the public URL on PORT, no framing, the product name', () => {
    const config = loadConfig({ PORT: '9090' });
    expect(config.publicUrl).toBe('http://localhost:9090');
    expect(config.embedOrigins).toEqual([]);
    expect(config.branding).toEqual({
      productName: 'Rizler Webhooks',
      accentColor: null,
      logoUrl: null,
    });
  });

  it('reads origins, a public URL without its trailing slash, and the branding', () => {
    const config = loadConfig({
      RIZLER_PUBLIC_URL: 'https://hooks.example.com/',
      RIZLER_EMBED_ORIGINS: 'https://app.example.com, http://localhost:3000',
      RIZLER_BRAND_NAME: 'Acme Hooks',
      RIZLER_BRAND_ACCENT_COLOR: '#0f766e',
      RIZLER_BRAND_LOGO_URL: 'https://cdn.example.com/logo.svg',
    });
    expect(config.publicUrl).toBe('https://hooks.example.com');
    expect(config.embedOrigins).toEqual(['https://app.example.com', 'http://localhost:3000']);
    expect(config.branding).toEqual({
      productName: 'Acme Hooks',
      accentColor: '#0f766e',
      logoUrl: 'https://cdn.example.com/logo.svg',
    });
  });

  it.each([
    ['RIZLER_EMBED_ORIGINS', 'https://app.example.com/path', /origins/],
    ['RIZLER_EMBED_ORIGINS', '*', /origins/],
    ['RIZLER_EMBED_ORIGINS', 'javascript:alert(1)', /origins/],
    ['RIZLER_PUBLIC_URL', 'ftp://example.com', /http/],
    ['RIZLER_BRAND_ACCENT_COLOR', 'red; background: url(x)', /hex colour/],
    ['RIZLER_BRAND_LOGO_URL', 'javascript:alert(1)', /http/],
  ])('refuses %s=%s with a message saying why', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
