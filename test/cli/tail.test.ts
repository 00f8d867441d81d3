// `rizler-webhooks tail`: one readable line per delivery and per attempt, as they happen.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startCli, stopAllCli } from './cli.js';

let server: TestServer;
let receiver: Receiver;
let env: Record<string, string>;
let webhookId: string;

beforeEach(async () => {
  server = await startTestServer();
  receiver = await startReceiver();
  env = { RIZLER_API_URL: server.url, RIZLER_API_KEY: server.apiKey };
  // The first attempt fails, the retry (200 ms later on the test schedule) succeeds.
  receiver.respondWith((_req, i) => (i === 0 ? { status: 500, body: 'down' } : { status: 200 }));
  const hook = await server.api('/v1/webhooks', { body: { url: receiver.url, events: ['*'] } });
  webhookId = hook.body.id;
});

afterEach(async () => {
  await stopAllCli();
  await server.close();
  await receiver.close();
});

async function publish(type = 'call.ended'): Promise<string> {
  const res = await server.api('/v1/events', {
    body: { event: type, data: findEventType(type)!.example },
  });
  expect(res.status).toBe(202);
  return res.body.id;
}

describe('rizler-webhooks tail', () => {
  it('prints a line for a failed attempt and for the retry that succeeded', async () => {
    const tail = startCli(['tail'], env);
    await tail.waitForLine(/^Tailing deliveries at /, { stream: 'stderr' });
    await publish();
    const failed = await tail.waitForLine(/attempt 1 \[500\]/);
    expect(failed).toMatch(/call\.ended {2}dlv_\w+ {2}→ http:\/\/127\.0\.0\.1:\d+\/webhooks/);
    expect(failed).toMatch(/\d+ ms {2}pending: the receiver answered HTTP 500/);
    const retried = await tail.waitForLine(/attempt 2 \[200\]/);
    expect(retried).toMatch(/\d+ ms {2}succeeded$/);
    const id = /dlv_\w+/.exec(failed)![0];
    expect(retried).toContain(id);
  });

  it('--json prints each change as a delivery object; --status and --webhook filter', async () => {
    const all = startCli(['tail', '--json', '--webhook', webhookId], env);
    const succeeded = startCli(['tail', '--json', '--status', 'succeeded'], env);
    await all.waitForLine(/^Tailing/, { stream: 'stderr' });
    await succeeded.waitForLine(/^Tailing/, { stream: 'stderr' });
    const eventId = await publish();
    await all.waitForLine(/"status":"succeeded"/);
    const deliveries = all
      .stdout()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    for (const d of deliveries) {
      expect(d).toMatchObject({ event_id: eventId, webhook_id: webhookId, event: 'call.ended' });
    }
    expect(deliveries.filter((d) => d.attempt_count > 0).map((d) => d.status)).toEqual([
      'pending',
      'succeeded',
    ]);
    const only = JSON.parse(await succeeded.waitForLine(/"status":"succeeded"/));
    expect(only).toMatchObject({ event_id: eventId, attempt_count: 2, last_status_code: 200 });
    expect(succeeded.stdout().trim().split('\n')).toHaveLength(1);
  });
});
