// SPEC §1: on the first start with an empty store and no RIZLER_ADMIN_TOKEN, the server creates
// an account named `default` and prints its API key, once. With an admin token the platform
// creates accounts itself, so none is made.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server.js';
import { openStorage } from '../../src/storage/open.js';

describe('the first start', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts and stops a server on `databaseUrl`; returns what it printed for people. */
  async function startOnce(databaseUrl: string, env: Record<string, string> = {}) {
    const printed: string[] = [];
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      RIZLER_RUN_WORKER: 'false',
      RIZLER_DATABASE_URL: databaseUrl,
      ...env,
    });
    const service = await startServer(config, pino({ level: 'silent' }), (line) =>
      printed.push(line),
    );
    const port = service.port;
    await service.stop();
    return { printed: printed.join('\n'), port };
  }

  function emptyStore(): string {
    const dir = mkdtempSync(join(tmpdir(), 'rizler-first-start-'));
    dirs.push(dir);
    return `sqlite:${join(dir, 'rizler-webhooks.db')}`;
  }

  it('creates the `default` account and prints its key once; the key works', async () => {
    const url = emptyStore();
    const first = await startOnce(url);
    expect(first.printed).toContain('Created the account "default"');
    const key = /(rzk_[A-Za-z0-9_-]+)/.exec(first.printed)?.[1];
    expect(key).toBeDefined();

    const second = await startOnce(url);
    expect(second.printed).toBe('');

    const storage = await openStorage(url);
    try {
      expect(await storage.countAccounts()).toBe(1);
    } finally {
      await storage.close();
    }
    // The printed key is the account's: the API accepts it.
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      RIZLER_RUN_WORKER: 'false',
      RIZLER_DATABASE_URL: url,
    });
    const service = await startServer(config, pino({ level: 'silent' }), () => {});
    try {
      const res = await fetch(`http://127.0.0.1:${service.port}/v1/webhooks`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(res.status).toBe(200);
    } finally {
      await service.stop();
    }
  });

  it('creates no account and prints nothing when RIZLER_ADMIN_TOKEN is set', async () => {
    const url = emptyStore();
    const started = await startOnce(url, {
      RIZLER_ADMIN_TOKEN: 'first-start-admin-token-0123456789abcdef',
    });
    expect(started.printed).toBe('');
    const storage = await openStorage(url);
    try {
      expect(await storage.countAccounts()).toBe(0);
    } finally {
      await storage.close();
    }
  });
});
