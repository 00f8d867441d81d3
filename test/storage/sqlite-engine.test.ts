// SQLite-only behaviour (the shared suite in contract.test.ts runs on both engines): the
// background checkpointer of long-running processes.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStorage } from '../../src/storage/sqlite/index.js';
import { makeAccount, makeWebhook, publishOne } from './fixtures.js';

describe('SQLite with background checkpoints', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rizler-sqlite-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies the WAL into the database file from its own thread, and leaves no WAL at close', async () => {
    const path = join(dir, 'db.sqlite');
    const storage = new SqliteStorage(path, { backgroundCheckpoints: true });
    await storage.migrate();
    const account = await makeAccount(storage);
    await makeWebhook(storage, account.id);
    const before = statSync(path).size;
    // Enough pages for any checkpoint to show in the file's size; then no more writes, so no
    // commit could be the one that checkpoints.
    for (let i = 0; i < 300; i++) await publishOne(storage, account.id, 'call.ended');
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(100_000);
    const deadline = Date.now() + 10_000;
    while (statSync(path).size <= before + 100_000) {
      if (Date.now() > deadline) throw new Error('the WAL was never checkpointed');
      await new Promise((r) => setTimeout(r, 20));
    }
    await storage.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    // Everything written is there for the next process.
    const again = new SqliteStorage(path);
    const events = await again.listEvents(account.id, {}, { limit: 500, after: null });
    expect(events).toHaveLength(300);
    await again.close();
  });
});
