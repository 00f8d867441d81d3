// The committed OpenAPI document (docs/openapi.json) is what the code generates: CI fails on
// drift. Regenerate with `npm run openapi` after changing a route schema.
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const FILE = join(ROOT, 'docs', 'openapi.json');

describe('OpenAPI document', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => server.close());

  it('is served at /openapi.json and rendered at /docs', async () => {
    const res = await fetch(server.url + '/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of [
      '/v1/webhooks',
      '/v1/webhooks/{id}',
      '/v1/events',
      '/v1/events/batch',
      '/v1/deliveries/{id}/retry',
      '/v1/event-types',
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    const docs = await fetch(server.url + '/docs', { redirect: 'follow' });
    expect(docs.status).toBe(200);
    expect(await docs.text()).toMatch(/swagger/i);
  });

  it('matches the committed docs/openapi.json', async () => {
    const doc = (await (await fetch(server.url + '/openapi.json')).json()) as {
      info: { version: string };
    };
    const generated = JSON.stringify(doc, null, 2) + '\n';
    if (process.env.UPDATE_GENERATED === '1') {
      mkdirSync(join(ROOT, 'docs'), { recursive: true });
      writeFileSync(FILE, generated);
    }
    expect(existsSync(FILE), 'docs/openapi.json is missing: run npm run openapi').toBe(true);
    expect(
      readFileSync(FILE, 'utf8'),
      'the API changed: run npm run openapi and commit docs/openapi.json',
    ).toBe(generated);
  });
});
