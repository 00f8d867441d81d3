// The `rizler-webhooks` command.
import { Command } from 'commander';
import { createAccount } from '../accounts/keys.js';
import { loadConfig } from '../config.js';
import { openStorage } from '../storage/index.js';
import { createLogger, startServer, startWorker, stopOnSignals } from '../server.js';
import { VERSION } from '../version.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('rizler-webhooks')
    .description('Signed, reliable webhook delivery for the Rizler platform')
    .version(VERSION);

  program
    .command('serve')
    .description('run the API, the dashboard and a delivery worker (PORT, default 8080)')
    .action(async () => {
      const config = loadConfig();
      const logger = createLogger(config);
      stopOnSignals(await startServer(config, logger), logger);
    });

  program
    .command('worker')
    .description('run a delivery worker alone; serves /healthz, /readyz and /metrics on PORT')
    .action(async () => {
      const config = loadConfig();
      const logger = createLogger(config);
      stopOnSignals(await startWorker(config, logger), logger);
    });

  program
    .command('migrate')
    .description('apply schema migrations and exit')
    .action(async () => {
      const config = loadConfig();
      const storage = await openStorage(config.databaseUrl);
      await storage.migrate();
      await storage.close();
      console.log(`migrations applied (${storage.engine})`);
    });

  const accounts = program.command('accounts').description('account administration');
  accounts
    .command('create')
    .description('create an account and print its API key once, as JSON')
    .requiredOption('--name <name>', 'the account name')
    .action(async (options: { name: string }) => {
      const config = loadConfig();
      const storage = await openStorage(config.databaseUrl);
      await storage.migrate();
      const { account, apiKey } = await createAccount(storage, options.name);
      await storage.close();
      console.log(JSON.stringify({ id: account.id, name: account.name, api_key: apiKey }));
    });

  await program.parseAsync(argv, { from: 'user' });
}
