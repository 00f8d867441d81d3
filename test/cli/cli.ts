// Runs the built CLI (`bin/rizler-webhooks.js`, from `npm run build:server`) as a person would,
// with only the environment the test gives it, and waits on what it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, ROOT } from '../helpers/process.js';

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout (or stderr) line matching `pattern`, once printed. */
  waitForLine(
    pattern: RegExp,
    options?: { stream?: 'stdout' | 'stderr'; timeoutMs?: number },
  ): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<CliProcess>();

export function startCli(args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const text = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  child.stdout!.on('data', (c: Buffer) => {
    text.stdout += c.toString();
    notify();
  });
  child.stderr!.on('data', (c: Buffer) => {
    text.stderr += c.toString();
    notify();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => {
      running.delete(proc);
      resolve({ code, signal });
      notify();
    }),
  );
  const proc: CliProcess = {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
    waitForLine(pattern, { stream = 'stdout', timeoutMs = 15_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = text[stream].split('\n').find((l) => pattern.test(l));
          if (line !== undefined) {
            done();
            resolve(line);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`the CLI exited before printing ${pattern}:\n${describe()}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`the CLI did not print ${pattern} in ${timeoutMs} ms:\n${describe()}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
  const describe = () => `stdout:\n${text.stdout}\nstderr:\n${text.stderr}`;
  running.add(proc);
  return proc;
}

/** Runs a command that ends by itself; resolves with its exit code and output. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = startCli(args, env);
  const { code } = await proc.exited;
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** Stops every CLI still running (for afterEach). */
export async function stopAllCli(): Promise<void> {
  await Promise.all(
    [...running].map((proc) => {
      proc.child.kill('SIGKILL');
      return proc.exited;
    }),
  );
}
