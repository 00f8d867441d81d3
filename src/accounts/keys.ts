// API keys: random, shown once, stored only as a SHA-256 hash. Keys carry 32 random bytes,
// so a fast hash is enough: there is nothing to brute-force that a slow hash would protect.
import { createHash } from 'node:crypto';
import { newId, randomToken } from '../core/ids.js';
import type { Account, Storage } from '../storage/index.js';

export const API_KEY_PREFIX = 'rzk_';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export interface CreatedAccount {
  account: Account;
  apiKey: string;
}

export async function createAccount(
  storage: Storage,
  name: string,
  now = Date.now(),
): Promise<CreatedAccount> {
  const apiKey = randomToken(API_KEY_PREFIX, 32);
  const account: Account = { id: newId('acc', now), name, createdAt: now };
  await storage.createAccount(account, hashApiKey(apiKey));
  return { account, apiKey };
}

/** First start with an empty store and no admin token: a `default` account to sign in with. */
export async function ensureDefaultAccount(
  storage: Storage,
  adminToken: string | null,
): Promise<CreatedAccount | null> {
  if (adminToken !== null) return null;
  if ((await storage.countAccounts()) > 0) return null;
  return createAccount(storage, 'default');
}
