// The dashboard's SPEC §11 controls in a real Chromium against a real server: custom headers
// and a content filter set in the webhook form, the filter tried against the catalogue example
// and a pasted event before saving, operational events under their own heading, and credential
// headers shown masked. Needs the built dashboard (npm run build:web) and /usr/bin/chromium.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startReceiver } from '../helpers/receiver.js';
import { type TestServer, startTestServer } from '../helpers/server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join('test-results', 'endpoint-controls');
const WAIT = 15_000;
const poll = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: WAIT, interval: 100 });

let server: TestServer;
let receiver: Receiver;
let browser: Browser;
let page: Page;
const problems: string[] = [];

beforeAll(async () => {
  if (!existsSync(join('dist', 'web', 'index.html'))) {
    throw new Error('The dashboard is not built: run `npm run build:web` first.');
  }
  mkdirSync(SHOTS, { recursive: true });
  server = await startTestServer();
  receiver = await startReceiver();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
  });
  page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(m.text());
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await receiver?.close();
  await server?.close();
});

describe('endpoint controls in the dashboard', { timeout: 60_000 }, () => {
  it('sets headers and a filter, tries the filter before saving, and lists operational events apart', async () => {
    await page.goto(server.url);
    await page.getByLabel('API key').fill(server.apiKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Add Webhook' }).first().click();
    const dialog = page.getByRole('dialog');

    // Operational events under their own heading; "All events" does not check them.
    const operational = dialog.getByRole('group', { name: 'Operational', exact: true });
    expect(
      await operational.getByRole('checkbox', { name: 'webhook.disabled', exact: true }).count(),
    ).toBe(1);
    await dialog.getByRole('checkbox', { name: 'All events', exact: true }).check();
    const disabledBox = operational.getByRole('checkbox', {
      name: 'webhook.disabled',
      exact: true,
    });
    expect(await disabledBox.isChecked()).toBe(false);
    expect(await disabledBox.isDisabled()).toBe(false);
    await disabledBox.check();

    await dialog.getByLabel('Endpoint URL').fill(receiver.url);
    await dialog.getByRole('button', { name: 'Add header' }).click();
    await dialog.getByLabel('Header name 1').fill('X-Team');
    await dialog.getByLabel('Header value 1').fill('sales');
    await dialog.getByRole('button', { name: 'Add header' }).click();
    await dialog.getByLabel('Header name 2').fill('Authorization');
    await dialog.getByLabel('Header value 2').fill('Bearer sk_live_0123456789abcdef');
    expect(await dialog.getByLabel('Header value 2').getAttribute('type')).toBe('password');

    // Try it: the catalogue example of call.ended is an inbound call of 180 s to support.
    const verdict = dialog.getByRole('status').filter({ hasText: /match|filter/i });
    await dialog.getByLabel('Example event type').selectOption('call.ended');
    await dialog
      .getByLabel('Content filter')
      .fill('{"data": {"direction": "inbound", "duration": {"$gte": 60}}}');
    await poll(() => verdict.textContent()).toBe('Matches: this event would be delivered.');
    await dialog
      .getByLabel('Content filter')
      .fill('{"data": {"direction": "inbound", "queue_id": {"$startsWith": "queue_sales"}}}');
    await poll(() => verdict.textContent()).toBe(
      'Does not match: this event would not be delivered.',
    );
    // A pasted event of one's own.
    await dialog
      .getByLabel('Test event')
      .fill(
        '{"event": "call.ended", "data": {"direction": "inbound", "queue_id": "queue_sales_eu"}}',
      );
    await poll(() => verdict.textContent()).toBe('Matches: this event would be delivered.');
    // The same compiled code as the server: a bad operator is named before saving.
    await dialog.getByLabel('Content filter').fill('{"data": {"duration": {"$gtx": 60}}}');
    await poll(() => verdict.textContent()).toMatch(
      /filter\.data\.duration uses the unknown operator \$gtx/,
    );
    await page.screenshot({ path: join(SHOTS, 'filter-try-it.png'), fullPage: true });

    // Saving it anyway: the server refuses with 422 and the form puts it by the filter.
    await dialog.getByRole('button', { name: 'Save' }).click();
    await poll(() => dialog.getByText(/unknown operator \$gtx/).count()).toBeGreaterThan(1);

    const filter = '{"data": {"direction": "inbound", "queue_id": {"$startsWith": "queue_sales"}}}';
    await dialog.getByLabel('Content filter').fill(filter);
    await dialog.getByRole('button', { name: 'Save' }).click();
    await poll(() => page.getByRole('dialog').count()).toBe(0);

    const list = await server.api('/v1/webhooks');
    const saved = await server.api(`/v1/webhooks/${list.body.data[0].id}`);
    expect(saved.body.events).toEqual(['*', 'webhook.disabled']);
    expect(saved.body.headers).toEqual({
      'X-Team': 'sales',
      Authorization: 'Bearer sk_live_0123456789abcdef',
    });
    expect(saved.body.filter).toEqual(JSON.parse(filter));

    // The webhook's page shows the headers, the credential masked, and the filter.
    await page.goto(`${server.url}/#/webhooks/${saved.body.id}`);
    await poll(() => page.getByText('X-Team: sales').count()).toBe(1);
    expect(await page.getByText('sk_live_0123456789abcdef').count()).toBe(0);
    expect(await page.getByText(/Authorization: Bear•+/).count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});
