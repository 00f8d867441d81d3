#!/usr/bin/env node
// Writes the upgrade fixture of a release: a SQLite file and a PostgreSQL dump written by the
// release's own built CLI through its public API, plus what that API answered about every
// object (expected.json). Run it at the release's commit, after `npm run build:server`:
//
//   node test/upgrade/make-fixture.mjs test/upgrade/fixtures/v0.1.0
//
// It was run at ba1e981 (0.1.0, schema version 1). The fixtures are never regenerated: they are
// what a user of that release has on disk, and test/upgrade/upgrade.test.ts migrates them with
// today's code. Plain JavaScript, so it needs nothing but the release's dist/ and a PostgreSQL.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, copyFileSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const OUT = resolve(process.argv[2] ?? 'test/upgrade/fixtures/v0.1.0');
const BIN = resolve('bin/rizler-webhooks.js');
const ADMIN_URL = process.env.RIZLER_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const ADMIN_TOKEN = 'upgrade-fixture-admin-token-0123456789abcdef';
const ENCRYPTION_KEY = 'upgrade fixture passphrase';

/** A receiver: /ok answers 200, /fail 500; every request is counted. */
async function startReceiver() {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(req.url === '/ok' ? 200 : 500, { 'content-type': 'text/plain' });
      res.end(req.url === '/ok' ? 'thanks' : 'broken');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

function start(databaseUrl, env = {}) {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      HOST: '127.0.0.1',
      RIZLER_DATABASE_URL: databaseUrl,
      RIZLER_ADMIN_TOKEN: ADMIN_TOKEN,
      RIZLER_ALLOW_PRIVATE_NETWORKS: 'true',
      RIZLER_RETRY_SCHEDULE: '50ms',
      RIZLER_POLL_INTERVAL: '100ms',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  return new Promise((resolvePort, reject) => {
    child.stdout.on('data', (c) => {
      out += c;
      const m = /"port":(\d+)[^\n]*"msg":"rizler-webhooks serving"/.exec(out);
      if (m) resolvePort({ port: Number(m[1]), stop: () => stop(child) });
    });
    child.on('exit', (code) => reject(new Error(`serve exited (${code}):\n${out}`)));
  });
}

function stop(child) {
  return new Promise((r) => {
    child.removeAllListeners('exit');
    child.on('exit', r);
    child.kill('SIGTERM');
  });
}

async function call(port, key, method, path, body, headers = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text === '' ? null : JSON.parse(text);
}

async function until(what, check) {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const callData = (id) => ({
  call_id: id,
  agent_id: 'agent_7',
  duration: 180,
  status: 'completed',
});

/** Writes the release's data set through its API; returns the accounts' keys. */
async function populate(databaseUrl, receiver) {
  // 1. Without an encryption key: this secret is stored as written.
  let server = await start(databaseUrl);
  const admin = (method, path, body) => call(server.port, ADMIN_TOKEN, method, path, body);
  const alpha = await admin('POST', '/v1/accounts', { name: 'Alpha Calls' });
  const beta = await admin('POST', '/v1/accounts', { name: 'Beta' });
  let a = (method, path, body, headers) =>
    call(server.port, alpha.api_key, method, path, body, headers);
  const ok = await a('POST', '/v1/webhooks', {
    url: `${receiver.url}/ok`,
    events: ['call.*'],
    description: 'CRM sync',
    secret: 'plain-text-secret-of-the-old-release',
  });
  await server.stop();

  // 2. With an encryption key: these secrets are sealed.
  server = await start(databaseUrl, { RIZLER_ENCRYPTION_KEY: ENCRYPTION_KEY });
  a = (method, path, body, headers) =>
    call(server.port, alpha.api_key, method, path, body, headers);
  const b = (method, path, body) => call(server.port, beta.api_key, method, path, body);
  const failing = await a('POST', '/v1/webhooks', { url: `${receiver.url}/fail`, events: ['*'] });
  const limited = await a('POST', '/v1/webhooks', {
    url: `${receiver.url}/ok`,
    events: ['agent.status_changed'],
    rate_limit_per_minute: 1,
  });
  await a('POST', '/v1/webhooks', {
    url: `${receiver.url}/ok`,
    events: ['recording.ready'],
    status: 'disabled',
  });
  await a('POST', `/v1/webhooks/${failing.id}/secret/rotate`, {});
  await b('POST', '/v1/webhooks', { url: `${receiver.url}/ok`, events: ['call.ended'] });

  await a(
    'POST',
    '/v1/events',
    { event: 'call.ended', data: callData('call_1') },
    {
      'idempotency-key': 'order-42',
    },
  );
  await a('POST', '/v1/events', {
    event: 'call.started',
    data: { call_id: 'call_2', direction: 'inbound', from: '+15550100', to: '+15550101' },
    timestamp: '2026-01-15T10:30:00Z',
  });
  await a('POST', '/v1/events/batch', {
    events: [1, 2, 3].map((n) => ({
      event: 'agent.status_changed',
      data: { agent_id: `agent_${n}`, from_status: 'offline', to_status: 'available' },
    })),
  });
  await a('POST', '/v1/events', {
    event: 'recording.ready',
    data: { call_id: 'call_1', recording_id: 'rec_1', recording_url: 'https://rec.example/1.mp3' },
  });
  await b('POST', '/v1/events', { event: 'call.ended', data: callData('call_b') });
  await a('POST', `/v1/webhooks/${ok.id}/test`, { event: 'call.answered' });

  // Settle: the working endpoint delivered, the failing one failed for good, the rate-limited
  // one sent its first and holds two pending.
  const deliveries = async (key, query) =>
    (await call(server.port, key, 'GET', `/v1/deliveries?limit=100&${query}`)).data;
  await until('the deliveries to settle', async () => {
    const okDone = (await deliveries(alpha.api_key, `webhook_id=${ok.id}`)).every(
      (d) => d.status === 'succeeded',
    );
    const failed = await deliveries(alpha.api_key, `webhook_id=${failing.id}`);
    const lim = await deliveries(alpha.api_key, `webhook_id=${limited.id}`);
    const betaDone = (await deliveries(beta.api_key, '')).every((d) => d.status === 'succeeded');
    return (
      okDone &&
      betaDone &&
      failed.length > 0 &&
      failed.every((d) => d.status === 'failed') &&
      lim.filter((d) => d.status === 'succeeded').length === 1
    );
  });
  const firstFailed = (await deliveries(alpha.api_key, `webhook_id=${failing.id}`)).at(-1);
  await a('POST', `/v1/deliveries/${firstFailed.id}/retry`);
  await until('the manual retry', async () => {
    const d = await a('GET', `/v1/deliveries/${firstFailed.id}`);
    return d.attempts.some((t) => t.trigger === 'manual');
  });
  await server.stop();
  return { alpha: alpha.api_key, beta: beta.api_key };
}

/** Everything the API says about an account's objects, read with the worker off. */
async function snapshot(databaseUrl, keys) {
  const server = await start(databaseUrl, {
    RIZLER_ENCRYPTION_KEY: ENCRYPTION_KEY,
    RIZLER_RUN_WORKER: 'false',
  });
  const accounts = {};
  for (const [name, key] of Object.entries(keys)) {
    const get = (path) => call(server.port, key, 'GET', path);
    const webhooks = (await get('/v1/webhooks?limit=100')).data;
    const events = (await get('/v1/events?limit=100')).data;
    const deliveries = (await get('/v1/deliveries?limit=100')).data;
    const account = await get('/v1/account');
    accounts[name] = {
      api_key: key,
      account: { id: account.id, name: account.name, created_at: account.created_at },
      webhooks,
      secrets: Object.fromEntries(
        await Promise.all(
          webhooks.map(async (w) => [w.id, await get(`/v1/webhooks/${w.id}/secret`)]),
        ),
      ),
      events: await Promise.all(events.map((e) => get(`/v1/events/${e.id}`))),
      deliveries: await Promise.all(deliveries.map((d) => get(`/v1/deliveries/${d.id}`))),
    };
  }
  await server.stop();
  return accounts;
}

async function main() {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const receiver = await startReceiver();
  const work = mkdtempSync(join(tmpdir(), 'rizler-fixture-'));

  // SQLite: the file itself, after a checkpoint folded the WAL into it.
  const file = join(work, 'rizler-webhooks.db');
  const sqliteKeys = await populate(`sqlite:${file}`, receiver);
  const sqlite = await snapshot(`sqlite:${file}`, sqliteKeys);
  execFileSync(process.execPath, [
    '--input-type=module',
    '-e',
    `import D from 'better-sqlite3'; const db = new D(${JSON.stringify(file)}); db.pragma('wal_checkpoint(TRUNCATE)'); db.pragma('journal_mode = DELETE'); db.exec('VACUUM'); db.close();`,
  ]);
  copyFileSync(file, join(OUT, 'sqlite.sqlite3') /* .db is git-ignored */);

  // PostgreSQL: a plain SQL dump with INSERTs, restorable by one multi-statement query.
  const name = `rizler_fixture_${randomBytes(4).toString('hex')}`;
  const adminClient = new pg.Client({ connectionString: ADMIN_URL });
  await adminClient.connect();
  await adminClient.query(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const postgresKeys = await populate(url.toString(), receiver);
  const postgres = await snapshot(url.toString(), postgresKeys);
  const dump = execFileSync('pg_dump', [
    '--no-owner',
    '--no-privileges',
    '--inserts',
    '--rows-per-insert=100',
    url.toString(),
  ]).toString();
  // psql meta-commands (\restrict) are not SQL: the test restores the dump through pg.
  writeFileSync(join(OUT, 'postgres.sql'), dump.replace(/^\\.*\n/gm, ''));
  await adminClient.query(`DROP DATABASE ${name} WITH (FORCE)`);
  await adminClient.end();

  writeFileSync(
    join(OUT, 'expected.json'),
    JSON.stringify(
      { encryption_key: ENCRYPTION_KEY, admin_token: ADMIN_TOKEN, sqlite, postgres },
      null,
      2,
    ) + '\n',
  );
  receiver.close();
  rmSync(work, { recursive: true, force: true });
}

await main();
