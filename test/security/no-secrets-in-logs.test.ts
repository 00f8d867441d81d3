// No key, token or signing secret ever reaches the logs (at level trace), /metrics, an error
// answer, or any answer other than the few that exist to show one (account creation, webhook
// creation, GET …/secret, rotation). Checked twice: in process with the real createLogger
// (redaction and all) writing to a capture, and through the real `rizler-webhooks serve`
// process writing to its stdout.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { symbols, type DestinationStream, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config.js';
import { findEventType } from '../../src/core/event-catalogue.js';
import { createLogger, startServer } from '../../src/server.js';
import { startProcess } from '../helpers/process.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { call, findSecrets, waitUntil, type Answer, type Sent } from './support.js';

const DATA = findEventType('call.ended')!.example;
const random = (n = 12) => randomBytes(n).toString('hex');

interface Exchange {
  sent: Sent;
  res: Answer;
  /** This answer exists to show a secret (creation, GET secret, rotation). */
  showsSecret: boolean;
}

interface FlowResult {
  secrets: Record<string, string>;
  exchanges: Exchange[];
  metrics: string;
}

/**
 * Everything a user does that involves a key or a secret: accounts through the admin API,
 * webhooks with given and generated secrets, rotation, reading secrets, publishing, successful,
 * failing and retried deliveries, test sends, and requests with wrong keys and bad secrets.
 */
async function runFlow(baseUrl: string, adminToken: string, receiver: Receiver) {
  const secrets: Record<string, string> = { 'admin token': adminToken };
  const exchanges: Exchange[] = [];
  const send = async (
    method: string,
    path: string,
    key: string | null,
    body?: unknown,
    options: { showsSecret?: boolean; headers?: Record<string, string> } = {},
  ) => {
    const headers: Record<string, string> = { ...options.headers };
    if (key !== null) headers.authorization = `Bearer ${key}`;
    const sent: Sent = { method, path, headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      sent.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await call(baseUrl, sent);
    exchanges.push({ sent, res, showsSecret: options.showsSecret ?? false });
    return res;
  };

  // Accounts, through the admin API; and the admin API with wrong tokens.
  const one = await send(
    'POST',
    '/v1/accounts',
    adminToken,
    { name: 'one' },
    { showsSecret: true },
  );
  const two = await send(
    'POST',
    '/v1/accounts',
    adminToken,
    { name: 'two' },
    { showsSecret: true },
  );
  expect(one.status).toBe(201);
  const key = one.json.api_key as string;
  const key2 = two.json.api_key as string;
  secrets['api key one'] = key;
  secrets['api key two'] = key2;
  const wrongAdmin = adminToken.slice(0, -1) + (adminToken.endsWith('x') ? 'y' : 'x');
  secrets['wrong admin token'] = wrongAdmin;
  expect((await send('POST', '/v1/accounts', wrongAdmin, { name: 'no' })).status).toBe(401);
  expect((await send('POST', '/v1/accounts', key, { name: 'no' })).status).toBe(401);
  // A key in the query string is refused, and must not reach the request log either.
  for (const name of ['api_key', 'token', 'access_token', 'key']) {
    const res = await send('GET', `/v1/webhooks?${name}=${encodeURIComponent(key)}&limit=5`, null);
    expect(res.status).toBeGreaterThanOrEqual(400);
  }
  expect(
    (await send('GET', `/v1/accounts?admin_token=${encodeURIComponent(adminToken)}`, null)).status,
  ).toBeGreaterThanOrEqual(400);

  // Webhooks with a given secret, a generated one, and one JSON must escape.
  const given = `given-${random()}`;
  const escaped = `quote"back\\slash-${random()}`;
  secrets['given secret'] = given;
  secrets['escaped secret'] = escaped;
  const ok = await send(
    'POST',
    '/v1/webhooks',
    key,
    { url: receiver.url, events: ['call.*'], secret: given },
    { showsSecret: true },
  );
  const failing = await send(
    'POST',
    '/v1/webhooks',
    key,
    { url: receiver.url + '?fail', events: ['call.ended'] },
    { showsSecret: true },
  );
  const third = await send(
    'POST',
    '/v1/webhooks',
    key2,
    { url: receiver.url, events: ['agent.*'], secret: escaped },
    { showsSecret: true },
  );
  expect([ok.status, failing.status, third.status]).toEqual([201, 201, 201]);
  secrets['generated secret'] = failing.json.secret;

  // A secret refused by validation is still a secret the user typed.
  const refused = `refused ${random()}-with-a-space`;
  secrets['refused secret'] = refused;
  const bad = await send('POST', '/v1/webhooks', key, {
    url: receiver.url,
    events: ['*'],
    secret: refused,
  });
  expect(bad.status).toBe(400);
  const badRotate = await send('POST', `/v1/webhooks/${ok.json.id}/secret/rotate`, key, {
    secret: refused,
  });
  expect(badRotate.status).toBe(400);

  // Rotation (given and generated), reading secrets, changing one by PATCH.
  const rotatedTo = `rotated-${random()}`;
  secrets['rotated (given) secret'] = rotatedTo;
  const r1 = await send(
    'POST',
    `/v1/webhooks/${ok.json.id}/secret/rotate`,
    key,
    { secret: rotatedTo },
    { showsSecret: true },
  );
  const r2 = await send(
    'POST',
    `/v1/webhooks/${failing.json.id}/secret/rotate`,
    key,
    {},
    { showsSecret: true },
  );
  expect([r1.status, r2.status]).toEqual([200, 200]);
  secrets['rotated (generated) secret'] = r2.json.secret;
  const patchedTo = `patched-${random()}`;
  secrets['patched secret'] = patchedTo;
  expect(
    (await send('PATCH', `/v1/webhooks/${third.json.id}`, key2, { secret: patchedTo })).status,
  ).toBe(200);
  for (const [hook, owner] of [
    [ok, key],
    [failing, key],
    [third, key2],
  ] as const) {
    const res = await send('GET', `/v1/webhooks/${hook.json.id}/secret`, owner, undefined, {
      showsSecret: true,
    });
    expect(res.status).toBe(200);
  }

  // Publishing: one event, a batch, an idempotent replay.
  const received = receiver.requests.length;
  const published = await send(
    'POST',
    '/v1/events',
    key,
    { event: 'call.ended', data: DATA },
    {
      headers: { 'idempotency-key': `idem-${random()}` },
    },
  );
  expect(published.status).toBe(202);
  expect(
    (
      await send('POST', '/v1/events/batch', key2, {
        events: [{ event: 'agent.created', data: findEventType('agent.created')!.example }],
      })
    ).status,
  ).toBe(202);
  // call.ended: the ok hook once, the failing one 3 times (two retries); agent.created once.
  await receiver.waitFor(received + 5);
  await waitUntil(async () => {
    const res = await send('GET', `/v1/deliveries?webhook_id=${failing.json.id}`, key);
    return res.json?.data?.[0]?.status === 'failed';
  }, 'the failing delivery to run out of retries');

  // Test sends: saved endpoints, and an unsaved URL with its own secret.
  const testSecret = `unsaved-${random()}`;
  secrets['test-send secret'] = testSecret;
  for (const hook of [ok, failing]) {
    expect((await send('POST', `/v1/webhooks/${hook.json.id}/test`, key, {})).status).toBe(200);
  }
  const unsaved = await send('POST', '/v1/webhooks/test', key, {
    url: receiver.url,
    event: 'agent.created',
    secret: testSecret,
  });
  expect(unsaved.status).toBe(200);

  // Logs, a manual retry, stats, the event log.
  const deliveries = await send('GET', '/v1/deliveries?limit=100', key);
  for (const d of deliveries.json.data) await send('GET', `/v1/deliveries/${d.id}`, key);
  const failed = deliveries.json.data.find((d: any) => d.status === 'failed');
  expect((await send('POST', `/v1/deliveries/${failed.id}/retry`, key)).status).toBe(202);
  await send('GET', `/v1/webhooks/${ok.json.id}/stats?window=1h`, key);
  await send('GET', `/v1/webhooks/${failing.json.id}`, key);
  await send('GET', '/v1/webhooks', key);
  await send('GET', '/v1/events', key);
  await send('GET', `/v1/events/${published.json.id}`, key);
  await send('POST', `/v1/webhooks/${ok.json.id}/recover`, key, { since: '2000-01-01T00:00:00Z' });

  // Wrong keys: typos of real keys, another account's key on this account's object, a webhook
  // secret pasted where the API key belongs, a key in the wrong header form.
  const typo = key.slice(0, -2) + (key.endsWith('AA') ? 'BB' : 'AA');
  secrets['mistyped api key'] = typo;
  for (const wrong of [typo, given, rotatedTo, adminToken]) {
    expect((await send('GET', '/v1/webhooks', wrong)).status).toBe(401);
    expect(
      (await send('POST', '/v1/events', wrong, { event: 'call.ended', data: DATA })).status,
    ).toBe(401);
  }
  expect((await send('GET', `/v1/webhooks/${ok.json.id}/secret`, key2)).status).toBe(404);
  expect(
    (await send('GET', '/v1/webhooks', null, undefined, { headers: { authorization: key } }))
      .status,
  ).toBe(401);
  expect(
    (await send('GET', '/v1/webhooks', null, undefined, { headers: { 'x-api-key': key } })).status,
  ).toBe(401);
  // A request that fails on our side (deep nesting, see the DEFECT in fuzz.test.ts) goes through
  // the "request failed" error log: that path must not log the key either.
  const deep = `{"event":"call.ended","data":{"call_id":"c","agent_id":"a","duration":1,"status":"completed","x":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`;
  await send('POST', '/v1/events', key, deep);

  const metrics = await send('GET', '/metrics', null);
  expect(metrics.status).toBe(200);
  return { secrets, exchanges, metrics: metrics.text } satisfies FlowResult;
}

function expectNoSecretsOutsideTheirAnswers(flow: FlowResult, log: string): void {
  expect(findSecrets(log, flow.secrets), 'secrets found in the log').toEqual([]);
  expect(findSecrets(flow.metrics, flow.secrets), 'secrets found in /metrics').toEqual([]);
  for (const { sent, res, showsSecret } of flow.exchanges) {
    if (showsSecret && res.status < 300) continue;
    const where = `${sent.method} ${sent.path} → ${res.status}`;
    expect(findSecrets(res.text, flow.secrets), where).toEqual([]);
    // Nor in a header of any answer.
    const headers = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
    expect(findSecrets(headers, flow.secrets), `${where} headers`).toEqual([]);
  }
  // The answers that show a secret show only their own: never an API key or the admin token.
  for (const { sent, res, showsSecret } of flow.exchanges) {
    if (!showsSecret) continue;
    // (A mistyped copy of the key shown here shares its beginning, so it is left out too.)
    const shown = String(res.json?.api_key ?? '');
    const keys = Object.fromEntries(
      Object.entries(flow.secrets).filter(
        ([label, value]) =>
          /token|key/.test(label) && (shown === '' || value.slice(0, 20) !== shown.slice(0, 20)),
      ),
    );
    expect(findSecrets(res.text, keys), `${sent.method} ${sent.path}`).toEqual([]);
  }
}

/** The real createLogger, its output redirected to memory (pino.symbols is pino's hook for it). */
function capturedLogger(config: Config): { logger: Logger; text: () => string } {
  const logger = createLogger(config);
  const chunks: string[] = [];
  (logger as unknown as Record<symbol, DestinationStream>)[symbols.streamSym] = {
    write: (chunk: string) => void chunks.push(chunk),
  };
  return { logger, text: () => chunks.join('') };
}

describe('no secrets in logs, metrics or error answers', () => {
  let receiver: Receiver;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rizler-logs-'));
    receiver = await startReceiver();
    receiver.respondWith((req) =>
      req.url.includes('fail')
        ? { status: 500, body: 'receiver failed on purpose' }
        : { status: 200, body: 'ok' },
    );
  });

  afterAll(async () => {
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('in process, with createLogger at level trace', { timeout: 30_000 }, async () => {
    const adminToken = `admin-${random(16)}`;
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      RIZLER_DATABASE_URL: `sqlite:${join(dir, 'in-process.db')}`,
      RIZLER_ADMIN_TOKEN: adminToken,
      RIZLER_ALLOW_PRIVATE_NETWORKS: 'true',
      RIZLER_RETRY_SCHEDULE: '100ms,100ms',
      RIZLER_POLL_INTERVAL: '100ms',
      RIZLER_LOG_LEVEL: 'trace',
    });
    const { logger, text } = capturedLogger(config);
    const announced: string[] = [];
    const service = await startServer(config, logger, (line) => announced.push(line));
    let flow: FlowResult;
    try {
      flow = await runFlow(`http://127.0.0.1:${service.port}`, adminToken, receiver);
    } finally {
      await service.stop();
    }
    const log = text();
    // The capture really holds the server's log: every request, at trace level.
    expect(log).toContain('"msg":"rizler-webhooks serving"');
    expect(log.match(/"msg":"incoming request"/g)?.length ?? 0).toBeGreaterThan(40);
    expect(announced).toEqual([]); // with an admin token there is no default account to print
    expectNoSecretsOutsideTheirAnswers(flow, log);
  });

  it(
    'through `rizler-webhooks serve`, on its stdout at level trace',
    { timeout: 30_000 },
    async () => {
      const adminToken = `admin-${random(16)}`;
      const proc = await startProcess(['serve'], {
        RIZLER_DATABASE_URL: `sqlite:${join(dir, 'process.db')}`,
        RIZLER_ADMIN_TOKEN: adminToken,
        RIZLER_ALLOW_PRIVATE_NETWORKS: 'true',
        RIZLER_RETRY_SCHEDULE: '100ms,100ms',
        RIZLER_POLL_INTERVAL: '100ms',
        RIZLER_LOG_LEVEL: 'trace',
      });
      let flow: FlowResult;
      try {
        flow = await runFlow(`http://127.0.0.1:${proc.port}`, adminToken, receiver);
      } finally {
        proc.kill('SIGTERM');
        await proc.exited;
      }
      const log = proc.output();
      expect(log.match(/"msg":"incoming request"/g)?.length ?? 0).toBeGreaterThan(40);
      expectNoSecretsOutsideTheirAnswers(flow, log);
    },
  );

  // DEFECT: createLogger(config) (src/server.ts) always writes to stdout; it takes no
  // destination, so neither a test nor an embedding program can send the redacted log to a file
  // or a stream without reaching into pino.symbols (as capturedLogger above does) or copying the
  // redact list (which would then test the copy). Fix: `createLogger(config, destination?:
  // DestinationStream)` passing it as pino's second argument, or export the redact options.
  it('createLogger writes to a destination it is given', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const create = createLogger as unknown as (
      config: Pick<Config, 'logLevel'>,
      destination: DestinationStream,
    ) => Logger;
    const logger = create({ logLevel: 'silent' }, destination);
    logger.level = 'info';
    logger.info({ authorization: 'Bearer rzk_probe' }, 'probe');
    expect(lines.join('')).toContain('"msg":"probe"');
    expect(lines.join('')).toContain('[redacted]');
  });
});
