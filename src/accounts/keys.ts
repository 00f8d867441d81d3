// API keys: random, shown once, stored only as a SHA-256 hash (core/ids.ts says why a fast one).
import { hashApiKey, newId, randomToken } from '../core/ids.js';
import {
  SCOPES,
  SYSTEM_ACTOR,
  type Account,
  type Actor,
  type NewApiKey,
  type Scope,
  type Storage,
} from '../storage/index.js';

export const API_KEY_PREFIX = 'rzk_';
/** Characters of a key kept in clear to tell keys apart: `rzk_` and 8 more. */
const SHOWN_PREFIX_LENGTH = 12;

/** A new key: the secret to show once, and what the store keeps of it. */
export function mintApiKey(
  name: string,
  scopes: readonly Scope[],
  expiresAt: number | null,
  now: number,
): { key: string; record: NewApiKey } {
  const key = randomToken(API_KEY_PREFIX, 32);
  return {
    key,
    record: {
      id: newId('key', now),
      name,
      // In the order SPEC §9 lists them, each once.
      scopes: SCOPES.filter((s) => scopes.includes(s)),
      prefix: key.slice(0, SHOWN_PREFIX_LENGTH),
      keyHash: hashApiKey(key),
      expiresAt,
    },
  };
}

export interface CreatedAccount {
  account: Account;
  apiKey: string;
}

/** An account and its first key, which has every scope. */
export async function createAccount(
  storage: Storage,
  name: string,
  now = Date.now(),
  actor: Actor = SYSTEM_ACTOR,
): Promise<CreatedAccount> {
  const { key, record } = mintApiKey('Default key', SCOPES, null, now);
  const account = await storage.createAccount(
    { id: newId('acc', now), name, createdAt: now },
    record,
    actor,
  );
  return { account, apiKey: key };
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
