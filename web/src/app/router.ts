// Hash routing: the server serves one index.html, and deep links still work without a
// server-side fallback. The API key never appears here.
import { useEffect, useState } from 'react';

export type WebhookTab = 'overview' | 'logs' | 'monitoring';

export type Route =
  | { name: 'webhooks' }
  | { name: 'webhook'; id: string; tab: WebhookTab; delivery?: string }
  | { name: 'test-endpoint'; url?: string }
  | { name: 'delivery'; id: string }
  | { name: 'activity' }
  | { name: 'not-found' };

const TABS: readonly WebhookTab[] = ['overview', 'logs', 'monitoring'];

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, '');
  const [pathPart = '', queryPart = ''] = raw.split('?', 2);
  const params = new URLSearchParams(queryPart);
  const parts = pathPart
    .split('/')
    .filter(Boolean)
    .map((part) => decodeURIComponent(part));
  if (parts.length === 0 || (parts.length === 1 && parts[0] === 'webhooks')) {
    return { name: 'webhooks' };
  }
  if (parts[0] === 'webhooks' && parts[1] && parts.length <= 3) {
    const tab = (parts[2] ?? 'overview') as WebhookTab;
    if (!TABS.includes(tab)) return { name: 'not-found' };
    const delivery = params.get('delivery') ?? undefined;
    return { name: 'webhook', id: parts[1], tab, ...(delivery ? { delivery } : {}) };
  }
  if (parts[0] === 'test-endpoint' && parts.length === 1) {
    const url = params.get('url') ?? undefined;
    return { name: 'test-endpoint', ...(url ? { url } : {}) };
  }
  if (parts[0] === 'activity' && parts.length === 1) return { name: 'activity' };
  if (parts[0] === 'deliveries' && parts[1] && parts.length === 2) {
    return { name: 'delivery', id: parts[1] };
  }
  return { name: 'not-found' };
}

export function href(route: Route): string {
  switch (route.name) {
    case 'webhooks':
      return '#/webhooks';
    case 'webhook': {
      const base = `#/webhooks/${encodeURIComponent(route.id)}`;
      const path = route.tab === 'overview' ? base : `${base}/${route.tab}`;
      return route.delivery ? `${path}?delivery=${encodeURIComponent(route.delivery)}` : path;
    }
    case 'test-endpoint':
      return route.url ? `#/test-endpoint?url=${encodeURIComponent(route.url)}` : '#/test-endpoint';
    case 'delivery':
      return `#/deliveries/${encodeURIComponent(route.id)}`;
    case 'activity':
      return '#/activity';
    case 'not-found':
      return '#/not-found';
  }
}

export function navigate(route: Route, options: { replace?: boolean } = {}): void {
  const target = href(route);
  if (options.replace) window.location.replace(target);
  else window.location.hash = target;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
