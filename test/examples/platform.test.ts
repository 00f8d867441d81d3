// examples/platform in a real Chromium: Rizler's app stand-in frames the dashboard through a
// portal session; inside the frame a customer adds a webhook, sends a test and sees it in
// Logs. The same page served from an origin not in RIZLER_EMBED_ORIGINS shows no dashboard.
// Also the portal link itself: the token leaves the address at once, a read-only session
// shows no control that changes anything, and a session that ends says so.
//
// Needs the built dashboard (npm run build:web) and Chromium at /usr/bin/chromium.
import { createServer } from 'node:net';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatformApp, type PlatformApp } from '../../examples/platform/server.js';
import { type Receiver, startReceiver } from '../helpers/receiver.js';
import { ADMIN_TOKEN, type TestServer, startTestServer } from '../helpers/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const WAIT = 15_000;
const poll = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: WAIT, interval: 100 });

/** A free port: bound once, then released (the server must know its public URL up front). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('examples/platform: the dashboard framed in the platform app', () => {
  let server: TestServer;
  let receiver: Receiver;
  let browser: Browser;
  let allowed: PlatformApp;
  let refused: PlatformApp;
  const problems: string[] = [];

  beforeAll(async () => {
    receiver = await startReceiver();
    const [apiPort, allowedPort] = [await freePort(), await freePort()];
    server = await startTestServer({
      PORT: String(apiPort),
      RIZLER_PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
      RIZLER_EMBED_ORIGINS: `http://127.0.0.1:${allowedPort}`,
      RIZLER_BRAND_NAME: 'Rizler Connect',
    });
    const options = { apiUrl: server.url, adminToken: ADMIN_TOKEN, firstWebhookUrl: receiver.url };
    allowed = await startPlatformApp({ ...options, port: allowedPort });
    // The same app on another origin: not listed in RIZLER_EMBED_ORIGINS.
    refused = await startPlatformApp({ ...options, port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await allowed?.close();
    await refused?.close();
    await server?.close();
    await receiver?.close();
  });

  async function open(url: string): Promise<Page> {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(url);
    return page;
  }

  it('lets the customer add a webhook, send a test and read its logs inside the frame', async () => {
    const page = await open(allowed.url);
    const frame = page.frameLocator('iframe[title="Webhooks"]');
    await frame.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    // Embedded: no header or sign-out of its own; the first webhook made by the platform shows.
    expect(await frame.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    expect(await frame.getByRole('banner').count()).toBe(0);
    await frame.getByRole('link', { name: receiver.url }).waitFor();

    await frame.getByRole('button', { name: 'Add Webhook' }).click();
    const dialog = frame.getByRole('dialog', { name: 'Add Webhook' });
    const url = `${receiver.url}/framed`;
    await dialog.getByLabel('Endpoint URL').fill(url);
    await dialog.getByRole('checkbox', { name: 'call.ended', exact: true }).check();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });

    await frame.getByRole('link', { name: url }).click();
    await frame.getByRole('heading', { name: url, level: 1 }).waitFor();
    const before = receiver.requests.length;
    await frame.getByRole('button', { name: 'Send Test' }).click();
    await frame.getByText('Test delivered').waitFor();
    expect(receiver.requests.length).toBe(before + 1);
    expect(receiver.requests.at(-1)?.url).toMatch(/\/framed$/);

    await frame.getByRole('tab', { name: 'Logs' }).click();
    await poll(() => frame.getByRole('row').filter({ hasText: 'call.ended' }).count()).toBe(1);

    // The webhook is the customer's account's, made by their portal session.
    const log = await server.api(`/v1/accounts/${allowed.accountId}/audit-log`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const made = log.body.data.find((e: { action: string }) => e.action === 'webhook.created');
    expect(made.actor.type).toBe('portal_session');
    expect(problems).toEqual([]);
    await page.context().close();
  });

  it('renders no dashboard on a page whose origin is not in RIZLER_EMBED_ORIGINS', async () => {
    const page = await open(refused.url);
    await page.locator('iframe[title="Webhooks"]').waitFor();
    // Give the frame the time the allowed one needed to render, and more.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const frame = page.frames().find((f) => f !== page.mainFrame());
    // Chromium shows its own "blocked" page in the frame instead: no dashboard, no app root.
    const dashboard = await frame
      ?.evaluate(() => document.getElementById('root') !== null)
      .catch(() => false);
    expect(dashboard ?? false).toBe(false);
    const direct = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(direct.headers.get('content-security-policy')).toContain(
      `frame-ancestors ${allowed.url}`,
    );
    await page.context().close();
  });

  it('takes the token out of the address, and a read-only session shows no control that changes anything', async () => {
    const res = await server.api(`/v1/accounts/${server.accountId}/portal-sessions`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body: { read_only: true },
    });
    const page = await open(res.body.url);
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    expect(page.url()).not.toContain(res.body.token);
    expect(page.url()).toMatch(/\/portal#\/webhooks$/);
    expect(await page.title()).toBe('Rizler Connect');
    await page.getByText('Read-only access').first().waitFor();
    await server.api('/v1/webhooks', { body: { url: `${receiver.url}/ro`, events: ['*'] } });
    await page.reload();
    await page.getByRole('link', { name: `${receiver.url}/ro` }).click();
    await page.getByRole('heading', { name: `${receiver.url}/ro`, level: 1 }).waitFor();
    for (const name of ['Add Webhook', 'Edit', 'Disable', 'Delete', 'Rotate secret', 'Send Test']) {
      expect(await page.getByRole('button', { name }).count(), name).toBe(0);
    }
    expect(await page.getByRole('link', { name: 'Test endpoint' }).count()).toBe(0);
    await page.getByRole('link', { name: 'Activity' }).click();
    await page.getByRole('heading', { name: 'Activity', level: 1 }).waitFor();
    await page.getByText('webhook.created').first().waitFor();
    await page.context().close();
  });

  it('says the session has ended when its token stops working', async () => {
    const page = await open(`${server.url}/portal#token=rzp_not-a-live-session`);
    await page.getByText('Your session has ended').waitFor();
    expect(await page.getByLabel('API key').count()).toBe(0);
    expect(page.url()).not.toContain('rzp_');
    await page.context().close();
  });
});
