// `rizler-webhooks trigger`: publishes a catalogue example, or the given data, to the account.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { runCli, stopAllCli } from './cli.js';

let server: TestServer;
let receiver: Receiver;
let dir: string;
let env: Record<string, string>;

beforeEach(async () => {
  server = await startTestServer();
  receiver = await startReceiver();
  dir = mkdtempSync(join(tmpdir(), 'rizler-trigger-'));
  env = { RIZLER_API_URL: server.url, RIZLER_API_KEY: server.apiKey };
  const hook = await server.api('/v1/webhooks', {
    body: { url: receiver.url, events: ['call.*'] },
  });
  expect(hook.status).toBe(201);
});

afterEach(async () => {
  await stopAllCli();
  await server.close();
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('rizler-webhooks trigger', () => {
  it("publishes the type's catalogue example, which the subscribed endpoint receives", async () => {
    const run = await runCli(['trigger', 'call.ended'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const match = /^Published call\.ended as (evt_\w+): 1 delivery queued\.$/m.exec(run.stdout);
    expect(match, run.stdout).not.toBeNull();
    const [request] = await receiver.waitFor(1);
    const body = JSON.parse(request!.body);
    expect(body).toMatchObject({ id: match![1], event: 'call.ended' });
    expect(body.data).toEqual(findEventType('call.ended')!.example);
  });

  it('publishes the data of --data file.json instead', async () => {
    const data = {
      call_id: 'call_from_file',
      agent_id: 'agent_7',
      duration: 42,
      status: 'completed',
    };
    const file = join(dir, 'ended.json');
    writeFileSync(file, JSON.stringify(data));
    const run = await runCli(['trigger', 'call.ended', '--data', file], env);
    expect(run.code, run.stderr).toBe(0);
    const [request] = await receiver.waitFor(1);
    expect(JSON.parse(request!.body).data).toMatchObject(data);
  });

  it('prints the published event as JSON with --json, and says when nothing subscribes', async () => {
    const run = await runCli(['trigger', 'agent.created', '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    const published = JSON.parse(run.stdout);
    expect(published).toMatchObject({ event: 'agent.created', deliveries: 0 });
    expect(published.id).toMatch(/^evt_/);
    const stored = await server.api(`/v1/events/${published.id}`);
    expect(stored.status).toBe(200);
    expect(run.stderr).toContain('No enabled webhook subscribes to agent.created');
  });

  it('lists the known types for an unknown one, and explains a bad --data file', async () => {
    const unknown = await runCli(['trigger', 'call.exploded'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown event type "call.exploded"');
    expect(unknown.stderr).toContain('call.ended');
    expect(unknown.stderr).toContain('agent.status_changed');

    const notJson = join(dir, 'bad.json');
    writeFileSync(notJson, '{"call_id": ');
    const bad = await runCli(['trigger', 'call.ended', '--data', notJson], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`--data file "${notJson}" is not valid JSON`);

    const missing = await runCli(['trigger', 'call.ended', '--data', join(dir, 'nope.json')], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read --data file');

    const invalid = join(dir, 'invalid.json');
    writeFileSync(invalid, JSON.stringify({ call_id: 5 }));
    const refused = await runCli(['trigger', 'call.ended', '--data', invalid], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('422 invalid_event_data');
    expect(receiver.requests).toHaveLength(0);
  });
});
