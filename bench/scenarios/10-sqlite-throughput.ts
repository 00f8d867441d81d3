// Throughput on the embedded engine: one endpoint and ten, against the bare-undici ceiling.
import { join } from 'node:path';
import { endToEnd, startService, stopService, type BenchContext, type Row } from '../context.js';

export default async function sqliteThroughput(ctx: BenchContext): Promise<Row[]> {
  const service = await startService(`sqlite:${join(ctx.dir, 'throughput.db')}`);
  try {
    await endToEnd(ctx, service.port, 1, 2_000); // warm-up
    const one = await endToEnd(ctx, service.port, 1, ctx.total);
    const ten = await endToEnd(ctx, service.port, 10, ctx.total);
    return [
      { name: 'SQLite end to end, 1 endpoint', value: one, unit: 'deliveries/s' },
      {
        name: 'ratio to bare undici, 1 endpoint',
        value: one / ctx.ceiling,
        unit: '',
        note: 'goal ≥ 0.5',
      },
      { name: 'SQLite end to end, 10 endpoints', value: ten, unit: 'deliveries/s' },
      {
        name: 'ratio to bare undici, 10 endpoints',
        value: ten / ctx.ceiling,
        unit: '',
        note: 'goal ≥ 0.5',
      },
    ];
  } finally {
    await stopService(service);
  }
}
