// The dashboard in a real Chromium against a real server (API, built dashboard, delivery
// worker) and a real receiver. One account's story, in order: sign in, add a webhook through
// the form, send a test, read the logs, watch retries, retry by hand, monitor, rotate the
// secret, edit, disable, delete; then the same screens at phone width.
//
// Needs the built dashboard (dist/web, rebuilt by the global setup when web/ is newer) and
// Chromium at /usr/bin/chromium. Screenshots of every main screen go to test-results/dashboard/.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../helpers/receiver.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

const SHOTS = join('test-results', 'dashboard');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // A host name that is not localhost, as on a LAN or VM install (http://my-server:8080/):
  // Chromium exempts only localhost from upgrade-insecure-requests.
  '--host-resolver-rules=MAP rizler.test 127.0.0.1',
];

// Playwright's own waits, kept below vitest's per-test timeout so a failure names its step.
const WAIT = 15_000;

/** expect.poll with Playwright's patience (vitest's default gives up after 1 s). */
const poll = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: WAIT, interval: 100 });

let server: TestServer;
let receiver: Receiver;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Console errors and Content-Security-Policy violations seen by any page. */
const problems: string[] = [];

async function newPage(target: BrowserContext): Promise<Page> {
  const created = await target.newPage();
  created.setDefaultTimeout(WAIT);
  created.on('console', (message) => {
    // A 4xx the test provoked on purpose (a wrong key, an invalid URL) is logged by the
    // browser as a failed resource; anything else is a problem.
    if (message.type() !== 'error' || /status of 4\d\d/.test(message.text())) return;
    problems.push(`console: ${message.text()}`);
  });
  created.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  await created.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  return created;
}

async function shot(target: Page, name: string): Promise<void> {
  await target.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(target: Page, apiKey: string): Promise<void> {
  await target.goto(server.url);
  await target.getByLabel('API key').fill(apiKey);
  await target.getByRole('button', { name: 'Sign in' }).click();
  await poll(() => target.getByRole('heading', { name: 'Webhooks', level: 1 }).count()).toBe(1);
}

/** The dashboard's main navigation: the "Setup" group and its links. */
function nav(target: Page) {
  return target.getByRole('navigation', { name: 'Main' });
}

/** The text of the elements that describe a control (its hint and its error). */
async function description(locator: ReturnType<Page['locator']>): Promise<string> {
  const ids = (await locator.getAttribute('aria-describedby')) ?? '';
  return locator.evaluate(
    (element, list) =>
      list
        .split(' ')
        .map((id) => element.ownerDocument.getElementById(id)?.textContent ?? '')
        .join(' '),
    ids,
  );
}

async function webhookId(url: string): Promise<string> {
  const list = await server.api('/v1/webhooks');
  const found = (list.body.data as { id: string; url: string }[]).find((hook) => hook.url === url);
  if (!found) throw new Error(`no webhook for ${url}`);
  return found.id;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `No Chromium at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH.`,
    );
  }
  if (!existsSync(join('dist', 'web', 'index.html'))) {
    throw new Error('The dashboard is not built: run `npm run build:web` first.');
  }
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  server = await startTestServer({
    // Retries far enough apart to watch the history grow in the page, near enough to be quick.
    RIZLER_RETRY_SCHEDULE: '1500ms,1500ms,1500ms',
    RIZLER_MAX_ENDPOINTS: '2',
  });
  receiver = await startReceiver();
  receiver.respondWith(() => ({ status: 200, body: '{"received":true}' }));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  page = await newPage(context);
}, 60_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await receiver?.close();
  await server?.close();
});

// A failed step leaves a picture of what the page showed.
afterEach(async (test) => {
  if (test.task.result?.state === 'fail' && page && !page.isClosed()) {
    await shot(page, `failed-${test.task.name.replace(/[^a-z0-9]+/gi, '-')}`).catch(() => {});
  }
});

// One story in order; a step may wait for a few retries, and the suite runs beside others.
describe('the dashboard', { timeout: 60_000 }, () => {
  it('refuses an API key the server does not accept', async () => {
    await page.goto(server.url);
    await shot(page, 'sign-in');
    await page.getByLabel('API key').fill('rk_not_a_real_key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await poll(() => page.getByText('That API key was not accepted').isVisible()).toBe(true);
    expect(await page.evaluate(() => Object.keys(sessionStorage).length)).toBe(0);
  });

  it('signs in with the account key, kept in the tab only', async () => {
    await signIn(page, server.apiKey);
    const setup = nav(page);
    await poll(() => setup.getByText('Setup', { exact: true }).isVisible()).toBe(true);
    expect(await setup.getByRole('link', { name: 'Webhooks' }).getAttribute('aria-current')).toBe(
      'page',
    );
    await poll(() => setup.getByRole('link', { name: 'Test endpoint' }).isVisible()).toBe(true);
    await poll(() => page.getByText('0 of 2 endpoints used').isVisible()).toBe(true);
    await poll(() => page.getByText('No webhooks yet').isVisible()).toBe(true);

    const stored = await page.evaluate(() => Object.values(sessionStorage));
    expect(stored).toContain(server.apiKey);
    expect(await context.cookies()).toEqual([]);
    expect(page.url()).not.toContain(server.apiKey);
    await shot(page, 'webhooks-empty');

    // A reload keeps the tab signed in.
    await page.reload();
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
  });

  it('adds a webhook through the form, with API errors next to their field', async () => {
    const add = page.getByRole('button', { name: 'Add Webhook' });
    await add.click();
    const dialog = page.getByRole('dialog', { name: 'Add Webhook' });
    await dialog.waitFor();
    // Focus moves into the dialog, on the first field.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('type'))).toBe('url');
    // Every catalogue type is a checkbox, plus "All events" and one wildcard per family.
    const catalogue = (await server.api('/v1/event-types')).body.data as { name: string }[];
    for (const type of catalogue) {
      expect(await dialog.getByRole('checkbox', { name: type.name, exact: true }).count()).toBe(1);
    }
    expect(await dialog.getByRole('checkbox', { name: 'All events', exact: true }).count()).toBe(1);
    expect(
      await dialog.getByRole('checkbox', { name: 'All call events', exact: true }).count(),
    ).toBe(1);

    // Escape closes without saving, and focus returns to the button that opened the form.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await add.evaluate((element) => element === document.activeElement)).toBe(true);

    await add.click();
    await dialog.waitFor();
    await dialog.getByLabel('Endpoint URL').fill('not a url');
    await dialog.getByRole('checkbox', { name: 'call.ended', exact: true }).check();
    await dialog.getByRole('button', { name: 'Save' }).click();
    // A 422 invalid_url appears by Endpoint URL, in the API's words.
    const url = dialog.getByLabel('Endpoint URL');
    await poll(() => url.getAttribute('aria-invalid')).toBe('true');
    expect(await description(url)).toMatch(/not a url/i);
    await shot(page, 'webhook-form-error');

    // A validation_error about the events appears by Events.
    await url.fill(receiver.url);
    await dialog.getByRole('checkbox', { name: 'call.ended', exact: true }).uncheck();
    await dialog.getByRole('button', { name: 'Save' }).click();
    const events = dialog.getByRole('group', { name: 'Events' });
    await poll(() => description(events)).toMatch(/events.*1/i);
    expect(await url.getAttribute('aria-invalid')).toBeNull();
    await dialog.getByRole('checkbox', { name: 'call.ended', exact: true }).check();

    await dialog.getByLabel('Description').fill('CRM sync');
    await dialog.getByRole('checkbox', { name: 'All agent events', exact: true }).check();
    // A family wildcard covers its types: they show checked and cannot be changed alone.
    expect(
      await dialog.getByRole('checkbox', { name: 'agent.created', exact: true }).isChecked(),
    ).toBe(true);
    expect(
      await dialog.getByRole('checkbox', { name: 'agent.created', exact: true }).isDisabled(),
    ).toBe(true);
    expect(await dialog.getByRole('switch', { name: 'Status' }).isChecked()).toBe(true);
    await shot(page, 'webhook-form');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });

    const row = page.getByRole('row').filter({ hasText: receiver.url });
    await row.waitFor();
    await poll(() => row.getByText('Enabled').isVisible()).toBe(true);
    await poll(() => row.getByText('call.ended').isVisible()).toBe(true);
    await poll(() => page.getByText('1 of 2 endpoints used').isVisible()).toBe(true);

    const saved = await server.api(`/v1/webhooks/${await webhookId(receiver.url)}`);
    expect(saved.body.events).toEqual(['agent.*', 'call.ended']);
    expect(saved.body.status).toBe('enabled');
    expect(saved.body.description).toBe('CRM sync');
  });

  it('sends a test event and shows the result', async () => {
    await page.getByRole('link', { name: receiver.url }).click();
    await page.getByRole('heading', { name: receiver.url, level: 1 }).waitFor();
    const select = page.getByLabel('Test event type');
    expect(await select.inputValue()).toBe('call.ended');
    await select.selectOption('call.started');
    const before = receiver.requests.length;
    await page.getByRole('button', { name: 'Send Test' }).click();
    await page.getByText('Test delivered').waitFor();
    await poll(() => page.getByText('200 OK').first().isVisible()).toBe(true);
    expect(
      await page
        .getByText(/^\d+ ms$/)
        .first()
        .isVisible(),
    ).toBe(true);
    await poll(() => page.getByText('"received": true').isVisible()).toBe(true);
    expect(receiver.requests.length).toBe(before + 1);
    expect(receiver.requests.at(-1)?.headers['x-rizler-event']).toBe('call.started');
    await shot(page, 'webhook-overview');
  });

  it('lists the test in the logs with its response time and attempt', async () => {
    // Tabs follow the ARIA pattern: arrow keys move and select.
    await page.getByRole('tab', { name: 'Overview' }).focus();
    await page.keyboard.press('ArrowRight');
    await poll(() => page.getByRole('tab', { name: 'Logs' }).getAttribute('aria-selected')).toBe(
      'true',
    );
    expect(
      await page.getByRole('tab', { name: 'Logs' }).evaluate((el) => el === document.activeElement),
    ).toBe(true);
    const row = page.getByRole('row').filter({ hasText: 'call.started' });
    await row.waitFor();
    await poll(() => row.getByText('Succeeded').isVisible()).toBe(true);
    await poll(() => row.getByText('Test', { exact: true }).isVisible()).toBe(true);
    await poll(() => row.getByText(/^\d+ ms$/).isVisible()).toBe(true);
    await shot(page, 'logs');

    await row.getByRole('button').click();
    const dialog = page.getByRole('dialog', { name: 'Delivery details' });
    await dialog.waitFor();
    await dialog.getByText('Attempt 1').waitFor();
    await poll(() => dialog.getByText('Test send').isVisible()).toBe(true);
    await poll(() => dialog.getByText('200 OK').first().isVisible()).toBe(true);
    expect(await dialog.getByText('x-rizler-signature', { exact: false }).first().isVisible()).toBe(
      true,
    );
    await shot(page, 'delivery-test');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  it('shows a failing delivery retry after retry, then retries it by hand', async () => {
    receiver.respondWith(() => ({ status: 500, body: 'upstream exploded' }));
    const catalogue = (await server.api('/v1/event-types')).body.data as {
      name: string;
      example: unknown;
    }[];
    const example = catalogue.find((type) => type.name === 'call.ended')?.example;
    const published = await server.api('/v1/events', {
      body: { event: 'call.ended', data: example },
    });
    expect(published.status).toBe(202);
    expect(published.body.deliveries).toBe(1);

    // The open log picks the new delivery up by itself.
    const row = page.getByRole('row').filter({ hasText: 'call.ended' });
    await row.waitFor();
    await row.getByRole('button').click();
    const dialog = page.getByRole('dialog', { name: 'Delivery details' });
    await dialog.waitFor();
    // Automatic retries land one by one without a reload.
    await dialog.getByText('Attempt 1', { exact: true }).waitFor();
    await dialog.getByText('Attempt 2', { exact: true }).waitFor();
    await shot(page, 'delivery-retrying');
    await poll(() => dialog.getByText('500 Internal Server Error').first().isVisible()).toBe(true);
    await poll(() => dialog.getByText('upstream exploded').first().isVisible()).toBe(true);
    await dialog.getByText('Attempt 4', { exact: true }).waitFor({ timeout: 20_000 });
    await dialog.getByText('Automatic retries are over').waitFor();
    await shot(page, 'delivery-failed');

    receiver.respondWith(() => ({ status: 200, body: 'fixed' }));
    await dialog.getByRole('button', { name: 'Retry' }).click();
    await dialog.getByText('Attempt 5', { exact: true }).waitFor();
    await poll(() => dialog.getByText('Manual retry').isVisible()).toBe(true);
    await dialog.getByText('The retry succeeded').waitFor();
    await shot(page, 'delivery-retried');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });

    // The log caught up too: five attempts, succeeded.
    await poll(() => row.getByText('Succeeded').isVisible()).toBe(true);
  });

  it('filters the logs by status and event type', async () => {
    await page.getByLabel('Status').selectOption('failed');
    await page.getByText('No deliveries match these filters').waitFor();
    await page.getByLabel('Status').selectOption('succeeded');
    await page.getByLabel('Event type').selectOption('call.ended');
    await poll(() => page.getByRole('row').count()).toBe(2); // header + one delivery
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await poll(() => page.getByRole('row').count()).toBe(3);
    expect(await page.getByRole('button', { name: 'Previous page' }).isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Next page' }).isDisabled()).toBe(true);
  });

  it('charts deliveries and response times over time', async () => {
    await page.getByRole('tab', { name: 'Monitoring' }).click();
    await page.locator('.recharts-surface').first().waitFor();
    await poll(() => page.locator('.recharts-bar-rectangle').count()).toBeGreaterThan(0);
    expect(await page.locator('.recharts-line').count()).toBe(2);
    const deliveries = page.locator('.tile').filter({ hasText: 'Deliveries' });
    expect(await deliveries.locator('dd').textContent()).toBe('2');
    await shot(page, 'monitoring-24h');
    await page.getByRole('radio', { name: '1 h' }).check();
    await page.locator('.recharts-surface').first().waitFor();
    await shot(page, 'monitoring-1h');
  });

  it('reveals, copies and rotates the signing secret', async () => {
    await page.getByRole('tab', { name: 'Overview' }).click();
    const id = await webhookId(receiver.url);
    const secret = (await server.api(`/v1/webhooks/${id}/secret`)).body.secret as string;
    await page.getByRole('button', { name: 'Reveal' }).click();
    await page.getByText(secret).waitFor();
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText('Secret copied').waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);

    await page.getByRole('button', { name: 'Rotate secret' }).click();
    const dialog = page.getByRole('dialog', { name: 'Rotate the signing secret?' });
    await dialog.waitFor();
    await poll(() => dialog.getByText('24 hours').isVisible()).toBe(true);
    await shot(page, 'rotate-secret');
    await dialog.getByRole('button', { name: 'Rotate secret' }).click();
    await dialog.waitFor({ state: 'detached' });
    const rotated = (await server.api(`/v1/webhooks/${id}/secret`)).body.secret as string;
    expect(rotated).not.toBe(secret);
    await page.getByText(rotated).waitFor();
  });

  it('edits the webhook and disables it', async () => {
    await page.getByRole('button', { name: 'Edit' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit webhook' });
    await dialog.waitFor();
    expect(await dialog.getByLabel('Endpoint URL').inputValue()).toBe(receiver.url);
    expect(
      await dialog.getByRole('checkbox', { name: 'call.ended', exact: true }).isChecked(),
    ).toBe(true);
    await dialog.getByRole('checkbox', { name: 'recording.ready', exact: true }).check();
    await dialog.getByRole('switch', { name: 'Status' }).uncheck();
    // SPEC §10: ordering per key, with what it costs said next to it
    const inOrder = dialog.getByRole('switch', { name: 'Deliver in order' });
    expect(await inOrder.isChecked()).toBe(false);
    await dialog.getByText('one request in flight per key').waitFor();
    await inOrder.check();
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.locator('.page-meta').getByText('Disabled').waitFor();

    const saved = await server.api(`/v1/webhooks/${await webhookId(receiver.url)}`);
    expect(saved.body.status).toBe('disabled');
    expect(saved.body.events).toEqual(['agent.*', 'call.ended', 'recording.ready']);
    expect(saved.body.ordering).toBe('per_key');

    // The quick toggle turns it back on.
    await page.getByRole('button', { name: 'Enable' }).click();
    await page.locator('.page-meta').getByText('Enabled').waitFor();
  });

  it('tests a URL that is not saved yet and links to its log entry', async () => {
    await nav(page).getByRole('link', { name: 'Test endpoint' }).click();
    await page.getByRole('heading', { name: 'Test endpoint', level: 1 }).waitFor();
    await page.getByLabel('Endpoint URL').fill(`${receiver.url}/unsaved`);
    expect(await page.getByLabel('Test event type').inputValue()).toBe('call.ended');
    await page.getByLabel('Test event type').selectOption('agent.status_changed');
    await page.getByRole('button', { name: 'Send Test' }).click();
    await page.getByText('Test delivered').waitFor();
    await shot(page, 'test-endpoint');
    await page.getByRole('link', { name: 'View this delivery in the logs' }).click();
    await page.getByText('Attempt 1', { exact: true }).waitFor();
    await poll(() => page.getByText('agent.status_changed').first().isVisible()).toBe(true);
    // Nothing to retry against: the URL is not a saved webhook.
    expect(await page.getByRole('button', { name: 'Retry' }).isDisabled()).toBe(true);
    await shot(page, 'delivery-page');
  });

  it('shows the endpoint limit before it is hit', async () => {
    await server.api('/v1/webhooks', { body: { url: `${receiver.url}/second`, events: ['*'] } });
    await nav(page).getByRole('link', { name: 'Webhooks' }).click();
    await page.getByText('2 of 2 endpoints used').waitFor();
    expect(await page.getByRole('button', { name: 'Add Webhook' }).isDisabled()).toBe(true);
    await poll(() => page.getByText('Delete an endpoint to add another').isVisible()).toBe(true);
    await page.getByRole('row').filter({ hasText: '/second' }).getByText('All events').waitFor();
    await shot(page, 'webhooks-list');
  });

  it('deletes a webhook after confirmation', async () => {
    await page.getByRole('link', { name: `${receiver.url}/second` }).click();
    await page.getByRole('button', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete this webhook?' });
    await dialog.waitFor();
    // The safe choice has focus.
    expect(
      await dialog
        .getByRole('button', { name: 'Cancel' })
        .evaluate((el) => el === document.activeElement),
    ).toBe(true);
    await shot(page, 'delete-confirm');
    await dialog.getByRole('button', { name: 'Delete webhook' }).click();
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    await page.getByText('1 of 2 endpoints used').waitFor();
    expect(await page.getByRole('row').filter({ hasText: '/second' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Add Webhook' }).isEnabled()).toBe(true);
    const list = await server.api('/v1/webhooks');
    expect(list.body.data).toHaveLength(1);
  });

  it('works at phone width (390 px)', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    try {
      const small = await newPage(phone);
      await small.goto(server.url);
      await shot(small, 'phone-sign-in');
      await signIn(small, server.apiKey);
      const overflow = () =>
        small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(await overflow()).toBeLessThanOrEqual(0);
      await shot(small, 'phone-webhooks');

      await small.getByRole('button', { name: 'Add Webhook' }).click();
      await small.getByRole('dialog', { name: 'Add Webhook' }).waitFor();
      await shot(small, 'phone-webhook-form');
      await small.keyboard.press('Escape');

      await small.getByRole('link', { name: receiver.url }).click();
      await small.getByRole('button', { name: 'Send Test' }).click();
      await small.getByText('Test delivered').waitFor();
      expect(await overflow()).toBeLessThanOrEqual(0);
      await shot(small, 'phone-webhook-overview');

      await small.getByRole('tab', { name: 'Logs' }).click();
      const firstRow = small.getByRole('row').nth(1);
      await firstRow.waitFor();
      expect(await overflow()).toBeLessThanOrEqual(0);
      await shot(small, 'phone-logs');
      await firstRow.getByRole('button').click();
      await small
        .getByRole('dialog', { name: 'Delivery details' })
        .getByText('Attempt 1', { exact: true })
        .waitFor();
      await shot(small, 'phone-delivery');
      await small.keyboard.press('Escape');

      await small.getByRole('tab', { name: 'Monitoring' }).click();
      await small.locator('.recharts-surface').first().waitFor();
      expect(await overflow()).toBeLessThanOrEqual(0);
      await shot(small, 'phone-monitoring');
    } finally {
      await phone.close();
    }
  });

  it('signs out and forgets the key', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate(() => Object.keys(sessionStorage).length)).toBe(0);
    await page.reload();
    await page.getByLabel('API key').waitFor();
  });

  it('works when opened by a host name over plain HTTP, as on a LAN', async () => {
    const lan = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const remote = await newPage(lan);
      const url = server.url.replace('127.0.0.1', 'rizler.test');
      await remote.goto(url);
      await remote.getByLabel('API key').fill(server.apiKey);
      await remote.getByRole('button', { name: 'Sign in' }).click();
      await poll(() => remote.getByRole('heading', { name: 'Webhooks', level: 1 }).count()).toBe(1);
      expect(remote.url()).toMatch(/^http:\/\/rizler\.test:\d+\//);
      await shot(remote, 'lan-host-name');
    } finally {
      await lan.close();
    }
  });

  it('runs under the Content-Security-Policy without console errors', () => {
    expect(problems).toEqual([]);
  });
});
