// Runs the built CLI (`bin/rizler-webhooks.js`, from `npm run build`) as a real child process,
// for tests that crash, signal or restart it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root, found by walking up (this file also runs compiled, from dist/). */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'bin', 'rizler-webhooks.js')) && dirname(dir) !== dir)
    dir = dirname(dir);
  return dir;
}

export const ROOT = findRoot();
export const BIN = join(ROOT, 'bin', 'rizler-webhooks.js');

export interface ServiceProcess {
  child: ChildProcess;
  port: number;
  /** Everything printed to stdout so far. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** Starts `rizler-webhooks <args>` and resolves once it logs that it is listening. */
export function startProcess(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 20_000,
  nodeArgs: string[] = [],
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      RIZLER_LOG_LEVEL: 'info',
      PORT: '0',
      HOST: '127.0.0.1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`process did not start in ${timeoutMs} ms:\n${out}\n${err}`));
    }, timeoutMs);
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const match = /"port":(\d+)[^\n]*"msg":"rizler-webhooks (serving|worker running)"/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({
          child,
          port: Number(match[1]),
          output: () => out,
          exited,
          kill: (signal = 'SIGTERM') => child.kill(signal),
        });
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${code}) before it was ready:\n${out}\n${err}`));
    });
  });
}

/** What `api` answers: status, headers, the body parsed as JSON when it is JSON, and the time. */
export interface Answer {
  status: number;
  headers: Headers;
  body: any;
  /** Wall time of the request, in ms. */
  ms: number;
}

/** Calls a service process's API as `key`: GET without a body, POST with one. */
export async function api(
  port: number,
  key: string,
  path: string,
  body?: unknown,
  timeoutMs = 15_000,
): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    // not JSON (/metrics): keep the text
  }
  return {
    status: res.status,
    headers: res.headers,
    body: parsed,
    ms: performance.now() - started,
  };
}

/** The key the first start of an empty store prints for the `default` account. */
export function apiKeyFrom(output: string): string {
  const match = /(rzk_[A-Za-z0-9_-]+)/.exec(output);
  if (!match) throw new Error('the first start did not print an API key:\n' + output);
  return match[1]!;
}
