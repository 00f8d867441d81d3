// Keeps dist/ as new as the sources. The send thread and every spawned-process test (the CLI,
// kill -9, multi-process) run the build, not the TypeScript, so a test run on a stale build
// would test yesterday's code. The vitest global setup (./global.ts) calls `buildIfStale` for
// each target before any test file runs, and again before each watch-mode rerun.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface BuildTarget {
  name: string;
  /** Files and folders (walked) whose change makes the output stale, relative to the root. */
  sources: string[];
  /** Folders the build writes, relative to the root; missing output is stale. */
  outputs: string[];
  /** `node <args>` from the root. */
  build: string[];
}

export const TARGETS: BuildTarget[] = [
  {
    name: 'server',
    sources: ['src', 'bench', 'tsconfig.json', 'tsconfig.build.json'],
    outputs: ['dist/src', 'dist/bench'],
    build: ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'],
  },
  {
    name: 'dashboard',
    sources: ['web'],
    outputs: ['dist/web'],
    build: [
      'node_modules/vite/bin/vite.js',
      'build',
      '--config',
      'web/vite.config.ts',
      '--logLevel',
      'warn',
    ],
  },
];

function walk(path: string, visit: (mtimeMs: number) => void): void {
  const stat = statSync(path);
  if (!stat.isDirectory()) return visit(stat.mtimeMs);
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules') continue;
    walk(join(path, entry), visit);
  }
}

/**
 * Why `target` must be rebuilt, or null when its output is newer than every source. The newest
 * output file is the reference, not the oldest: tsc leaves the output of a deleted source
 * behind, and that orphan would make every run rebuild.
 */
export function staleness(root: string, target: BuildTarget): string | null {
  let newestOutput = -Infinity;
  let files = 0;
  for (const output of target.outputs) {
    const path = join(root, output);
    if (!existsSync(path)) return `${output} is missing`;
    walk(path, (mtime) => {
      files++;
      newestOutput = Math.max(newestOutput, mtime);
    });
  }
  if (files === 0) return 'the output is empty';
  let newest = -Infinity;
  let newestSource = '';
  for (const source of target.sources) {
    const path = join(root, source);
    if (!existsSync(path)) continue;
    walk(path, (mtime) => {
      if (mtime > newest) {
        newest = mtime;
        newestSource = source;
      }
    });
  }
  return newest > newestOutput ? `${newestSource} changed after the last build` : null;
}

/** Builds `target` when it is stale; returns whether it built. Throws with the build's output. */
export function buildIfStale(
  root: string,
  target: BuildTarget,
  log: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): boolean {
  const why = staleness(root, target);
  if (why === null) return false;
  log(`[build] ${target.name}: ${why}; rebuilding`);
  const started = performance.now();
  const result = spawnSync(process.execPath, target.build, { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(
      `building ${target.name} failed (${target.build.join(' ')}):\n${result.stdout}${result.stderr}`,
    );
  }
  log(`[build] ${target.name}: built in ${Math.round(performance.now() - started)} ms`);
  return true;
}
