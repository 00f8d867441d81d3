// A real server on 127.0.0.1:0 (API, dashboard, delivery worker) over a temporary SQLite file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createAccount } from '../../src/accounts/keys.js';
import { loadConfig, type Config } from '../../src/config.js';
import { startServer, type RunningService } from '../../src/server.js';

export interface TestServer {
  url: string;
  apiKey: string;
  accountId: string;
  adminToken: string;
  config: Config;
  service: RunningService;
  /** Another account on the same server. */
  newAccount(name?: string): Promise<{ apiKey: string; accountId: string }>;
  /** fetch against the API with this account's key. */
  api(
    path: string,
    init?: { method?: string; body?: unknown; apiKey?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; headers: Headers; body: any }>;
  close(): Promise<void>;
}

export const ADMIN_TOKEN = 'test-admin-token-0123456789-abcdefghij';

export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'rizler-test-'));
  const databaseUrl = env.RIZLER_DATABASE_URL ?? `sqlite:${join(dir, 'test.db')}`;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    RIZLER_ALLOW_PRIVATE_NETWORKS: 'true',
    RIZLER_RETRY_SCHEDULE: '200ms,400ms',
    RIZLER_ADMIN_TOKEN: ADMIN_TOKEN,
    RIZLER_POLL_INTERVAL: '200ms',
    RIZLER_LOG_LEVEL: 'silent',
    // Tests send many wrong keys on purpose; test/api/rate-limits.test.ts sets its own.
    RIZLER_AUTH_FAILURE_LIMIT: '100000',
    ...env,
    RIZLER_DATABASE_URL: databaseUrl,
  });
  const service = await startServer(config, pino({ level: config.logLevel }), () => {});
  const url = `http://127.0.0.1:${service.port}`;
  const { account, apiKey } = await createAccount(service.storage, 'test');
  const api: TestServer['api'] = async (path, init = {}) => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${init.apiKey ?? apiKey}`,
      ...init.headers,
    };
    let body: string | undefined;
    if (init.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    }
    const res = await fetch(url + path, {
      method: init.method ?? (body ? 'POST' : 'GET'),
      headers,
      body,
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };
  return {
    url,
    apiKey,
    accountId: account.id,
    adminToken: ADMIN_TOKEN,
    config,
    service,
    api,
    async newAccount(name = 'other') {
      const created = await createAccount(service.storage, name);
      return { apiKey: created.apiKey, accountId: created.account.id };
    },
    async close() {
      await service.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
