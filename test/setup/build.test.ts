// The global setup rebuilds dist/ when a source is newer than it, so `npx vitest run FILE`
// tests today's code, not the last `npm run build`'s.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/process.js';
import { buildIfStale, staleness, TARGETS, type BuildTarget } from './build.js';

describe('the build freshness check', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** A project whose "build" copies src/a.txt to out/a.txt and counts its runs. */
  function project(): { root: string; target: BuildTarget; builds: () => number } {
    const root = mkdtempSync(join(tmpdir(), 'rizler-build-'));
    dirs.push(root);
    mkdirSync(join(root, 'src', 'deep'), { recursive: true });
    writeFileSync(join(root, 'src', 'deep', 'a.txt'), 'one');
    const script = `const fs = require('fs');
fs.mkdirSync('out', { recursive: true });
fs.writeFileSync('out/a.txt', fs.readFileSync('src/deep/a.txt'));
fs.appendFileSync('runs', 'x');`;
    writeFileSync(join(root, 'build.cjs'), script);
    const target = { name: 'demo', sources: ['src'], outputs: ['out'], build: ['build.cjs'] };
    const builds = () => {
      try {
        return readFileSync(join(root, 'runs'), 'utf8').length;
      } catch {
        return 0;
      }
    };
    return { root, target, builds };
  }

  const setMtime = (path: string, ms: number) => utimesSync(path, ms / 1000, ms / 1000);

  it('builds when the output is missing, then not again while nothing changed', () => {
    const { root, target, builds } = project();
    expect(staleness(root, target)).toBe('out is missing');
    expect(buildIfStale(root, target, () => {})).toBe(true);
    expect(readFileSync(join(root, 'out', 'a.txt'), 'utf8')).toBe('one');
    setMtime(join(root, 'src', 'deep', 'a.txt'), Date.now() - 60_000);
    expect(staleness(root, target)).toBeNull();
    expect(buildIfStale(root, target, () => {})).toBe(false);
    expect(builds()).toBe(1);
  });

  it('rebuilds when a source deep in a folder is newer than the output', () => {
    const { root, target, builds } = project();
    buildIfStale(root, target, () => {});
    const source = join(root, 'src', 'deep', 'a.txt');
    writeFileSync(source, 'two');
    setMtime(source, Date.now() + 60_000);
    expect(staleness(root, target)).toBe('src changed after the last build');
    const logged: string[] = [];
    expect(buildIfStale(root, target, (line) => logged.push(line))).toBe(true);
    expect(readFileSync(join(root, 'out', 'a.txt'), 'utf8')).toBe('two');
    expect(builds()).toBe(2);
    expect(logged.join('\n')).toMatch(/demo: src changed after the last build; rebuilding/);
  });

  it('fails loudly when the build fails', () => {
    const { root, target } = project();
    writeFileSync(join(root, 'build.cjs'), 'console.error("syntax trouble"); process.exit(2);');
    expect(() => buildIfStale(root, target, () => {})).toThrow(
      /building demo failed[^]*syntax trouble/,
    );
  });

  it('left no part of this tree stale before the tests ran (the global setup built it)', () => {
    for (const target of TARGETS) expect(staleness(ROOT, target), target.name).toBeNull();
    expect(TARGETS.find((t) => t.name === 'server')!.sources).toContain('src');
  });
});
