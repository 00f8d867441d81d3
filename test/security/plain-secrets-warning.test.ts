// Without RIZLER_ENCRYPTION_KEY, endpoint secrets are stored in clear: the service says so at
// start (a warning in the log) and in /readyz, so an operator finds out before an auditor does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger, startServer, type RunningService } from '../../src/server.js';

let dir = '';
let service: RunningService | undefined;
afterEach(async () => {
  await service?.stop();
  service = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function start(env: Record<string, string>) {
  dir = mkdtempSync(join(tmpdir(), 'rizler-plain-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    RIZLER_RUN_WORKER: 'false',
    RIZLER_DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`,
    RIZLER_LOG_LEVEL: 'warn',
    ...env,
  });
  let log = '';
  const sink = new Writable({
    write(chunk, _encoding, done) {
      log += String(chunk);
      done();
    },
  });
  service = await startServer(config, createLogger(config, sink), () => {});
  const res = await fetch(`http://127.0.0.1:${service.port}/readyz`);
  return { log, ready: (await res.json()) as any, status: res.status };
}

it('warns at start and in /readyz when secrets are kept in clear', async () => {
  const { log, ready, status } = await start({});
  expect(status).toBe(200);
  expect(ready.status).toBe('ready');
  expect(ready.details.secrets_at_rest).toBe('plain');
  expect(ready.details.warnings.join(' ')).toMatch(/RIZLER_ENCRYPTION_KEY is not set/);
  expect(log).toMatch(/"level":40.*RIZLER_ENCRYPTION_KEY is not set/);
});

it('says nothing of the kind with a key', async () => {
  const { log, ready } = await start({ RIZLER_ENCRYPTION_KEY: 'a passphrase for the test' });
  expect(ready.details).toEqual({ secrets_at_rest: 'encrypted', warnings: [] });
  expect(log).not.toMatch(/RIZLER_ENCRYPTION_KEY/);
});

it('refuses to start with an admin token shorter than 32 characters, saying why', () => {
  expect(() => loadConfig({ RIZLER_ADMIN_TOKEN: 'short-token' })).toThrow(
    /RIZLER_ADMIN_TOKEN is 11 characters long; it must be at least 32/,
  );
  expect(loadConfig({ RIZLER_ADMIN_TOKEN: 'x'.repeat(32) }).adminToken).toBe('x'.repeat(32));
});
