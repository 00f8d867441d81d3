// The operator's commands, run as the built CLI: `migrate` applies the schema and exits (and
// again changes nothing), `accounts create --name` prints {"id","name","api_key"} and that key
// signs in to the API. Both engines.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startServer } from '../../src/server.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { startCli } from './cli.js';

type Engine = 'sqlite' | 'postgres';

async function run(args: string[], databaseUrl: string) {
  const cli = startCli(args, { RIZLER_DATABASE_URL: databaseUrl, RIZLER_LOG_LEVEL: 'silent' });
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

describe.each<Engine>(['sqlite', 'postgres'])('migrate and accounts create (%s)', (engine) => {
  let drop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await drop?.();
    drop = undefined;
  });

  async function emptyDatabase(): Promise<string> {
    if (engine === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'rizler-cli-'));
      drop = async () => rmSync(dir, { recursive: true, force: true });
      return `sqlite:${join(dir, 'nested', 'rizler-webhooks.db')}`;
    }
    const db = await createTestDatabase();
    drop = db.drop;
    return db.url;
  }

  it('migrate applies every migration and exits; a second run changes nothing', async () => {
    const url = await emptyDatabase();
    const first = await run(['migrate'], url);
    expect(first).toMatchObject({ code: 0, stdout: `migrations applied (${engine})\n` });
    const second = await run(['migrate'], url);
    expect(second).toMatchObject({ code: 0, stdout: `migrations applied (${engine})\n` });

    const { openStorage } = await import('../../src/storage/open.js');
    const storage = await openStorage(url);
    try {
      // The schema is there: the accounts table answers.
      expect(await storage.countAccounts()).toBe(0);
    } finally {
      await storage.close();
    }
  });

  it('accounts create prints the account as JSON, and its key signs in', async () => {
    const url = await emptyDatabase();
    const created = await run(['accounts', 'create', '--name', 'Acme Support'], url);
    expect(created.code).toBe(0);
    const account = JSON.parse(created.stdout) as Record<string, string>;
    expect(Object.keys(account)).toEqual(['id', 'name', 'api_key']);
    expect(account.name).toBe('Acme Support');
    expect(account.api_key).toMatch(/^rzk_/);

    const missingName = await run(['accounts', 'create'], url);
    expect(missingName.code).not.toBe(0);
    expect(missingName.stderr).toMatch(/--name/);

    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      RIZLER_RUN_WORKER: 'false',
      RIZLER_DATABASE_URL: url,
      RIZLER_ADMIN_TOKEN: 'cli-test-admin-token-0123456789abcdef',
    });
    const service = await startServer(config, pino({ level: 'silent' }), () => {});
    try {
      const res = await fetch(`http://127.0.0.1:${service.port}/v1/account`, {
        headers: { authorization: `Bearer ${account.api_key}` },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ id: account.id, name: 'Acme Support' });
    } finally {
      await service.stop();
    }
  });
});
