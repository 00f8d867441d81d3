// The operator's account commands, straight on the database (as `accounts create`):
// list, suspend, resume, delete, and keys create/list/revoke. Each prints JSON.
import type { Command } from 'commander';
import { mintApiKey } from '../accounts/keys.js';
import { effectiveLimits } from '../accounts/render.js';
import { loadConfig } from '../config.js';
import { ADMIN_ACTOR, SCOPES, type Scope, type Storage } from '../storage/index.js';
import { openStorage } from '../storage/open.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

async function withStorage<T>(work: (storage: Storage) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const storage = await openStorage(config.databaseUrl);
  try {
    await storage.migrate();
    return await work(storage);
  } finally {
    await storage.close();
  }
}

function fail(message: string): never {
  throw Object.assign(new Error(message), { exitCode: 1 });
}

export function addAccountCommands(accounts: Command): void {
  accounts
    .command('list')
    .description('list accounts, newest first, as JSON lines')
    .action(() =>
      withStorage(async (storage) => {
        const config = loadConfig();
        let after: string | null = null;
        for (;;) {
          const page = await storage.listAccounts({ limit: 100, after });
          for (const a of page) {
            console.log(
              JSON.stringify({
                id: a.id,
                name: a.name,
                status: a.status,
                limits: effectiveLimits(a, config),
                created_at: iso(a.createdAt),
              }),
            );
          }
          if (page.length < 100) return;
          after = page[page.length - 1]!.id;
        }
      }),
    );

  for (const [name, status] of [
    ['suspend', 'suspended'],
    ['resume', 'active'],
  ] as const) {
    accounts
      .command(name)
      .description(
        status === 'suspended'
          ? 'suspend an account: it cannot publish and its pending deliveries wait'
          : 'resume a suspended account: its pending deliveries are sent again',
      )
      .argument('<id>', 'the account id')
      .action((id: string) =>
        withStorage(async (storage) => {
          const updated = await storage.updateAccount(id, { status }, ADMIN_ACTOR, Date.now());
          if (!updated) fail(`no account ${id}`);
          console.log(JSON.stringify({ id: updated.id, status: updated.status }));
        }),
      );
  }

  accounts
    .command('delete')
    .description('delete an account with its keys, webhooks, events and deliveries')
    .argument('<id>', 'the account id')
    .action((id: string) =>
      withStorage(async (storage) => {
        if (!(await storage.deleteAccount(id, ADMIN_ACTOR, Date.now()))) {
          fail(`no account ${id} (it may be deleted already)`);
        }
        // Its rows go in small batches, each a short transaction of its own.
        let removed = 0;
        for (let n = -1; n !== 0; removed += n) n = await storage.purgeDeletedAccounts(500);
        console.log(JSON.stringify({ id, deleted: true, rows_removed: removed }));
      }),
    );

  const keys = accounts.command('keys').description("an account's API keys");
  keys
    .command('create')
    .description('create an API key and print it once, as JSON')
    .argument('<account>', 'the account id')
    .requiredOption('--name <name>', 'what the key is for')
    .option('--scopes <scopes>', `comma-separated: ${SCOPES.join(', ')}`, SCOPES.join(','))
    .option('--expires-at <time>', 'ISO-8601 time after which the key answers 401')
    .action((accountId: string, options: { name: string; scopes: string; expiresAt?: string }) =>
      withStorage(async (storage) => {
        const scopes = options.scopes.split(',').map((s) => s.trim());
        const unknown = scopes.filter((s) => !SCOPES.includes(s as Scope));
        if (unknown.length > 0 || scopes.length === 0) {
          fail(`unknown scope ${unknown.join(', ')}; use ${SCOPES.join(', ')}`);
        }
        const now = Date.now();
        const expiresAt = options.expiresAt === undefined ? null : Date.parse(options.expiresAt);
        if (expiresAt !== null && !(expiresAt > now)) {
          fail('--expires-at must be a valid time in the future');
        }
        if (!(await storage.getAccount(accountId))) fail(`no account ${accountId}`);
        const { key, record } = mintApiKey(options.name, scopes as Scope[], expiresAt, now);
        const created = await storage.createApiKey(accountId, record, ADMIN_ACTOR, now);
        console.log(
          JSON.stringify({
            id: created.id,
            name: created.name,
            scopes: created.scopes,
            prefix: created.prefix,
            expires_at: iso(created.expiresAt),
            key,
          }),
        );
      }),
    );
  keys
    .command('list')
    .description("list an account's API keys (never the keys), as JSON lines")
    .argument('<account>', 'the account id')
    .action((accountId: string) =>
      withStorage(async (storage) => {
        if (!(await storage.getAccount(accountId))) fail(`no account ${accountId}`);
        for (const k of await storage.listApiKeys(accountId, { limit: 1000, after: null })) {
          console.log(
            JSON.stringify({
              id: k.id,
              name: k.name,
              scopes: k.scopes,
              prefix: k.prefix,
              created_at: iso(k.createdAt),
              expires_at: iso(k.expiresAt),
              last_used_at: iso(k.lastUsedAt),
            }),
          );
        }
      }),
    );
  keys
    .command('revoke')
    .description('revoke an API key: it answers 401 from now on')
    .argument('<account>', 'the account id')
    .argument('<key>', 'the key id (key_…)')
    .action((accountId: string, keyId: string) =>
      withStorage(async (storage) => {
        if (!(await storage.revokeApiKey(accountId, keyId, ADMIN_ACTOR, Date.now()))) {
          fail(`no live key ${keyId} in account ${accountId}`);
        }
        console.log(JSON.stringify({ id: keyId, revoked: true }));
      }),
    );
}
