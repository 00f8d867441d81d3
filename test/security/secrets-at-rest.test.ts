// Secrets at rest in SQLite. With RIZLER_ENCRYPTION_KEY set, the database file and its WAL hold
// no webhook secret in clear, and API keys are only ever stored as hashes; deliveries still
// verify with the secrets. Without a key, secrets are stored as written (documented below).
// Turning a key on later still reads the old secrets, `secrets reseal` seals them, and a wrong
// key never sends anything.
//
// SQLite only: these tests read the database's bytes on disk, which PostgreSQL does not expose.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/core/ids.js';
import { main as cli } from '../../src/cli/main.js';
import { findEventType } from '../../src/core/event-catalogue.js';
import { verifySignature, verifyWebhook } from '../../src/receiver/index.js';
import { startReceiver, type ReceivedRequest, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { findSecrets } from './support.js';

const DATA = findEventType('call.ended')!.example;
const random = () => randomBytes(12).toString('hex');
const newKey = () => randomBytes(32).toString('base64');

/** The database and its write-ahead log, as bytes on disk. */
function onDisk(dbPath: string): Buffer {
  const parts = [dbPath, `${dbPath}-wal`].filter((p) => existsSync(p)).map((p) => readFileSync(p));
  return Buffer.concat(parts);
}

function expectVerifies(req: ReceivedRequest, secret: string, where: string): void {
  expect(
    verifySignature(req.body, req.headers['x-rizler-signature'] as string, secret),
    where,
  ).toBe(true);
  expect(() => verifyWebhook(req.body, req.headers, secret), where).not.toThrow();
}

describe('secrets at rest', () => {
  let dir: string;
  let receiver: Receiver;
  const running: TestServer[] = [];

  /** A server on the given SQLite file; stopped after each test if the test did not. */
  const start = async (dbPath: string, env: Record<string, string> = {}) => {
    const server = await startTestServer({
      RIZLER_DATABASE_URL: `sqlite:${dbPath}`,
      RIZLER_RETRY_SCHEDULE: '100ms,100ms',
      RIZLER_POLL_INTERVAL: '100ms',
      ...env,
    });
    running.push(server);
    return server;
  };
  const stop = async (server: TestServer) => {
    running.splice(running.indexOf(server), 1);
    await server.close();
  };
  const createHook = async (server: TestServer, secret?: string, events = ['call.ended']) => {
    const res = await server.api('/v1/webhooks', {
      body: { url: receiver.url, events, secret, description: `marker-${random()}` },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { id: string; secret: string; description: string };
  };
  const publish = async (server: TestServer, apiKey = server.apiKey) => {
    const before = receiver.requests.length;
    const res = await server.api('/v1/events', {
      apiKey,
      body: { event: 'call.ended', data: DATA },
    });
    expect(res.status).toBe(202);
    return { before, deliveries: res.body.deliveries as number, eventId: res.body.id as string };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rizler-at-rest-'));
    receiver = await startReceiver();
  });
  afterEach(async () => {
    for (const server of [...running]) await stop(server);
  });
  afterAll(async () => {
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('with RIZLER_ENCRYPTION_KEY: no secret and no API key in clear on disk; deliveries verify', async () => {
    const dbPath = join(dir, 'sealed.db');
    const server = await start(dbPath, { RIZLER_ENCRYPTION_KEY: newKey() });
    const admin = await server.api('/v1/accounts', {
      apiKey: server.adminToken,
      body: { name: 'second' },
    });
    const given = `given-${random()}`;
    const withGiven = await createHook(server, given);
    const withGenerated = await createHook(server);
    const patchedTo = `patched-${random()}`;
    expect(
      (
        await server.api(`/v1/webhooks/${withGenerated.id}`, {
          method: 'PATCH',
          body: { secret: patchedTo },
        })
      ).status,
    ).toBe(200);
    const rotatedTo = `rotated-${random()}`;
    const rotation = await server.api(`/v1/webhooks/${withGiven.id}/secret/rotate`, {
      body: { secret: rotatedTo },
    });
    const generatedRotation = await server.api(`/v1/webhooks/${withGenerated.id}/secret/rotate`, {
      body: {},
    });
    expect([rotation.status, generatedRotation.status]).toEqual([200, 200]);
    const secrets = {
      'given secret': given,
      'generated secret': withGenerated.secret,
      'patched secret': patchedTo,
      'rotated (given) secret': rotatedTo,
      'rotated (generated) secret': generatedRotation.body.secret as string,
      'api key': server.apiKey,
      'admin-created api key': admin.body.api_key as string,
      'admin token': server.adminToken,
    };

    // Deliveries are signed with the current secret, and webhook-signature also with the
    // previous one during the overlap.
    const sent = await publish(server);
    expect(sent.deliveries).toBe(2);
    const got = (await receiver.waitFor(sent.before + 2)).slice(sent.before);
    const current = new Map([
      [withGiven.id, rotatedTo],
      [withGenerated.id, generatedRotation.body.secret as string],
    ]);
    const previous = new Map([
      [withGiven.id, given],
      [withGenerated.id, patchedTo],
    ]);
    for (const req of got) {
      const delivery = await server.api(`/v1/deliveries/${req.headers['x-rizler-delivery']}`);
      const hookId = delivery.body.webhook_id as string;
      expectVerifies(req, current.get(hookId)!, 'current secret');
      expect(() => verifyWebhook(req.body, req.headers, previous.get(hookId)!)).not.toThrow();
    }

    // What the store keeps is sealed.
    for (const hook of [withGiven, withGenerated]) {
      const row = await server.service.storage.getWebhook(server.accountId, hook.id);
      expect(row!.sealedSecret).toMatch(/^v1:/);
      expect(row!.sealedPreviousSecret).toMatch(/^v1:/);
    }

    // On disk, while running (rows still in the WAL) and after the checkpoint of a clean stop.
    const check = (bytes: Buffer, when: string) => {
      expect(findSecrets(bytes, secrets), `${when}: secrets in clear`).toEqual([]);
      // The scan is of the right files: the rows are there, keys as their SHA-256 only.
      expect(bytes.includes(withGiven.description), when).toBe(true);
      expect(bytes.includes(hashApiKey(server.apiKey)), when).toBe(true);
      expect(bytes.includes(hashApiKey(admin.body.api_key)), when).toBe(true);
    };
    check(onDisk(dbPath), 'running');
    await stop(server);
    check(onDisk(dbPath), 'stopped');
  });

  it('without a key: stores secrets as written (documented: `plain:` + the secret)', async () => {
    const dbPath = join(dir, 'plain.db');
    const server = await start(dbPath);
    const given = `given-${random()}`;
    const hook = await createHook(server, given);
    const generated = await createHook(server);
    const row = await server.service.storage.getWebhook(server.accountId, hook.id);
    expect(row!.sealedSecret).toBe(`plain:${given}`);
    await stop(server);
    const bytes = onDisk(dbPath);
    expect(bytes.includes(`plain:${given}`)).toBe(true);
    expect(bytes.includes(`plain:${generated.secret}`)).toBe(true);
    // API keys are hashed with or without an encryption key.
    expect(findSecrets(bytes, { 'api key': server.apiKey })).toEqual([]);
    expect(bytes.includes(hashApiKey(server.apiKey))).toBe(true);
  });

  it('a server started later with a key still reads and signs with secrets stored before', async () => {
    const dbPath = join(dir, 'upgrade.db');
    const before = await start(dbPath);
    const given = `given-${random()}`;
    const old = await createHook(before, given);
    const oldGenerated = await createHook(before);
    const accountKey = before.apiKey;
    await stop(before);

    const after = await start(dbPath, { RIZLER_ENCRYPTION_KEY: newKey() });
    const read = await after.api(`/v1/webhooks/${old.id}/secret`, { apiKey: accountKey });
    expect(read.body).toEqual({ secret: given });
    const readGenerated = await after.api(`/v1/webhooks/${oldGenerated.id}/secret`, {
      apiKey: accountKey,
    });
    expect(readGenerated.body).toEqual({ secret: oldGenerated.secret });

    const sent = await publish(after, accountKey);
    expect(sent.deliveries).toBe(2);
    const got = (await receiver.waitFor(sent.before + 2)).slice(sent.before);
    const secretsByHook = new Map([
      [old.id, given],
      [oldGenerated.id, oldGenerated.secret],
    ]);
    for (const req of got) {
      const delivery = await after.api(`/v1/deliveries/${req.headers['x-rizler-delivery']}`, {
        apiKey: accountKey,
      });
      expectVerifies(req, secretsByHook.get(delivery.body.webhook_id)!, 'an old secret');
    }
    const test = await after.api(`/v1/webhooks/${old.id}/test`, { apiKey: accountKey, body: {} });
    expect(test.body.success).toBe(true);
    expectVerifies(receiver.requests[receiver.requests.length - 1]!, given, 'test send');

    // New secrets written under the key are sealed.
    const fresh = await createHook(after, `fresh-${random()}`);
    const row = await after.service.storage.getWebhook(after.accountId, fresh.id);
    expect(row!.sealedSecret).toMatch(/^v1:/);
  });

  it('`rizler-webhooks secrets reseal` seals secrets stored before the key; none stays in clear', async () => {
    const dbPath = join(dir, 'reseal.db');
    const before = await start(dbPath, { RIZLER_RUN_WORKER: 'false' });
    const secrets: Record<string, string> = {};
    for (let i = 0; i < 5; i++) {
      const secret = `plain-${i}-${random()}`;
      secrets[`secret ${i}`] = secret;
      await createHook(before, secret);
    }
    const rotated = await createHook(before, `to-rotate-${random()}`);
    secrets['secret rotated away'] = rotated.secret;
    const rotation = await before.api(`/v1/webhooks/${rotated.id}/secret/rotate`, { body: {} });
    secrets['secret rotated to'] = rotation.body.secret;
    const accountKey = before.apiKey;
    await stop(before);
    expect(findSecrets(onDisk(dbPath), secrets)).toHaveLength(Object.keys(secrets).length);

    // The command a user runs (README "Security"), in process, with its environment.
    const key = newKey();
    const saved = { ...process.env };
    process.env.RIZLER_DATABASE_URL = `sqlite:${dbPath}`;
    process.env.RIZLER_ENCRYPTION_KEY = key;
    try {
      await cli(['secrets', 'reseal']);
    } finally {
      process.env = saved;
    }
    expect(findSecrets(onDisk(dbPath), secrets), 'secrets in clear after reseal').toEqual([]);

    // And the server with the key still reads every one of them.
    const after = await start(dbPath, { RIZLER_ENCRYPTION_KEY: key, RIZLER_RUN_WORKER: 'false' });
    const hooks = await after.api('/v1/webhooks?limit=100', { apiKey: accountKey });
    const read: string[] = [];
    for (const hook of hooks.body.data) {
      const res = await after.api(`/v1/webhooks/${hook.id}/secret`, { apiKey: accountKey });
      read.push(res.body.secret);
    }
    expect(read.sort()).toEqual(
      Object.entries(secrets)
        .filter(([label]) => label !== 'secret rotated away')
        .map(([, s]) => s)
        .sort(),
    );
  });

  // DEFECT: a rotation under RIZLER_ENCRYPTION_KEY of a secret stored before the key was set
  // keeps the old secret in clear: the rotate statement copies the stored value as it is into
  // previous_secret (src/storage/sqlite/index.ts rotateSecret, `SET previous_secret = secret`;
  // the same in postgres/index.ts), so `plain:<old secret>` stays on disk, and nothing clears
  // previous_secret once its 24 h are over. README "Security" says such secrets "are sealed the
  // next time they are written". Fix: have the route seal the previous value it hands to the
  // store (`ctx.secrets.seal(ctx.secrets.open(webhook.sealedSecret))` in
  // src/webhooks/routes.ts rotate, passed as a new `sealedPreviousSecret` field of the
  // rotation), and null previous_secret in the retention job once previous_secret_expires_at
  // has passed.
  it('seals the replaced secret when rotating under the key', async () => {
    const dbPath = join(dir, 'rotate-under-key.db');
    const before = await start(dbPath, { RIZLER_RUN_WORKER: 'false' });
    const old = `old-${random()}`;
    const hook = await createHook(before, old);
    const accountKey = before.apiKey;
    const accountId = before.accountId;
    await stop(before);

    const after = await start(dbPath, {
      RIZLER_ENCRYPTION_KEY: newKey(),
      RIZLER_RUN_WORKER: 'false',
    });
    const rotation = await after.api(`/v1/webhooks/${hook.id}/secret/rotate`, {
      apiKey: accountKey,
      body: {},
    });
    expect(rotation.status).toBe(200);
    const row = await after.service.storage.getWebhook(accountId, hook.id);
    expect(row!.sealedSecret).toMatch(/^v1:/);
    expect(row!.sealedPreviousSecret).toMatch(/^v1:/);
    await stop(after);
    expect(findSecrets(onDisk(dbPath), { 'the replaced secret': old })).toEqual([]);
  });

  it('with the wrong key: refuses to start, sends nothing, leaks nothing, names RIZLER_ENCRYPTION_KEY', async () => {
    const dbPath = join(dir, 'wrong-key.db');
    const right = await start(dbPath, { RIZLER_ENCRYPTION_KEY: newKey() });
    const given = `given-${random()}`;
    await createHook(right, given);
    await stop(right);

    const wrongKey = newKey();
    const received = receiver.requests.length;
    const failure = await start(dbPath, { RIZLER_ENCRYPTION_KEY: wrongKey }).then(
      () => null,
      (err: Error) => err,
    );
    expect(failure?.message).toMatch(/RIZLER_ENCRYPTION_KEY/);
    expect(findSecrets(failure!.message, { given, wrongKey })).toEqual([]);
    expect(receiver.requests.length, 'a request went out under the wrong key').toBe(received);
  });

  // DEFECT: a server whose RIZLER_ENCRYPTION_KEY opens none of the stored secrets starts as if
  // all were well. Every attempt then fails on our side ("an endpoint secret is sealed with key
  // …, which RIZLER_ENCRYPTION_KEY does not list", thrown by src/core/secret-box.ts open() and
  // caught in src/worker/pipeline.ts send()), and that failure is booked against the endpoint:
  // it burns the retry schedule and, after RIZLER_AUTO_DISABLE_AFTER, disables a healthy
  // endpoint with disabled_reason "failing" (its owner must re-enable it by hand once the key is
  // fixed). Fix: in pipeline.ts, an attempt that could not be prepared is not an endpoint
  // failure: leave the delivery pending (release the lease with a backoff) and skip
  // recordHealth; and check the key at start (startServer/startWorker open one sealed secret)
  // and refuse to start naming RIZLER_ENCRYPTION_KEY.
  it('never disables a healthy endpoint because of a wrong key', async () => {
    const dbPath = join(dir, 'wrong-key-disable.db');
    const right = await start(dbPath, { RIZLER_ENCRYPTION_KEY: newKey() });
    const hook = await createHook(right, `given-${random()}`);
    const accountKey = right.apiKey;
    await stop(right);

    let wrong: TestServer;
    try {
      wrong = await start(dbPath, {
        RIZLER_ENCRYPTION_KEY: newKey(),
        RIZLER_RETRY_SCHEDULE: '300ms,300ms',
        RIZLER_AUTO_DISABLE_AFTER: '200ms',
      });
    } catch (err) {
      // Refusing to start is the clearest failure, if it says why.
      expect((err as Error).message).toMatch(/RIZLER_ENCRYPTION_KEY/);
      return;
    }
    await wrong.api('/v1/events', {
      apiKey: accountKey,
      body: { event: 'call.ended', data: DATA },
    });
    // Long enough for the whole schedule and the auto-disable window.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const after = await wrong.api(`/v1/webhooks/${hook.id}`, { apiKey: accountKey });
    expect(after.body).toMatchObject({ status: 'enabled', disabled_reason: null });
  });

  it('with the key removed: refuses to start, naming RIZLER_ENCRYPTION_KEY', async () => {
    const dbPath = join(dir, 'no-key.db');
    const sealed = await start(dbPath, { RIZLER_ENCRYPTION_KEY: newKey() });
    await createHook(sealed, `given-${random()}`);
    await stop(sealed);
    const received = receiver.requests.length;
    await expect(start(dbPath)).rejects.toThrow(/RIZLER_ENCRYPTION_KEY/);
    expect(receiver.requests.length).toBe(received);
  });
});
