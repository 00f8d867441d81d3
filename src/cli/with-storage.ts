// The commands that work straight on the database (migrate, accounts, secrets): open it with
// the environment's settings, migrate it, do the work, close it whatever happens.
import { loadConfig, type Config } from '../config.js';
import type { Storage } from '../storage/index.js';
import { openStorage } from '../storage/open.js';

export async function withStorage<T>(
  work: (storage: Storage, config: Config) => Promise<T>,
): Promise<T> {
  const config = loadConfig();
  const storage = await openStorage(config.databaseUrl);
  try {
    await storage.migrate();
    return await work(storage, config);
  } finally {
    await storage.close();
  }
}
