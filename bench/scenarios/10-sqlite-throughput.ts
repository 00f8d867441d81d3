// Throughput on the embedded engine: `serve` on SQLite as a process of its own, one endpoint
// and ten, burst and streaming, against the ceiling and the baselines of the same run.
import { join } from 'node:path';
import { endToEnd, startService, stopService, type BenchContext, type Row } from '../context.js';
import { throughputRows } from '../throughput.js';

export default async function sqliteThroughput(ctx: BenchContext): Promise<Row[]> {
  const service = await startService(`sqlite:${join(ctx.dir, 'throughput.db')}`);
  const pids = service.child.pid ? [service.child.pid] : [];
  const counted = [
    { name: 'service', pids },
    { name: 'its main thread', pids, mainThread: true },
  ];
  try {
    await endToEnd(ctx, service.port, 1, ctx.warmup); // warm-up
    const rows: Row[] = [];
    for (const endpoints of [1, 10]) {
      rows.push(
        ...(await throughputRows(ctx, {
          label: `SQLite end to end, ${endpoints} endpoint${endpoints === 1 ? '' : 's'}`,
          measure: (shape, ingest) =>
            endToEnd(ctx, service.port, endpoints, ctx.total, shape, ingest),
          counted,
          goal: 'goal ≥ 0.5, and ≥ 2.5× BullMQ',
        })),
      );
    }
    return rows;
  } finally {
    await stopService(service);
  }
}
