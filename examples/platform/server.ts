// A stand-in for Rizler's own app, showing the platform integration end to end (SPEC §9):
// with the admin token it creates an account for a customer and a first webhook for it, and
// its "Setup > Webhooks" page frames the Rizler Webhooks dashboard through a portal session
// minted for each page view. The customer never sees an API key, let alone one that publishes.
//
//   RIZLER_API_URL=http://127.0.0.1:8080 RIZLER_ADMIN_TOKEN=… PORT=3000 \
//     node --experimental-strip-types examples/platform/server.ts
//
// The webhooks service must list this app's origin in RIZLER_EMBED_ORIGINS.
import { createServer, type Server } from 'node:http';

export interface PlatformOptions {
  /** Where the Rizler Webhooks API is (RIZLER_API_URL). */
  apiUrl: string;
  adminToken: string;
  /** The customer's first webhook: where their CRM receives call events. */
  firstWebhookUrl: string;
  port?: number;
  host?: string;
}

export interface PlatformApp {
  url: string;
  accountId: string;
  close(): Promise<void>;
}

async function call<T>(
  options: PlatformOptions,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(options.apiUrl + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const parsed = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(parsed)}`);
  return parsed;
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(portalUrl: string, apiOrigin: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; frame-src ${escape(apiOrigin)}">
<title>Rizler · Setup › Webhooks</title>
<style>
  body { margin: 0; font-family: system-ui, sans-serif; display: grid; grid-template-rows: auto 1fr; height: 100vh; }
  header { padding: 12px 20px; background: #111827; color: white; }
  iframe { border: 0; width: 100%; height: 100%; }
</style>
</head>
<body>
<header>Rizler · Setup › Webhooks</header>
<iframe title="Webhooks" src="${escape(portalUrl)}"></iframe>
</body>
</html>`;
}

export async function startPlatformApp(options: PlatformOptions): Promise<PlatformApp> {
  // 1. The customer's account, made with the admin token. Its first key stays on this server:
  //    the customer never sees it.
  const account = await call<{ id: string; api_key: string }>(
    options,
    'POST',
    '/v1/accounts',
    options.adminToken,
    {
      name: 'Customer 42',
    },
  );
  // 2. A first webhook for them, made with that key.
  await call(options, 'POST', '/v1/webhooks', account.api_key, {
    url: options.firstWebhookUrl,
    events: ['call.*'],
    description: 'CRM',
  });

  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/' && req.url !== '/setup/webhooks')) {
      res.writeHead(404).end();
      return;
    }
    // 3. A portal session for each view of the page: a link valid for one hour.
    call<{ url: string }>(
      options,
      'POST',
      `/v1/accounts/${account.id}/portal-sessions`,
      options.adminToken,
      {
        expires_in: 3600,
      },
    ).then(
      (session) => {
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          // The portal token is in the iframe's fragment: no Referer may carry this page's URL.
          'referrer-policy': 'no-referrer',
        });
        res.end(page(session.url, new URL(session.url).origin));
      },
      (err: unknown) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`Could not open the webhooks portal: ${(err as Error).message}`);
      },
    );
  });
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 3000, options.host ?? '127.0.0.1', resolve),
  );
  const { port } = server.address() as { port: number };
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    accountId: account.id,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const app = await startPlatformApp({
    apiUrl: process.env.RIZLER_API_URL ?? 'http://127.0.0.1:8080',
    adminToken: process.env.RIZLER_ADMIN_TOKEN ?? '',
    firstWebhookUrl: process.env.FIRST_WEBHOOK_URL ?? 'https://example.com/crm/webhooks',
    port: Number(process.env.PORT ?? 3000),
  });
  console.log(`Rizler's app stand-in at ${app.url}: open it to see Setup › Webhooks`);
}
