// SQLite only: after `secrets reseal` encrypts secrets that were stored in clear, no clear-text
// copy may survive in the file's free pages or its WAL. (PostgreSQL keeps old row versions until
// VACUUM reclaims them and overwrites their pages; README "Security" says what to run there.)
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createSecretBox } from '../../src/core/secret-box.js';
import { SqliteStorage } from '../../src/storage/sqlite/index.js';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('leaves no clear-text secret in the SQLite file after resealing', async () => {
  dir = mkdtempSync(join(tmpdir(), 'rizler-free-pages-'));
  const path = join(dir, 'db.sqlite');
  const storage = new SqliteStorage(path);
  await storage.migrate();
  const plain = createSecretBox(null);
  const sealed = createSecretBox('a passphrase for the test');
  await storage.createAccount({ id: 'acc_1', name: 'a', createdAt: 1 }, 'hash');
  const secrets: string[] = [];
  for (let i = 0; i < 20; i++) {
    const secret = `whsec_CLEARTEXT_${i}_${'z'.repeat(40)}`;
    secrets.push(secret);
    await storage.createWebhook(
      {
        id: `wh_${String(i).padStart(3, '0')}`,
        accountId: 'acc_1',
        url: 'https://example.com/',
        description: null,
        events: ['*'],
        status: 'enabled',
        rateLimitPerMinute: null,
        sealedSecret: plain.seal(secret),
        now: 1,
      },
      100,
    );
  }
  const changed = await storage.resealSecrets((value) => sealed.seal(plain.open(value)));
  expect(changed).toBe(20);

  // While the store is open (the service keeps running beside `secrets reseal`), and after.
  const expectNoClearText = (when: string) => {
    for (const file of [path, `${path}-wal`]) {
      if (!existsSync(file)) continue;
      const bytes = readFileSync(file);
      for (const secret of secrets) {
        expect(bytes.indexOf(Buffer.from(secret)), `${when}: ${secret} in ${file}`).toBe(-1);
      }
    }
  };
  expectNoClearText('open');
  await storage.close();
  expectNoClearText('closed');
});
