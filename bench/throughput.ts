// The service's throughput figures, measured the way the ceiling and the baselines are:
// BENCH_RUNS times in each shape (the shapes interleaved within each run), printed as the
// median with its spread and each process's CPU, followed by its ratio to the ceiling and to
// each baseline of the same shape in this run. Each run also measures the ceiling again, every
// connection count, just before the shapes (the best median of those is the ceiling beside the
// figure). The ratio printed as the value is to the higher of that and the ceiling of the start,
// so that a slow moment of the machine at either never flatters it; the note gives both.
import type { BenchContext, IngestPhase, Row, Shape } from './context.js';
import { CpuMeter, describeSpread, RUNS, SHAPES, spread, type Counted } from './measure.js';
import { PostgresWork } from './postgres-work.js';

export interface ThroughputFigure {
  /** "SQLite end to end, 1 endpoint" */
  label: string;
  /** One measurement in deliveries/s; `ingest` hears when its batches were all accepted. */
  measure: (shape: Shape, ingest: (phase: IngestPhase) => void) => Promise<number>;
  /** The service's processes; the receiver and the bench (the publisher) are added. */
  counted: Counted[];
  /** Printed with the ratio to the ceiling, e.g. 'goal ≥ 0.5'. */
  goal?: string;
  /** Run before each run of this figure's shapes (figures measured in turn: throughputInTurn). */
  before?: () => Promise<void>;
  /** The PostgreSQL database the service uses: what it wrote is counted (PostgresWork). */
  postgresUrl?: string;
}

const ratio = (ours: number, theirs: number | undefined) =>
  theirs === undefined || !Number.isFinite(theirs) ? null : (ours / theirs).toFixed(2);

export function throughputRows(ctx: BenchContext, figure: ThroughputFigure): Promise<Row[]> {
  return throughputInTurn(ctx, [figure]);
}

/**
 * Several figures measured in turn within each run (each run: the ceiling again, then every
 * figure's `before` and shapes), so that what the machine and the database go through over
 * the runs (a warming process, a growing history) falls on each of them alike.
 */
export async function throughputInTurn(
  ctx: BenchContext,
  figures: ThroughputFigure[],
): Promise<Row[]> {
  const meters = figures.map((figure) => {
    const counted: Counted[] = [
      ...figure.counted,
      { name: 'receiver', pids: ctx.receiver.pid ? [ctx.receiver.pid] : [] },
      { name: 'bench (publisher)', pids: 'self' },
    ];
    return SHAPES.map(() => new CpuMeter(counted));
  });
  const work = figures.map((figure) =>
    SHAPES.map(() => (figure.postgresUrl ? new PostgresWork(figure.postgresUrl) : null)),
  );
  const rates: number[][][] = figures.map(() => SHAPES.map(() => []));
  const phases: IngestPhase[][][] = figures.map(() => SHAPES.map(() => []));
  /** The ceiling measured again in each run, by connection count. */
  const ceilings: number[][] = [];
  for (let r = 0; r < RUNS; r++) {
    if (ctx.ceilingAgain) {
      for (const [c, rate] of (await ctx.ceilingAgain()).entries()) (ceilings[c] ??= []).push(rate);
    }
    for (const [f, figure] of figures.entries()) {
      await figure.before?.();
      for (const [i, shape] of SHAPES.entries()) {
        await work[f]![i]?.start();
        meters[f]![i]!.start();
        rates[f]![i]!.push(await figure.measure(shape, (p) => phases[f]![i]!.push(p)));
        meters[f]![i]!.stop(ctx.total);
        await work[f]![i]?.stop(ctx.total);
      }
    }
  }
  const beside = ceilings.length > 0 ? Math.max(...ceilings.map((r) => spread(r).median)) : NaN;
  const ceiling = Number.isNaN(beside) ? ctx.ceiling : Math.max(ctx.ceiling, beside);
  return figures.flatMap((figure, f) =>
    figureRows(ctx, figure, rates[f]!, meters[f]!, work[f]!, phases[f]!, ceiling, beside),
  );
}

/**
 * The runs' ingest (IngestPhase), medians: "the batches accepted by 640 ms (34 % of the run),
 * 1,161 delivered by then".
 */
function describeIngest(phases: IngestPhase[], rates: number[], delivered: number): string {
  if (phases.length === 0 || phases.length !== rates.length) return '';
  const accepted = spread(phases.map((p) => p.acceptedMs)).median;
  const by = spread(phases.map((p) => p.deliveredBy)).median;
  // Each run's own share, from its own rate (the same order), then their median.
  const share = Math.round(
    spread(phases.map((p, r) => (p.acceptedMs * rates[r]!) / (delivered * 10))).median,
  );
  return `the batches accepted by ${Math.round(accepted).toLocaleString('en-US')} ms (${share} % of the run), ${Math.round(by).toLocaleString('en-US')} delivered by then`;
}

function figureRows(
  ctx: BenchContext,
  figure: ThroughputFigure,
  rates: number[][],
  meters: CpuMeter[],
  work: (PostgresWork | null)[],
  phases: IngestPhase[][],
  ceiling: number,
  beside: number,
): Row[] {
  const reqs = (n: number) => `${Math.round(n).toLocaleString('en-US')} req/s`;
  return SHAPES.flatMap((shape, i): Row[] => {
    const s = spread(rates[i]!);
    const versus = [
      ['BullMQ', ratio(s.median, ctx.baselines?.bullmq?.[shape])],
      ['pg-boss', ratio(s.median, ctx.baselines?.['pg-boss']?.[shape])],
    ]
      .filter(([, r]) => r !== null)
      .map(([name, r]) => `${r}× ${name}`);
    const written = work[i]?.perDelivery() ?? undefined;
    return [
      {
        name: `${figure.label}, ${shape}`,
        value: s.median,
        unit: 'deliveries/s',
        note: [
          describeSpread(s),
          meters[i]!.share(),
          work[i]?.describe(),
          describeIngest(phases[i]!, s.runs, ctx.total),
        ]
          .filter(Boolean)
          .join('; '),
        runs: s.runs,
        cpu: meters[i]!.shares(),
        cpuUs: meters[i]!.perUnit(),
        ...(written ? { postgresWork: written } : {}),
      },
      {
        name: `ratio to the ceiling, ${figure.label}, ${shape}`,
        value: s.median / ceiling,
        unit: '',
        note: [
          figure.goal,
          Number.isNaN(beside)
            ? ''
            : `of ${reqs(ceiling)}, the higher of the ceiling at the start (${reqs(ctx.ceiling)}, ${(s.median / ctx.ceiling).toFixed(2)}) and beside these runs (${reqs(beside)}, ${(s.median / beside).toFixed(2)})`,
          versus.length ? `against the baselines: ${versus.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; '),
      },
    ];
  });
}
