// The service's V8 tiering (src/cli/tiering.ts): which flags each V8 gets, that a flag the
// process was started with wins, and, in a child process of this Node (the compiled module,
// rebuilt by the global setup), that a function is picked for optimization after fewer calls.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tieringFlags } from '../../src/cli/tiering.js';
import { ROOT } from '../helpers/process.js';

describe('tieringFlags', () => {
  it('gives each measured V8 its own flags and an unmeasured one none', () => {
    expect(tieringFlags('11.3.244.8-node.33')).toEqual(['--interrupt-budget=8192']);
    expect(tieringFlags('13.6.233.17-node.38')).toEqual([
      '--invocation-count-for-maglev=50',
      '--invocation-count-for-turbofan=400',
    ]);
    expect(tieringFlags('12.4.254.21-node.33')).toEqual([]);
  });

  it('leaves a flag the process was started with alone', () => {
    expect(tieringFlags('11.3.244.8', ['--interrupt-budget=100000'])).toEqual([]);
    expect(tieringFlags('13.6.233.17', ['--invocation_count_for_maglev=10'])).toEqual([
      '--invocation-count-for-turbofan=400',
    ]);
    expect(tieringFlags('11.3.244.8', ['--max-old-space-size=512'])).toEqual([
      '--interrupt-budget=8192',
    ]);
  });
});

describe('tuneTiering', () => {
  /**
   * Calls a small function until V8 marks it for optimization (or optimizes it), in a fresh
   * process: %GetOptimizationStatus's bits for optimized, Maglev, TurboFan, and marked or
   * compiling for either. The count depends on the bytecode run, not on time.
   */
  function callsUntilPicked(tune: boolean): number {
    const module = pathToFileURL(join(ROOT, 'dist', 'src', 'cli', 'tiering.js')).href;
    const script = `
      import { tuneTiering } from ${JSON.stringify(module)};
      if (${tune}) tuneTiering();
      const PICKED = (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 22) | (1 << 23);
      function f(x) { let s = 0; for (let i = 0; i < 3; i++) s += (x * i) % 7; return s; }
      let calls = -1;
      for (let i = 0; i < 20000; i++) {
        f(i);
        if (%GetOptimizationStatus(f) & PICKED) { calls = i + 1; break; }
      }
      process.stdout.write(String(calls));`;
    const out = execFileSync(
      process.execPath,
      ['--allow-natives-syntax', '--input-type=module', '-e', script],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return Number(out);
  }

  it.runIf(tieringFlags(process.versions.v8).length > 0)(
    'has V8 pick a function for optimization after fewer calls than by default',
    () => {
      const byDefault = callsUntilPicked(false);
      const tuned = callsUntilPicked(true);
      expect(byDefault).toBeGreaterThan(0);
      expect(tuned).toBeGreaterThan(0);
      expect(tuned).toBeLessThan(byDefault / 2);
    },
  );
});
