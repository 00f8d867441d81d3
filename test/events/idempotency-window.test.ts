// SPEC §2: the same Idempotency-Key with the same body within 24 h returns the first event and
// creates nothing; after 24 h the key is forgotten and publishes anew. The API runs on a clock
// the test turns, over both engines, so the window is checked at its edges without waiting.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/accounts/keys.js';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createSecretBox } from '../../src/core/secret-box.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { Storage } from '../../src/storage/index.js';
import { openStorage } from '../../src/storage/open.js';
import { buildSender } from '../../src/worker/delivery.js';
import { createTestDatabase } from '../helpers/postgres.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 15, 10, 0, 0);

type Engine = 'sqlite' | 'postgres';

async function apiOnAClock(engine: Engine) {
  let cleanup: () => Promise<void>;
  let databaseUrl: string;
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'rizler-idem-'));
    databaseUrl = `sqlite:${join(dir, 'test.db')}`;
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const db = await createTestDatabase();
    databaseUrl = db.url;
    cleanup = db.drop;
  }
  const config = loadConfig({ RIZLER_DATABASE_URL: databaseUrl, RIZLER_LOG_LEVEL: 'silent' });
  const storage: Storage = await openStorage(databaseUrl);
  await storage.migrate();
  const clock = { now: T0 };
  const { dispatcher, sender } = buildSender(config);
  const app = await buildApp({
    config,
    storage,
    secrets: createSecretBox(null),
    sender,
    metrics: new Metrics(),
    logger: pino({ level: 'silent' }),
    now: () => clock.now,
  });
  const { apiKey } = await createAccount(storage, 'idempotency', T0);
  const publish = async (data: Record<string, unknown>) => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': 'order-42' },
      payload: { event: 'call.ended', data },
    });
    return { status: res.statusCode, body: res.json() };
  };
  return {
    clock,
    publish,
    async close() {
      await app.close();
      await dispatcher.close();
      await storage.close();
      await cleanup();
    },
  };
}

describe.each<Engine>(['sqlite', 'postgres'])('the idempotency window (%s)', (engine) => {
  let api: Awaited<ReturnType<typeof apiOnAClock>> | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });

  const DATA = { call_id: 'call_1', duration: 180, status: 'completed' };

  it('returns the first event for 24 h, then publishes a new one', async () => {
    api = await apiOnAClock(engine);
    const first = await api.publish(DATA);
    expect(first.status).toBe(202);

    api.clock.now = T0 + 24 * HOUR - 1_000;
    const replay = await api.publish(DATA);
    expect(replay).toEqual(first);
    api.clock.now = T0 + 24 * HOUR + 1_000;
    const again = await api.publish(DATA);
    expect(again.status).toBe(202);
    expect(again.body.id).not.toBe(first.body.id);
    // The new event now owns the key for its own 24 h.
    api.clock.now = T0 + 47 * HOUR;
    expect(await api.publish(DATA)).toEqual(again);
  });
});
