// Shared by the security tests: a fetch that keeps everything an answer carries, the check that
// an error answer has the API's one error shape, and a search for secrets in any text or bytes.
import { createServer } from 'node:net';
import { expect } from 'vitest';

/** No request may take longer than this; a hung one fails the test instead of the run. */
export const TIME_LIMIT_MS = 5_000;

export interface Sent {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
  ms: number;
}

export async function call(baseUrl: string, req: Sent): Promise<Answer> {
  const started = Date.now();
  const res = await fetch(baseUrl + req.path, {
    method: req.method,
    headers: req.headers,
    // A copy, so the bytes sit in a plain ArrayBuffer as fetch's types want.
    body:
      typeof req.body === 'string' || req.body === undefined ? req.body : new Uint8Array(req.body),
    redirect: 'manual',
    signal: AbortSignal.timeout(TIME_LIMIT_MS),
  });
  const text = await res.text();
  let json: any = undefined;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: the checks below say so when it matters
  }
  return { status: res.status, headers: res.headers, text, json, ms: Date.now() - started };
}

export function describeSent(req: Sent): string {
  const body =
    req.body === undefined
      ? ''
      : typeof req.body === 'string'
        ? ` body=${JSON.stringify(req.body.slice(0, 200))}${req.body.length > 200 ? `…(${req.body.length})` : ''}`
        : ` bytes=${req.body.length}`;
  return `${req.method} ${req.path.slice(0, 200)} headers=${JSON.stringify(req.headers ?? {}).slice(0, 300)}${body}`;
}

/** `{"error":{"code":"snake_case","message":"…"}}` and nothing else, served as JSON. */
export function expectErrorShape(res: Answer, where: string): void {
  expect(res.headers.get('content-type') ?? '', where).toMatch(/^application\/json/);
  expect(res.json, where).toBeTypeOf('object');
  expect(Object.keys(res.json ?? {}), where).toEqual(['error']);
  expect(Object.keys(res.json.error ?? {}).sort(), where).toEqual(['code', 'message']);
  expect(res.json.error.code, where).toMatch(/^[a-z_]+$/);
  expect(res.json.error.message, where).toBeTypeOf('string');
  expect(res.json.error.message.length, where).toBeGreaterThan(0);
}

/** Never a 5xx, answered in bounded time, and every 4xx in the API's error shape. */
export function expectHandled(req: Sent, res: Answer): void {
  const where = `${describeSent(req)}\n→ ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, where).toBeLessThan(500);
  expect(res.ms, where).toBeLessThan(TIME_LIMIT_MS);
  if (res.status >= 400 && req.method !== 'HEAD') expectErrorShape(res, where);
}

/**
 * The forms a secret could take in text: as is, JSON-escaped, and its random part alone (so a
 * log line that drops the `rzk_`/`whsec_` prefix or keeps only a slice is still caught).
 */
export function needleForms(secret: string): string[] {
  const forms = new Set([secret, JSON.stringify(secret).slice(1, -1)]);
  const random = secret.replace(/^(rzk_|whsec_)/, '');
  if (random.length >= 16) forms.add(random.slice(0, 16));
  return [...forms];
}

/** Which of the secrets (by label) occur in the haystack, in any of their forms. */
export function findSecrets(haystack: string | Buffer, secrets: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [label, secret] of Object.entries(secrets)) {
    for (const form of needleForms(secret)) {
      const hit =
        typeof haystack === 'string'
          ? haystack.includes(form)
          : haystack.indexOf(Buffer.from(form, 'utf8')) !== -1;
      if (hit) {
        found.push(`${label} (as ${JSON.stringify(form.slice(0, 12))}…)`);
        break;
      }
    }
  }
  return found;
}

/** A 127.0.0.1 port nothing listens on: attempts to it are refused at once. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 9;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function waitUntil(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
