// SQLite only: after `secrets reseal` encrypts secrets that were stored in clear, no clear-text
// copy may survive in the file's free pages or its WAL. (PostgreSQL keeps old row versions until
// VACUUM reclaims them and overwrites their pages; README "Security" says what to run there.)
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createSecretBox } from '../../src/core/secret-box.js';
import { SqliteStorage } from '../../src/storage/sqlite/index.js';
import { makeAccount, makeWebhook } from '../storage/fixtures.js';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('leaves no clear-text secret in the SQLite file after resealing', async () => {
  dir = mkdtempSync(join(tmpdir(), 'rizler-free-pages-'));
  const path = join(dir, 'db.sqlite');
  const storage = new SqliteStorage(path);
  await storage.migrate();
  const plain = createSecretBox(null);
  const sealed = createSecretBox('a passphrase for the test');
  const account = await makeAccount(storage);
  const secrets: string[] = [];
  for (let i = 0; i < 20; i++) {
    const secret = `whsec_CLEARTEXT_${i}_${'z'.repeat(40)}`;
    secrets.push(secret);
    await makeWebhook(storage, account.id, { sealedSecret: plain.seal(secret) });
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
