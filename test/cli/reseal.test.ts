// Encryption key rotation: RIZLER_ENCRYPTION_KEY="new,old" reads both; `secrets reseal`
// rewrites every secret under the new key, after which the old key can go.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { createSecretBox } from '../../src/core/secret-box.js';
import { openStorage } from '../../src/storage/open.js';
import { BIN } from '../helpers/process.js';

const run = promisify(execFile);
let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

it('re-encrypts every endpoint secret under the first key', async () => {
  dir = mkdtempSync(join(tmpdir(), 'rizler-reseal-'));
  const url = `sqlite:${join(dir, 'db.sqlite')}`;
  const storage = await openStorage(url);
  await storage.migrate();
  const oldBox = createSecretBox('old key');
  await storage.createAccount({ id: 'acc_1', name: 'a', createdAt: 1 }, 'hash');
  for (const i of [1, 2, 3]) {
    await storage.createWebhook(
      {
        id: `wh_${i}`,
        accountId: 'acc_1',
        url: 'https://example.com/',
        description: null,
        events: ['*'],
        status: 'enabled',
        rateLimitPerMinute: null,
        sealedSecret: oldBox.seal(`whsec_secret_${i}`),
        now: 1,
      },
      10,
    );
  }
  await storage.close();

  const { stdout } = await run(process.execPath, [BIN, 'secrets', 'reseal'], {
    env: { ...process.env, RIZLER_DATABASE_URL: url, RIZLER_ENCRYPTION_KEY: 'new key,old key' },
  });
  expect(stdout).toContain('resealed the secrets of 3 webhooks');

  const after = await openStorage(url);
  const newOnly = createSecretBox('new key');
  for (const i of [1, 2, 3]) {
    const w = await after.getWebhook('acc_1', `wh_${i}`);
    expect(newOnly.open(w!.sealedSecret)).toBe(`whsec_secret_${i}`);
  }
  await after.close();
  expect(readFileSync(join(dir, 'db.sqlite')).includes('whsec_secret_1')).toBe(false);
});
