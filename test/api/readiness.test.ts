// /healthz and /readyz are one implementation (src/http/operations.ts): the standalone worker
// answers them exactly as the API server does, so one probe configuration serves both.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startServer, startWorker, type RunningService } from '../../src/server.js';

let dir = '';
const services: RunningService[] = [];
afterEach(async () => {
  for (const service of services.splice(0)) await service.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function answers(service: RunningService, path: string) {
  const res = await fetch(`http://127.0.0.1:${service.port}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.json() };
}

it('the worker answers /healthz and /readyz as the server does', async () => {
  dir = mkdtempSync(join(tmpdir(), 'rizler-ready-'));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    RIZLER_RUN_WORKER: 'false',
    RIZLER_DATABASE_URL: `sqlite:${join(dir, 'db.sqlite')}`,
    RIZLER_LOG_LEVEL: 'silent',
  });
  const logger = pino({ level: 'silent' });
  const server = await startServer(config, logger, () => {});
  services.push(server);
  const worker = await startWorker(config, logger);
  services.push(worker);

  for (const path of ['/healthz', '/readyz']) {
    const fromServer = await answers(server, path);
    expect(fromServer.status, path).toBe(200);
    expect(await answers(worker, path), path).toEqual(fromServer);
  }
  expect((await answers(worker, '/readyz')).body).toMatchObject({
    status: 'ready',
    details: { secrets_at_rest: 'plain' },
  });
});
