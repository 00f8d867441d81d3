// examples/python_receiver.py, run by python3 as a person would, registered as a webhook on a
// real server: it verifies the Standard Webhooks signature, processes each event once, and
// refuses forgeries and stale timestamps.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { standardSignature } from '../../src/core/signing.js';
import { ROOT } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { deliveryAfter, newSecret, publish, registerWebhook } from './support.js';

interface Python {
  child: ChildProcess;
  url: string;
  /** Resolves with the first printed line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  lines(): string[];
}

function startPython(secret: string): Promise<Python> {
  const child = spawn(
    'python3',
    ['-u', join(ROOT, 'examples', 'python_receiver.py'), '--port', '0', '--secret', secret],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    for (const l of [...listeners]) l();
  });
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const waitForLine = (pattern: RegExp, timeoutMs = 10_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = out.split('\n').find((l) => pattern.test(l));
        if (line === undefined) return;
        clearTimeout(timer);
        listeners.delete(check);
        resolve(line);
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`python did not print ${pattern}:\n${out}\n${err}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  return waitForLine(/^listening on /).then((line) => ({
    child,
    url: line.slice('listening on '.length).trim(),
    waitForLine,
    lines: () => out.trim().split('\n'),
  }));
}

let server: TestServer;
let python: Python;
let secret: string;

beforeEach(async () => {
  server = await startTestServer();
  secret = newSecret();
  python = await startPython(secret);
  await registerWebhook(server, python.url, secret);
});

afterEach(async () => {
  const exited = new Promise((resolve) => python.child.once('exit', resolve));
  python.child.kill('SIGKILL');
  await exited;
  await server.close();
});

function post(body: string, headers: Record<string, string>) {
  return fetch(python.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

describe('examples/python_receiver.py', () => {
  it('verifies a published event, answers 204 and processes it', async () => {
    const published = await publish(server);
    await python.waitForLine(new RegExp(`^processed call\\.ended ${published.id}$`));
    const delivery = await deliveryAfter(server, published.id, 1);
    expect(delivery).toMatchObject({ status: 'succeeded', last_status_code: 204 });
  });

  it('processes a redelivered event once (dedupe on webhook-id)', async () => {
    const published = await publish(server);
    await python.waitForLine(/^processed /);
    const first = await deliveryAfter(server, published.id, 1);
    await server.api(`/v1/deliveries/${first.id}/retry`, { method: 'POST' });
    await python.waitForLine(new RegExp(`^duplicate ${published.id}$`));
    const second = await deliveryAfter(server, published.id, 2);
    expect(second.attempts.map((a: any) => a.status_code)).toEqual([204, 204]);
    expect(python.lines().filter((l) => l.startsWith('processed'))).toHaveLength(1);
  });

  it('refuses a wrong signature and a stale timestamp with 400', async () => {
    const body = JSON.stringify({ id: 'evt_1', event: 'call.ended', timestamp: '', data: {} });
    const now = Math.floor(Date.now() / 1000);
    const wrong = await post(body, {
      'webhook-id': 'evt_1',
      'webhook-timestamp': String(now),
      'webhook-signature': standardSignature('evt_1', now, body, newSecret()),
    });
    expect(wrong.status).toBe(400);
    await python.waitForLine(/^rejected: no webhook-signature matches/);
    const stale = await post(body, {
      'webhook-id': 'evt_1',
      'webhook-timestamp': String(now - 301),
      'webhook-signature': standardSignature('evt_1', now - 301, body, secret),
    });
    expect(stale.status).toBe(400);
    await python.waitForLine(/^rejected: webhook-timestamp is 30\d s off/);
    // Correctly signed, with another rotation signature beside it: accepted.
    const ok = await post(body, {
      'webhook-id': 'evt_1',
      'webhook-timestamp': String(now),
      'webhook-signature': `${standardSignature('evt_1', now, body, newSecret())} ${standardSignature('evt_1', now, body, secret)}`,
    });
    expect(ok.status).toBe(204);
    await python.waitForLine(/^processed call\.ended evt_1$/);
  });

  it('keys a secret that is not whsec_ + base64 by its UTF-8 bytes, as the server signs', async () => {
    const plain = await startPython('my-own-endpoint-secret');
    try {
      await registerWebhook(server, plain.url, 'my-own-endpoint-secret');
      const published = await publish(server);
      await plain.waitForLine(new RegExp(`^processed call\\.ended ${published.id}$`));
    } finally {
      const exited = new Promise((resolve) => plain.child.once('exit', resolve));
      plain.child.kill('SIGKILL');
      await exited;
    }
  });
});
