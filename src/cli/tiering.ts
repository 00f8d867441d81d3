// How soon V8 optimizes the service's code. A service at a platform's usual rate (a few
// hundred events a second) runs each function of its hot path a few hundred times a second,
// and with V8's defaults much of that path stayed in its interpreted and baseline tiers: at
// 200 events/s the service spent about 1.1 ms of the main thread's user time an event (against
// about 60 µs a delivery under load), 43 % of its samples in the node binary (V8's builtins,
// inline caches and runtime) against 19 % in generated code (perf). Optimizing sooner took the
// latency row's p99 on SQLite from 5.8-7.8 ms to 4.1-6.4 ms (nine runs each, in pairs; Node 20)
// and left the throughput rows' CPU a delivery where it was (docs/benchmark-history.md,
// session 49).
import { setFlagsFromString } from 'node:v8';

/** The flags measured for each V8 major version (tieringFlags). */
const FLAGS_BY_V8_MAJOR = new Map<number, readonly string[]>([
  [11, ['--interrupt-budget=8192']],
  [13, ['--invocation-count-for-maglev=50', '--invocation-count-for-turbofan=400']],
]);

/**
 * The flags for V8 `version` (process.versions.v8), by how its tiering counts: V8 11 (Node 20)
 * by a budget of bytecode run (default 67,584), V8 13 (Node 24) by invocations before Maglev
 * (400) and TurboFan (3,000). None for a V8 whose flags were not measured: an unknown flag is
 * an error line on stderr. A flag the process was started with (`execArgv`, e.g. `node
 * --interrupt-budget=… bin/rizler-webhooks.js serve`) wins over ours.
 */
export function tieringFlags(version: string, execArgv: readonly string[] = []): string[] {
  const flags = FLAGS_BY_V8_MAJOR.get(Number(version.split('.')[0])) ?? [];
  const given = new Set(execArgv.map((arg) => arg.split('=')[0]!.replaceAll('_', '-')));
  return flags.filter((flag) => !given.has(flag.split('=')[0]!));
}

/**
 * Sets this process's tieringFlags, before the service starts: V8 reads them as each function
 * gets its first budget, so code that ran before still tiers by the defaults the first time.
 * Returns the flags set.
 */
export function tuneTiering(): string[] {
  const flags = tieringFlags(process.versions.v8, process.execArgv);
  for (const flag of flags) setFlagsFromString(flag);
  return flags;
}
