// `npm run bench`: figures from this machine, printed as a table and written as JSON to
// bench-results/latest.json. Never asserted in tests. The receiver runs in a process of its
// own; first the ceiling (ceiling.ts, its client in a third process), then the baselines
// (baselines/), then each file in bench/scenarios/ (its default export returns rows), the
// service always a process of its own. BENCH_ONLY=word[,word] runs the scenarios whose file
// name has one of the words; BENCH_BASELINES=none skips the baselines; BENCH_RUNS, BENCH_SHAPES and
// BENCH_DELIVERIES set how often, in which shapes and how much; BENCH_WARMUP how much each
// throughput process delivers before its figures.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runBaselines } from './baselines/index.js';
import { measureCeiling, type Ceiling } from './ceiling.js';
import { DATA, type BenchContext, type Row } from './context.js';
import { RUNS, SHAPES } from './measure.js';
import { describeServer } from './postgres-work.js';
import { ADMIN_URL } from '../test/helpers/postgres.js';
import { startReceiverProcess } from './receiver-process.js';

const BODY = JSON.stringify({
  id: 'evt_00000000000000000000000000',
  event: 'call.ended',
  timestamp: new Date().toISOString(),
  data: DATA,
});

async function main(): Promise<void> {
  const rows: Row[] = [];
  const receiver = await startReceiverProcess();
  const dir = mkdtempSync(join(tmpdir(), 'rizler-bench-'));
  const total = Number(process.env.BENCH_DELIVERIES ?? 20_000);
  const warmup = Number(process.env.BENCH_WARMUP ?? 40_000);
  const scenarioDir = join(dirname(fileURLToPath(import.meta.url)), 'scenarios');
  const only = process.env.BENCH_ONLY?.split(',').filter((w) => w !== '');
  let ceiling: Ceiling | undefined;
  try {
    process.stderr.write('bench: ceiling\n');
    ceiling = await measureCeiling(receiver, BODY, total);
    rows.push(...ceiling.rows);
    const ctx: BenchContext = {
      receiver,
      dir,
      total,
      warmup,
      ceiling: ceiling.ceiling,
      ceilingAgain: ceiling.again,
    };
    const baselines = await runBaselines(ctx);
    rows.push(...baselines.rows);
    ctx.baselines = baselines.medians;
    const files = readdirSync(scenarioDir)
      .filter((f) => f.endsWith('.js') && (!only?.length || only.some((w) => f.includes(w))))
      .sort();
    for (const file of files) {
      const scenario = (await import(pathToFileURL(join(scenarioDir, file)).href)) as {
        default: (ctx: BenchContext) => Promise<Row[]>;
      };
      process.stderr.write(`bench: ${file}\n`);
      rows.push(...(await scenario.default(ctx)));
    }
  } finally {
    ceiling?.close();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const server = await describeServer(ADMIN_URL);
  console.log(`\nRizler Webhooks bench — ${machine}`);
  if (server !== null) console.log(server);
  console.log(
    `${total.toLocaleString('en-US')} deliveries a figure after ${warmup.toLocaleString('en-US')} to warm up, ${SHAPES.join(' and ')}, median of ${RUNS} run${RUNS === 1 ? '' : 's'}\n`,
  );
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    const value = Number.isNaN(r.value)
      ? '—'
      : r.unit === ''
        ? r.value.toFixed(2)
        : Math.round(r.value).toLocaleString('en-US');
    console.log(
      `${r.name.padEnd(width)}  ${value.padStart(10)} ${r.unit}${r.note ? `   (${r.note})` : ''}`,
    );
  }
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    join('bench-results', 'latest.json'),
    JSON.stringify(
      { machine, server, date: new Date().toISOString(), total, runs: RUNS, shapes: SHAPES, rows },
      null,
      2,
    ) + '\n',
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
