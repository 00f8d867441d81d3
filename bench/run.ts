// `npm run bench`: figures from this machine, printed as a table and written as JSON to
// bench-results/latest.json. Never asserted in tests. Each file in bench/scenarios/ is one
// scenario (its default export returns rows); BENCH_ONLY=word runs the ones whose name has it.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bareUndiciRate } from './bare-undici.js';
import { DATA, type BenchContext, type Row } from './context.js';
import { startCountingReceiver } from './receiver.js';

const BODY = JSON.stringify({
  id: 'evt_bench',
  event: 'call.ended',
  timestamp: new Date().toISOString(),
  data: DATA,
});

async function main(): Promise<void> {
  const rows: Row[] = [];
  const receiver = await startCountingReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'rizler-bench-'));
  const total = Number(process.env.BENCH_DELIVERIES ?? 20_000);
  const scenarioDir = join(dirname(fileURLToPath(import.meta.url)), 'scenarios');
  const only = process.env.BENCH_ONLY;
  try {
    // Warm the receiver and the JIT, then measure the ceiling.
    await bareUndiciRate(receiver.url, BODY, 2_000, 64);
    const ceiling = await bareUndiciRate(receiver.url, BODY, total, 64);
    rows.push({ name: 'bare undici loop (64 in flight)', value: ceiling, unit: 'req/s' });
    const ctx: BenchContext = { receiver, dir, total, ceiling };
    const files = readdirSync(scenarioDir)
      .filter((f) => f.endsWith('.js') && (!only || f.includes(only)))
      .sort();
    for (const file of files) {
      const scenario = (await import(pathToFileURL(join(scenarioDir, file)).href)) as {
        default: (ctx: BenchContext) => Promise<Row[]>;
      };
      process.stderr.write(`bench: ${file}\n`);
      rows.push(...(await scenario.default(ctx)));
    }
  } finally {
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  console.log(`\nRizler Webhooks bench — ${machine}\n`);
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    const value = r.unit === '' ? r.value.toFixed(2) : Math.round(r.value).toLocaleString('en-US');
    console.log(
      `${r.name.padEnd(width)}  ${value.padStart(10)} ${r.unit}${r.note ? `   (${r.note})` : ''}`,
    );
  }
  mkdirSync('bench-results', { recursive: true });
  writeFileSync(
    join('bench-results', 'latest.json'),
    JSON.stringify({ machine, date: new Date().toISOString(), total, rows }, null, 2) + '\n',
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
