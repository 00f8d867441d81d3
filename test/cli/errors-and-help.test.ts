// What the client commands say when they cannot work: a wrong key, a server that is not
// running, a missing setting; and --help on each.
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { runCli, stopAllCli } from './cli.js';

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const COMMANDS: string[][] = [
  ['trigger', 'call.ended'],
  ['tail'],
  ['listen', '--forward-to', 'http://127.0.0.1:9/webhooks'],
];

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await stopAllCli();
});
afterAll(async () => {
  await server.close();
});

describe('client command errors', () => {
  it.each(COMMANDS)('%s: a wrong key is named as such, with a non-zero exit', async (...args) => {
    const run = await runCli(args, { RIZLER_API_URL: server.url, RIZLER_API_KEY: 'rzk_wrong' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `The API at ${server.url} refused RIZLER_API_KEY (401 unauthorized)`,
    );
    expect(run.stderr).not.toMatch(/at .*\.js:\d+/); // a sentence, not a stack trace
  });

  it.each(COMMANDS)('%s: an unreachable server is named with its address', async (...args) => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const run = await runCli(args, { RIZLER_API_URL: url, RIZLER_API_KEY: server.apiKey });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      `cannot reach the Rizler Webhooks API at ${url}; is it running? (set RIZLER_API_URL)`,
    );
  });

  it('asks for RIZLER_API_KEY when it is not set', async () => {
    const run = await runCli(['trigger', 'call.ended'], { RIZLER_API_URL: server.url });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('Set RIZLER_API_KEY');
  });

  it('refuses bad options before connecting', async () => {
    const env = { RIZLER_API_URL: server.url, RIZLER_API_KEY: server.apiKey };
    const status = await runCli(['tail', '--status', 'broken'], env);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain('--status must be one of pending, succeeded, failed');
    const url = await runCli(['listen', '--forward-to', 'localhost:3000'], env);
    expect(url.code).toBe(1);
    expect(url.stderr).toContain('--forward-to must be an http:// or https:// URL');
    const events = await runCli(
      ['listen', '--forward-to', 'http://127.0.0.1:9/', '--events', 'calls.*'],
      env,
    );
    expect(events.code).toBe(1);
    expect(events.stderr).toContain('"calls.*" is not a known event type');
    const noUrl = await runCli(['listen'], env);
    expect(noUrl.code).toBe(1);
    expect(noUrl.stderr).toContain("required option '--forward-to <url>' not specified");
  });
});

describe('--help', () => {
  it.each([
    ['trigger', '--data <file>'],
    ['tail', '--status <status>'],
    ['listen', '--forward-to <url>'],
  ])('%s --help describes its options and the environment it reads', async (command, option) => {
    const run = await runCli([command, '--help'], {});
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Usage: rizler-webhooks ${command}`);
    expect(run.stdout).toContain(option);
    expect(run.stdout).toContain('--json');
    expect(run.stdout).toContain('RIZLER_API_URL');
    expect(run.stdout).toContain('RIZLER_API_KEY');
  });

  it('the top-level help lists the three commands', async () => {
    const run = await runCli(['--help'], {});
    expect(run.code).toBe(0);
    for (const command of ['trigger', 'tail', 'listen']) expect(run.stdout).toContain(command);
  });
});
