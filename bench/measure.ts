// Repetition and CPU accounting for the bench's figures. Every throughput figure is measured
// BENCH_RUNS times (default 3) and printed as its median with the min and max beside it, and
// with the share of a core each process used while it ran, so a disturbed run shows itself.
import { readdirSync, readFileSync } from 'node:fs';
import { cpuSeconds, type Shape } from './context.js';

/** How many times each figure is measured (BENCH_RUNS, at least 1). */
export const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));

/** The publishing shapes measured (BENCH_SHAPES, default both): see Shape in context.ts. */
export const SHAPES: Shape[] = (process.env.BENCH_SHAPES ?? 'burst,streaming')
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is Shape => s === 'burst' || s === 'streaming');

export interface Spread {
  min: number;
  median: number;
  max: number;
  runs: number[];
}

export function spread(runs: number[]): Spread {
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length === 0
      ? NaN
      : sorted.length % 2
        ? sorted[mid]!
        : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { min: sorted[0] ?? NaN, median, max: sorted.at(-1) ?? NaN, runs };
}

/** A process whose CPU is counted: a pid, or several (PostgreSQL's backends), or this one. */
export interface Counted {
  name: string;
  /** The pids to sum; 'self' for the bench's own process; a function for a set that changes. */
  pids: number[] | 'self' | (() => number[]);
  /**
   * Only each process's main thread: the service's storage work runs there, beside its sending
   * thread, V8's helpers and the checkpointer. Builds compared in turn on a machine whose speed
   * drifts are told apart by its share of the whole more surely than by rates.
   */
  mainThread?: boolean;
}

/** The pids of every process whose command name is `comm` (redis-server, postgres). */
export function pidsNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc', { withFileTypes: true })) {
    if (!entry.isDirectory() || !/^\d+$/.test(entry.name)) continue;
    try {
      if (readFileSync(`/proc/${entry.name}/comm`, 'utf8').trim() === comm)
        pids.push(Number(entry.name));
    } catch {
      // gone between the listing and the read
    }
  }
  return pids;
}

function readCpu(c: Counted): Map<number | 'self', number> {
  const out = new Map<number | 'self', number>();
  if (c.pids === 'self') {
    const u = process.cpuUsage();
    out.set('self', (u.user + u.system) / 1e6);
    return out;
  }
  for (const pid of typeof c.pids === 'function' ? c.pids() : c.pids) {
    const s = cpuSeconds(pid, c.mainThread ? pid : undefined);
    if (s !== null) out.set(pid, s);
  }
  return out;
}

/**
 * CPU used by each counted process over the measurements between start() and each stop(),
 * summed over runs; share() gives each as a percentage of one core over the summed wall time.
 * A process that starts during a run (a PostgreSQL backend) counts from its first sample.
 */
export class CpuMeter {
  private readonly used = new Map<string, number>();
  private wall = 0;
  /** Deliveries (or requests) done while measured. */
  private units = 0;
  private before: { at: number; cpu: Map<number | 'self', number>[] } | null = null;

  constructor(private readonly counted: Counted[]) {}

  start(): void {
    this.before = { at: performance.now(), cpu: this.counted.map(readCpu) };
  }

  /** `units`: the deliveries (or requests) done since start(). */
  stop(units = 0): void {
    const before = this.before;
    if (!before) return;
    this.before = null;
    this.wall += (performance.now() - before.at) / 1000;
    this.units += units;
    this.counted.forEach((c, i) => {
      let seconds = 0;
      for (const [pid, now] of readCpu(c)) seconds += now - (before.cpu[i]!.get(pid) ?? now);
      this.used.set(c.name, (this.used.get(c.name) ?? 0) + seconds);
    });
  }

  /** Each process's share of one core, in %. */
  shares(): Record<string, number> {
    return this.each(100, this.wall);
  }

  /**
   * Each process's CPU time per delivery (or request), in µs: steadier than rates on a busy
   * machine, so that builds run one after the other can be told apart.
   */
  perUnit(): Record<string, number> {
    return this.each(1e6, this.units);
  }

  /** Each process's CPU seconds × `scale` / `over`, rounded; nothing when `over` is 0. */
  private each(scale: number, over: number): Record<string, number> {
    const out: Record<string, number> = {};
    if (over === 0) return out;
    for (const c of this.counted)
      out[c.name] = Math.round((scale * (this.used.get(c.name) ?? 0)) / over);
    return out;
  }

  /**
   * "CPU of one core: service 152 %, receiver 48 %, …; CPU µs each: service 183, …", or ''
   * when nothing was measured.
   */
  share(): string {
    const parts = Object.entries(this.shares()).map(([name, pct]) => `${name} ${pct} %`);
    if (parts.length === 0) return '';
    const each = Object.entries(this.perUnit()).map(([name, us]) => `${name} ${us}`);
    return `CPU of one core: ${parts.join(', ')}${each.length ? `; CPU µs each: ${each.join(', ')}` : ''}`;
  }
}

/**
 * The machine's CPU time so far, in ticks: `busy` (user, nice, system, interrupts, steal) and
 * `total` (with idle and I/O wait), from the first line of /proc/stat; null off Linux.
 */
export function machineTicks(): { busy: number; total: number } | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.slice(1, 9).map(Number);
    const busy = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
    return { busy, total: busy + idle! + iowait! };
  } catch {
    return null;
  }
}

/**
 * A process's main thread's time on a core and its time runnable but waiting for one, in
 * seconds so far, from /proc/PID/task/PID/schedstat; null off Linux or without schedstats. The
 * wait is what a busy machine adds to a request beyond its cost.
 */
export function schedSeconds(pid: number): { run: number; wait: number } | null {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8')
      .trim()
      .split(' ')
      .map(Number);
    return { run: run! / 1e9, wait: wait! / 1e9 };
  } catch {
    return null;
  }
}

/** "min 5,123 / max 6,010 over 3 runs" for a rate; `f` writes each value (ms: "6.4"). */
export function describeSpread(
  s: Spread,
  f = (v: number) => Math.round(v).toLocaleString('en-US'),
): string {
  return `min ${f(s.min)} / max ${f(s.max)} over ${s.runs.length} run${s.runs.length === 1 ? '' : 's'}`;
}
