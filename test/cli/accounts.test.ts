// The operator's account commands, run as a person would against a SQLite file: create,
// list, keys create/list/revoke, suspend, resume, delete, and their refusals.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/core/ids.js';
import { SqliteStorage } from '../../src/storage/sqlite/index.js';
import { runCli } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'rizler-cli-accounts-'));
const file = join(dir, 'cli.db');
const env = { RIZLER_DATABASE_URL: `sqlite:${file}`, RIZLER_LOG_LEVEL: 'silent' };
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function ok(args: string[]): Promise<any[]> {
  const run = await runCli(args, env);
  expect(run.code, run.stderr).toBe(0);
  return run.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

async function keyWorks(key: string): Promise<boolean> {
  const storage = new SqliteStorage(file);
  try {
    return (await storage.findApiKey(hashApiKey(key), Date.now())) !== null;
  } finally {
    await storage.close();
  }
}

describe('accounts commands', () => {
  it('manages accounts and their keys from the command line', async () => {
    const [created] = await ok(['accounts', 'create', '--name', 'Acme']);
    const [other] = await ok(['accounts', 'create', '--name', 'Other']);
    const listed = await ok(['accounts', 'list']);
    expect(listed.map((a) => a.id)).toEqual([other.id, created.id]);
    expect(listed[1]).toMatchObject({ name: 'Acme', status: 'active' });

    const [key] = await ok([
      'accounts',
      'keys',
      'create',
      created.id,
      '--name',
      'reader',
      '--scopes',
      'read,manage',
    ]);
    expect(key).toMatchObject({ name: 'reader', scopes: ['read', 'manage'] });
    expect(await keyWorks(key.key)).toBe(true);
    const keys = await ok(['accounts', 'keys', 'list', created.id]);
    expect(keys.map((k) => k.id)).toContain(key.id);
    expect(JSON.stringify(keys)).not.toContain(key.key);
    expect(keys.find((k) => k.id !== key.id).scopes).toEqual(['publish', 'read', 'manage', 'keys']);

    const bad = await runCli(
      ['accounts', 'keys', 'create', created.id, '--name', 'x', '--scopes', 'read,admin'],
      env,
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('unknown scope admin');

    await ok(['accounts', 'keys', 'revoke', created.id, key.id]);
    expect(await keyWorks(key.key)).toBe(false);
    const again = await runCli(['accounts', 'keys', 'revoke', created.id, key.id], env);
    expect(again.code).toBe(1);

    expect(await ok(['accounts', 'suspend', created.id])).toEqual([
      { id: created.id, status: 'suspended' },
    ]);
    expect((await ok(['accounts', 'list']))[1].status).toBe('suspended');
    expect(await ok(['accounts', 'resume', created.id])).toEqual([
      { id: created.id, status: 'active' },
    ]);

    const [deleted] = await ok(['accounts', 'delete', created.id]);
    expect(deleted).toMatchObject({ id: created.id, deleted: true });
    expect(deleted.rows_removed).toBeGreaterThan(0);
    expect(await keyWorks(created.api_key)).toBe(false);
    expect((await ok(['accounts', 'list'])).map((a) => a.id)).toEqual([other.id]);
    const twice = await runCli(['accounts', 'delete', created.id], env);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('no account');
    // Sixteen processes, each a few seconds on a loaded machine.
  }, 180_000);
});
