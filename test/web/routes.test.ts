// Hash routes of the dashboard: every page has an address that survives a reload.
import { describe, expect, it } from 'vitest';
import { type Route, href, parseRoute } from '../../web/src/app/router.js';

describe('dashboard routes', () => {
  const routes: Route[] = [
    { name: 'webhooks' },
    { name: 'webhook', id: 'wh_1', tab: 'overview' },
    { name: 'webhook', id: 'wh_1', tab: 'logs' },
    { name: 'webhook', id: 'wh_1', tab: 'logs', delivery: 'dlv_2' },
    { name: 'webhook', id: 'wh_1', tab: 'monitoring' },
    { name: 'test-endpoint' },
    { name: 'test-endpoint', url: 'https://example.com/hook?a=1' },
    { name: 'delivery', id: 'dlv_2' },
  ];

  it('reads back every address it writes', () => {
    for (const route of routes) expect(parseRoute(href(route))).toEqual(route);
  });

  it('opens the webhook list by default and rejects unknown paths', () => {
    expect(parseRoute('')).toEqual({ name: 'webhooks' });
    expect(parseRoute('#/')).toEqual({ name: 'webhooks' });
    expect(parseRoute('#/webhooks/wh_1/secrets')).toEqual({ name: 'not-found' });
    expect(parseRoute('#/nowhere')).toEqual({ name: 'not-found' });
  });
});
