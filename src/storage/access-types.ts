// The storage contract's words for who may do what: accounts with status and limits, API keys
// with scopes, portal sessions, and the audit log of every change. Re-exported by types.ts.

/** What a credential may do on its account's routes (SPEC §9). */
export type Scope = 'publish' | 'read' | 'manage' | 'keys';
export const SCOPES: readonly Scope[] = ['publish', 'read', 'manage', 'keys'];

export type AccountStatus = 'active' | 'suspended';

/** Per-account overrides of the service defaults; null: the default applies. */
export interface AccountLimits {
  maxEndpoints: number | null;
  apiRateLimitPerMinute: number | null;
  publishRateLimitPerMinute: number | null;
  endpointRateLimitPerMinute: number | null;
}

export interface Account {
  id: string;
  name: string;
  status: AccountStatus;
  limits: AccountLimits;
  createdAt: number;
}

/** What a caller gives to create an account; status and limits start at their defaults. */
export interface NewAccount {
  id: string;
  name: string;
  createdAt: number;
}

export interface AccountPatch {
  name?: string;
  status?: AccountStatus;
  limits?: Partial<AccountLimits>;
}

/** Who made a change: the audit log's actor. `id` is null for the admin and the system. */
export interface Actor {
  type: 'api_key' | 'portal_session' | 'admin' | 'system';
  id: string | null;
}

export const SYSTEM_ACTOR: Actor = { type: 'system', id: null };
export const ADMIN_ACTOR: Actor = { type: 'admin', id: null };

export interface ApiKey {
  id: string;
  accountId: string;
  name: string;
  scopes: Scope[];
  /** The key's first characters, shown so a person can tell keys apart. */
  prefix: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
}

export interface NewApiKey {
  id: string;
  name: string;
  scopes: Scope[];
  prefix: string;
  keyHash: string;
  expiresAt: number | null;
}

export interface PortalSession {
  id: string;
  accountId: string;
  readOnly: boolean;
  createdAt: number;
  expiresAt: number;
}

export interface NewPortalSession {
  id: string;
  accountId: string;
  tokenHash: string;
  readOnly: boolean;
  expiresAt: number;
  now: number;
}

/** A credential found by its hash, with the account it acts for. */
export interface KeyCredential {
  account: Account;
  key: ApiKey;
}
export interface PortalCredential {
  account: Account;
  session: PortalSession;
}

/** One field's change in an audit record; secrets and keys are never values here. */
export type AuditChanges = Record<string, { old: unknown; new: unknown }>;

export interface AuditEntry {
  id: string;
  accountId: string;
  at: number;
  actor: Actor;
  /** `<object>.<verb>`: `webhook.created`, `api_key.revoked`, `account.updated`, … */
  action: string;
  targetId: string;
  changes: AuditChanges;
}

/** The contract's methods for accounts, keys, portal sessions and the audit log. */
export interface AccessStorage {
  /**
   * Creates the account and its first API key (a bare hash: a key with every scope).
   * Records `account.created` and `api_key.created`.
   */
  createAccount(account: NewAccount, firstKey: string | NewApiKey, actor?: Actor): Promise<Account>;
  /** The account of a live (unrevoked, unexpired) key. Kept for callers that need no scopes. */
  findAccountByKeyHash(apiKeyHash: string, now?: number): Promise<Account | null>;
  /** A live key and its account (not deleted), by the key's hash: one indexed lookup. */
  findApiKey(keyHash: string, now: number): Promise<KeyCredential | null>;
  /** An account that is not deleted. */
  getAccount(id: string): Promise<Account | null>;
  countAccounts(): Promise<number>;
  /** Accounts that are not deleted, newest first. */
  listAccounts(page: { limit: number; after: string | null }): Promise<Account[]>;
  /**
   * Applies the patch and records `account.updated`. Suspending parks the account's pending
   * deliveries off the due index; resuming puts them back.
   */
  updateAccount(
    id: string,
    patch: AccountPatch,
    actor: Actor,
    now: number,
  ): Promise<Account | null>;
  /**
   * Marks the account deleted at once: its credentials stop, its objects are gone from the
   * API, its deliveries are parked. `purgeDeletedAccounts` removes the rows afterwards.
   * False when there is no such (live) account.
   */
  deleteAccount(id: string, actor: Actor, now: number): Promise<boolean>;
  /** Removes up to `batch` rows of each kind of deleted accounts; returns how many went. */
  purgeDeletedAccounts(batch: number): Promise<number>;
  /**
   * Parks again any delivery of a suspended or deleted account that became due meanwhile
   * (an attempt in flight at suspension that was scheduled for a retry). Returns how many.
   */
  parkInactiveAccounts(now: number): Promise<number>;

  createApiKey(accountId: string, key: NewApiKey, actor: Actor, now: number): Promise<ApiKey>;
  listApiKeys(accountId: string, page: { limit: number; after: string | null }): Promise<ApiKey[]>;
  /** Revokes the key at once; false when the account has no such live key. */
  revokeApiKey(accountId: string, id: string, actor: Actor, now: number): Promise<boolean>;
  /** Writes `last_used_at` for many keys in one go (the API batches it off the hot path). */
  touchApiKeys(lastUsed: Map<string, number>): Promise<void>;

  createPortalSession(session: NewPortalSession, actor: Actor): Promise<PortalSession>;
  findPortalSession(tokenHash: string, now: number): Promise<PortalCredential | null>;

  listAuditLog(
    accountId: string,
    page: { limit: number; after: string | null },
  ): Promise<AuditEntry[]>;
  /** Deletes audit records older than `before`, at most `batch`; returns how many. */
  purgeAuditLog(before: number, batch: number): Promise<number>;
}
