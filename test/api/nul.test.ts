import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server.close());

it('refuses a NUL character in free text, which PostgreSQL cannot store', async () => {
  const hook = await server.api('/v1/webhooks', {
    body: { url: 'http://127.0.0.1:9/x', events: ['*'], description: 'a\u0000b' },
  });
  expect(hook.status).toBe(400);
  expect(hook.body.error.code).toBe('validation_error');
  const account = await server.api('/v1/accounts', {
    body: { name: 'x\u0000' },
    apiKey: server.adminToken,
  });
  expect(account.status).toBe(400);
});
