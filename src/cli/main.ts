// The `rizler-webhooks` command.
import { Command } from 'commander';
import type { Logger } from 'pino';
import { addAccountCommands } from './accounts.js';
import { createSecretBox } from '../core/secret-box.js';
import { loadConfig, type Config } from '../config.js';
import {
  createLogger,
  startServer,
  startWorker,
  stopOnSignals,
  type RunningService,
} from '../server.js';
import { VERSION } from '../version.js';
import { processIo, untilInterrupted } from './client/io.js';
import { listen } from './client/listen.js';
import { tail } from './client/tail.js';
import { trigger } from './client/trigger.js';
import { tuneTiering } from './tiering.js';
import { withStorage } from './with-storage.js';

/** Starts a long-running service with the environment's settings; it stops on SIGTERM/SIGINT. */
async function run(start: (config: Config, logger: Logger) => Promise<RunningService>) {
  tuneTiering();
  const config = loadConfig();
  const logger = createLogger(config);
  stopOnSignals(await start(config, logger), logger);
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('rizler-webhooks')
    .description('Signed, reliable webhook delivery for the Rizler platform')
    .version(VERSION);

  program
    .command('serve')
    .description('run the API, the dashboard and a delivery worker (PORT, default 8080)')
    .action(() => run(startServer));

  program
    .command('worker')
    .description('run a delivery worker alone; serves /healthz, /readyz and /metrics on PORT')
    .action(() => run(startWorker));

  program
    .command('migrate')
    .description('apply schema migrations and exit')
    .action(async () => {
      const engine = await withStorage(async (storage) => storage.engine);
      console.log(`migrations applied (${engine})`);
    });

  addAccountCommands(program.command('accounts').description('account administration'));

  // The receiver's toolkit: clients of a running server (RIZLER_API_URL, RIZLER_API_KEY).
  const clientHelp =
    '\nEnvironment:\n  RIZLER_API_URL  the API to use (default http://localhost:8080)\n  RIZLER_API_KEY  the API key of the account';

  program
    .command('trigger')
    .description("publish an event type's catalogue example (or --data) to the account")
    .argument('<event>', 'an event type, such as call.ended')
    .option('--data <file>', "a JSON file holding the event's data instead of the example")
    .option('--json', 'print the published event as JSON')
    .addHelpText('after', clientHelp)
    .action(async (event: string, options: { data?: string; json?: boolean }) => {
      await trigger(event, options, processIo);
    });

  program
    .command('tail')
    .description('print each new delivery, attempt and status change of the account as it happens')
    .option('--webhook <id>', "only this webhook's deliveries")
    .option('--status <status>', 'only deliveries with this status: pending, succeeded or failed')
    .option('--json', 'print each delivery as one JSON object per line')
    .addHelpText('after', clientHelp)
    .action(async (options: { webhook?: string; status?: string; json?: boolean }) => {
      await tail(options, processIo, untilInterrupted());
    });

  program
    .command('listen')
    .description(
      "forward the account's events to a local URL, signed with a session secret it prints",
    )
    .requiredOption(
      '--forward-to <url>',
      'where to POST each event, such as http://localhost:3000/webhooks',
    )
    .option(
      '--events <patterns>',
      'comma-separated types or families, such as call.*,agent.created',
      '*',
    )
    .option('--json', 'print one JSON object per line')
    .addHelpText('after', clientHelp)
    .action(async (options: { forwardTo: string; events?: string; json?: boolean }) => {
      await listen(options, processIo, untilInterrupted());
    });

  program
    .command('secrets')
    .description('endpoint secrets at rest')
    .command('reseal')
    .description(
      're-encrypt every endpoint secret under the first key of RIZLER_ENCRYPTION_KEY (key rotation)',
    )
    .action(async () => {
      const changed = await withStorage(async (storage, config) => {
        const box = createSecretBox(config.encryptionKey);
        return storage.resealSecrets((sealed) =>
          box.isCurrent(sealed) ? sealed : box.seal(box.open(sealed)),
        );
      });
      console.log(`resealed the secrets of ${changed} webhooks`);
    });

  await program.parseAsync(argv, { from: 'user' });
}
