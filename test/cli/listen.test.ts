// `rizler-webhooks listen`: the account's events forwarded to a local URL, signed with the
// session secret it prints, each attempt printed and logged like any endpoint's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { verifySignature, verifyWebhook } from '../../src/receiver/index.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startCli, stopAllCli, type CliProcess } from './cli.js';

let server: TestServer;
let receiver: Receiver;
let env: Record<string, string>;
let dir: string;
/** Servers a test starts itself and has not closed yet. */
const restarted: TestServer[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rizler-listen-'));
  server = await startTestServer();
  receiver = await startReceiver();
  env = { RIZLER_API_URL: server.url, RIZLER_API_KEY: server.apiKey };
});

afterEach(async () => {
  await stopAllCli();
  for (const s of restarted.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
  await server.close();
  await receiver.close();
});

async function publish(type: string): Promise<{ id: string; timestamp: string }> {
  const res = await server.api('/v1/events', {
    body: { event: type, data: findEventType(type)!.example },
  });
  expect(res.status).toBe(202);
  return res.body;
}

/** Starts `listen` and resolves with its session secret once it is connected. */
async function startListen(args: string[] = []): Promise<{ cli: CliProcess; secret: string }> {
  const cli = startCli(['listen', '--forward-to', receiver.url, ...args], env);
  const line = await cli.waitForLine(/whsec_/);
  return { cli, secret: /whsec_[A-Za-z0-9+/=]+/.exec(line)![0] };
}

describe('rizler-webhooks listen', () => {
  it('forwards a published event, signed with the printed session secret, and logs the attempt', async () => {
    const { cli, secret } = await startListen();
    expect(cli.stdout()).toContain(
      `Ready! Forwarding * events from ${server.url} to ${receiver.url}`,
    );
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);

    const published = await publish('call.ended');
    const [request] = await receiver.waitFor(1);
    const event = verifyWebhook(request!.body, request!.headers, secret);
    expect(event).toMatchObject({ id: published.id, event: 'call.ended' });
    expect(event.data).toEqual(findEventType('call.ended')!.example);
    expect(verifySignature(request!.body, request!.headers['x-rizler-signature'], secret)).toBe(
      true,
    );
    expect(request!.headers).toMatchObject({
      'webhook-id': published.id,
      'x-rizler-event': 'call.ended',
      'x-rizler-attempt': '1',
      'content-type': 'application/json',
    });

    const line = await cli.waitForLine(/^--> /);
    expect(line).toMatch(new RegExp(`^--> call\\.ended ${published.id} \\[200\\] \\d+ ms$`));

    // The server side shows up in the delivery logs like any endpoint.
    let logged: any;
    for (let i = 0; i < 50 && !logged; i++) {
      const list = await server.api('/v1/deliveries');
      logged = list.body.data.find((d: any) => d.url === receiver.url);
    }
    expect(logged).toMatchObject({
      webhook_id: null,
      event: 'call.ended',
      status: 'succeeded',
      last_status_code: 200,
      test: true,
    });
    const detail = await server.api(`/v1/deliveries/${logged.id}`);
    expect(detail.body.request.body).toBe(request!.body);
    expect(detail.body.request.headers['webhook-signature']).toBe(
      request!.headers['webhook-signature'],
    );
    expect(detail.body.attempts).toMatchObject([{ trigger: 'test', status_code: 200 }]);
  });

  it('--events forwards only the matching types', async () => {
    const { cli } = await startListen(['--events', 'agent.*,call.missed']);
    await publish('call.ended');
    const agent = await publish('agent.created');
    const [request] = await receiver.waitFor(1);
    // Events are forwarded in order, so a forwarded call.ended would have come first.
    expect(JSON.parse(request!.body).id).toBe(agent.id);
    await cli.waitForLine(/^--> agent\.created/);
    expect(cli.stdout()).not.toContain('call.ended');
  });

  it('--json prints a ready object and one object per forwarded event, failures included', async () => {
    receiver.respondWith(() => ({ status: 503, body: 'not now' }));
    const cli = startCli(['listen', '--json', '--forward-to', receiver.url], env);
    const ready = JSON.parse(await cli.waitForLine(/"type":"ready"/));
    expect(ready).toMatchObject({ forward_to: receiver.url, events: ['*'], api_url: server.url });
    expect(ready.secret).toMatch(/^whsec_/);

    const published = await publish('recording.ready');
    const forwarded = JSON.parse(await cli.waitForLine(/"type":"forwarded"/));
    expect(forwarded).toMatchObject({
      event: 'recording.ready',
      event_id: published.id,
      succeeded: false,
      status_code: 503,
      error: 'the receiver answered HTTP 503',
    });
    expect(forwarded.delivery_id).toMatch(/^dlv_/);
    const detail = await server.api(`/v1/deliveries/${forwarded.delivery_id}`);
    expect(detail.body).toMatchObject({
      status: 'failed',
      last_status_code: 503,
      url: receiver.url,
    });
    for (const line of cli.stdout().trim().split('\n'))
      expect(() => JSON.parse(line)).not.toThrow();
  });

  it('reports a local app that is not running', async () => {
    const url = receiver.url;
    await receiver.close();
    receiver = await startReceiver(); // for afterEach
    const cli = startCli(['listen', '--forward-to', url], env);
    await cli.waitForLine(/whsec_/);
    const published = await publish('call.ended');
    const line = await cli.waitForLine(/^--> /);
    expect(line).toMatch(
      new RegExp(`^--> call\\.ended ${published.id} \\[ERR\\] \\d+ ms {2}connection refused$`),
    );
  });

  it('reconnects when the server restarts, and forwards what is published after', async () => {
    const database = { RIZLER_DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}` };
    const first = await startTestServer(database);
    restarted.push(first);
    const cli = startCli(['listen', '--forward-to', receiver.url], {
      RIZLER_API_URL: first.url,
      RIZLER_API_KEY: first.apiKey,
    });
    const secret = /whsec_\S+/.exec(await cli.waitForLine(/whsec_/))![0];
    restarted.splice(restarted.indexOf(first), 1);
    await first.close();
    await cli.waitForLine(/^Lost the stream/, { stream: 'stderr' });
    const second = await startTestServer({ ...database, PORT: new URL(first.url).port });
    restarted.push(second);
    await cli.waitForLine(/^Reconnected/, { stream: 'stderr' });
    const res = await second.api('/v1/events', {
      apiKey: first.apiKey,
      body: { event: 'call.ended', data: findEventType('call.ended')!.example },
    });
    expect(res.status).toBe(202);
    const [request] = await receiver.waitFor(1);
    expect(verifyWebhook(request!.body, request!.headers, secret).id).toBe(res.body.id);
  });

  it('stops cleanly on Ctrl-C', async () => {
    const { cli } = await startListen();
    cli.child.kill('SIGINT');
    const { code } = await cli.exited;
    expect(code).toBe(0);
  });
});
