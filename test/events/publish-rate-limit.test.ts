// RIZLER_PUBLISH_RATE_LIMIT reaches the publish routes through the configuration: an account
// that publishes past it is refused with 429 and Retry-After, and the management API, which
// has its own limit, does not count publishing. (How a batch counts is the publish route's
// business and tested beside it; here each request carries one event.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

const EVENT = { event: 'call.ended', data: { call_id: 'c', duration: 1, status: 'completed' } };

describe('RIZLER_PUBLISH_RATE_LIMIT', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ RIZLER_PUBLISH_RATE_LIMIT: '3', RIZLER_RUN_WORKER: 'false' });
  });
  afterAll(async () => server.close());

  it('is read into the configuration', () => {
    expect(server.config.publishRateLimit).toBe(3);
  });

  it('refuses the account’s publishes past the limit with 429 and Retry-After, and nothing else', async () => {
    for (let i = 0; i < 3; i++) {
      const ok = await server.api('/v1/events', { body: EVENT });
      expect(ok.status, `publish ${i + 1}`).toBe(202);
      expect(ok.headers.get('x-ratelimit-limit')).toBe('3');
    }
    const refused = await server.api('/v1/events', { body: EVENT });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('rate_limited');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');

    // Another account has its own allowance; the management API its own limit.
    const other = await server.newAccount();
    expect((await server.api('/v1/events', { body: EVENT, apiKey: other.apiKey })).status).toBe(
      202,
    );
    const list = await server.api('/v1/webhooks');
    expect(list.status).toBe(200);
    expect(list.headers.get('x-ratelimit-limit')).toBe(String(server.config.apiRateLimit));
  });
});
