// At-least-once through crashes: `kill -9` of a server with deliveries in flight, then a
// restart that delivers every one of them; SIGTERM lets in-flight attempts finish.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { api, apiKeyFrom, startProcess, type ServiceProcess } from '../helpers/process.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';

const DATA = { call_id: 'call_1', agent_id: 'agent_1', duration: 3, status: 'completed' };

describe('crash and shutdown', () => {
  let dir: string;
  let receiver: Receiver;
  const running: ServiceProcess[] = [];
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rizler-crash-'));
    receiver = await startReceiver();
  });
  afterEach(async () => {
    for (const p of running) {
      p.kill('SIGKILL');
      await p.exited;
    }
    running.length = 0;
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const env = () => ({
    RIZLER_DATABASE_URL: `sqlite:${join(dir, 'rizler.db')}`,
    RIZLER_ALLOW_PRIVATE_NETWORKS: 'true',
    RIZLER_LEASE: '2s',
    RIZLER_RETRY_SCHEDULE: '200ms,200ms,200ms,200ms,200ms',
    RIZLER_POLL_INTERVAL: '100ms',
  });

  async function start() {
    const p = await startProcess(['serve'], env());
    running.push(p);
    return p;
  }

  it('delivers every accepted event after kill -9 with deliveries in flight', async () => {
    const first = await start();
    const key = apiKeyFrom(first.output());
    // Slow answers keep many attempts in flight when the process dies.
    receiver.respondWith(() => ({ status: 200, delayMs: 300 }));
    const hook = await api(first.port, key, '/v1/webhooks', {
      url: receiver.url,
      events: ['call.ended'],
    });
    expect(hook.status).toBe(201);
    const events = Array.from({ length: 300 }, () => ({ event: 'call.ended', data: DATA }));
    const published = await api(first.port, key, '/v1/events/batch', { events });
    expect(published.status).toBe(202);
    const ids = new Set<string>(published.body.data.map((e: { id: string }) => e.id));
    expect(ids.size).toBe(300);

    await receiver.waitFor(20);
    first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const deliveredBeforeCrash = receiver.requests.length;
    expect(deliveredBeforeCrash).toBeLessThan(300);

    receiver.respondWith(() => ({ status: 200 }));
    const second = await start();
    const received = () => new Set(receiver.requests.map((r) => String(r.headers['webhook-id'])));
    for (let i = 0; i < 400 && [...ids].some((id) => !received().has(id)); i++) {
      await receiver.waitFor(receiver.requests.length + 1, 20_000);
    }
    expect([...ids].filter((id) => !received().has(id))).toEqual([]);

    // And the log agrees: every delivery succeeded.
    let pending = -1;
    for (let i = 0; i < 100 && pending !== 0; i++) {
      const list = await api(second.port, key, '/v1/deliveries?status=pending&limit=100');
      pending = list.body.data.length;
      if (pending > 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(pending).toBe(0);
  }, 60_000);

  it('on SIGTERM stops claiming, finishes in-flight attempts and records them', async () => {
    const first = await start();
    const key = apiKeyFrom(first.output());
    receiver.respondWith(() => ({ status: 200, delayMs: 1000 }));
    await api(first.port, key, '/v1/webhooks', { url: receiver.url, events: ['*'] });
    const events = Array.from({ length: 10 }, () => ({ event: 'call.ended', data: DATA }));
    await api(first.port, key, '/v1/events/batch', { events });
    await receiver.waitFor(10);
    first.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });

    // Restarted, the store shows all ten succeeded once; nothing is sent again.
    receiver.respondWith(() => ({ status: 200 }));
    const second = await start();
    const ok = await api(second.port, key, '/v1/deliveries?status=succeeded');
    expect(ok.body.data).toHaveLength(10);
    for (const d of ok.body.data) expect(d.attempt_count).toBe(1);
    expect(receiver.requests).toHaveLength(10);
  }, 30_000);
});
