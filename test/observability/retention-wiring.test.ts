// RIZLER_RETENTION_DAYS reaches the purge the delivery side runs: with 2 days, an event of 3
// days ago and its delivery are purged and one of yesterday is kept; with the default (30),
// both are kept.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createSecretBox } from '../../src/core/secret-box.js';
import { newId } from '../../src/core/ids.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { Storage } from '../../src/storage/index.js';
import { openStorage } from '../../src/storage/open.js';
import { buildDelivery, buildSender } from '../../src/worker/delivery.js';

const DAY = 86_400_000;

describe('RIZLER_RETENTION_DAYS', () => {
  let storage: Storage | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await storage?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    storage = dir = undefined;
  });

  async function storeWithEventsAged(daysAgo: number[]) {
    dir = mkdtempSync(join(tmpdir(), 'rizler-retention-'));
    const url = `sqlite:${join(dir, 'test.db')}`;
    storage = await openStorage(url);
    await storage.migrate();
    const now = Date.now();
    await storage.createAccount({ id: 'acc_1', name: 'a', createdAt: now - 40 * DAY }, 'hash');
    const ids: string[] = [];
    for (const days of daysAgo) {
      const at = now - days * DAY;
      const id = newId('evt', at);
      await storage.publish({
        accountId: 'acc_1',
        events: [
          {
            id,
            type: 'call.ended',
            timestamp: new Date(at).toISOString(),
            payload: '{}',
            idempotencyKey: null,
          },
        ],
        newDeliveryId: () => newId('dlv', at),
        now: at,
        idempotencyWindowMs: DAY,
      });
      ids.push(id);
    }
    return { url, ids };
  }

  async function purgeWith(url: string, env: Record<string, string>) {
    const config = loadConfig({ RIZLER_DATABASE_URL: url, ...env });
    const { dispatcher, sender } = buildSender(config);
    try {
      const { retention } = buildDelivery(
        config,
        storage!,
        pino({ level: 'silent' }),
        new Metrics(),
        sender,
        createSecretBox(null),
      );
      return await retention.runOnce();
    } finally {
      await dispatcher.close();
    }
  }

  it('purges what is older than the configured days and keeps the rest', async () => {
    const { url, ids } = await storeWithEventsAged([3, 1]);
    const purged = await purgeWith(url, { RIZLER_RETENTION_DAYS: '2' });
    expect(purged.events).toBe(1);
    expect(await storage!.getEvent('acc_1', ids[0]!)).toBeNull();
    expect(await storage!.getEvent('acc_1', ids[1]!)).not.toBeNull();
  });

  it('keeps 30 days by default', async () => {
    const { url, ids } = await storeWithEventsAged([29, 3]);
    expect((await purgeWith(url, {})).events).toBe(0);
    for (const id of ids) expect(await storage!.getEvent('acc_1', id)).not.toBeNull();
  });
});
