// The ceiling: how fast a bare undici loop, in a process of its own, can post the service's
// body and headers to the receiver (in a third process). It spends nothing on storage, signing
// or bookkeeping; the headers are the ones a delivery carries, signed once up front. Measured
// with 16, 64 and 128 connections (BENCH_CEILING_CONNECTIONS), each BENCH_RUNS times, the
// counts interleaved within each run so a change in the machine's load touches them alike;
// the ceiling is the best median. The loop stays up for the rest of the bench, so that each
// throughput figure can measure it again, every count, in turn with its own runs
// (Ceiling.again): this machine's speed drifts over minutes by more than a step of the service.
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rizlerSignature, standardSignatureHeader } from '../src/core/signing.js';
import { USER_AGENT } from '../src/version.js';
import type { CeilingRequest } from './ceiling-child.js';
import type { Row } from './context.js';
import { CpuMeter, describeSpread, RUNS, spread } from './measure.js';
import type { CountingReceiver } from './receiver.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'ceiling-child.js');
const CONNECTIONS = (process.env.BENCH_CEILING_CONNECTIONS ?? '16,64,128')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);

/** The headers the worker sends with a delivery of `body` (sender.ts signedHeaders). */
export function deliveryHeaders(body: string): Record<string, string> {
  const secret = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
  const at = Math.floor(Date.now() / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'x-rizler-event': 'call.ended',
    'x-rizler-delivery': 'dlv_00000000000000000000000000',
    'x-rizler-attempt': '1',
    'x-rizler-signature': rizlerSignature(body, secret),
    'webhook-id': 'evt_00000000000000000000000000',
    'webhook-timestamp': String(at),
    'webhook-signature': standardSignatureHeader('evt_00000000000000000000000000', at, body, [
      secret,
    ]),
  };
}

export interface Ceiling {
  /** The best median of the connection counts (req/s). */
  ceiling: number;
  rows: Row[];
  /** One more run of `total` requests at each connection count, now (req/s, in count order). */
  again(): Promise<number[]>;
  /** Ends the loop's process. */
  close(): void;
}

export async function measureCeiling(
  receiver: CountingReceiver,
  body: string,
  total: number,
): Promise<Ceiling> {
  const child = fork(CHILD, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const replies: ((m: { rate?: number }) => void)[] = [];
  child.on('message', (m: { rate?: number }) => replies.shift()?.(m));
  const next = () => new Promise<{ rate?: number }>((resolve) => replies.push(resolve));
  const headers = deliveryHeaders(body);
  const run = async (connections: number, n: number): Promise<number> => {
    const answer = next();
    child.send({ url: receiver.url, body, headers, total: n, connections } as CeilingRequest);
    return (await answer).rate!;
  };
  const close = () => {
    if (child.connected) child.disconnect();
  };
  try {
    await next(); // ready
    await run(64, 2_000); // warms the receiver, the client and their connections
    const meters = CONNECTIONS.map(
      () =>
        new CpuMeter([
          { name: 'client', pids: child.pid ? [child.pid] : [] },
          { name: 'receiver', pids: receiver.pid ? [receiver.pid] : [] },
        ]),
    );
    const rates: number[][] = CONNECTIONS.map(() => []);
    for (let r = 0; r < RUNS; r++) {
      for (const [i, connections] of CONNECTIONS.entries()) {
        meters[i]!.start();
        rates[i]!.push(await run(connections, total));
        meters[i]!.stop(total);
      }
    }
    const spreads = rates.map(spread);
    const best = Math.max(...spreads.map((s) => s.median));
    const rows: Row[] = CONNECTIONS.map((connections, i) => ({
      name: `ceiling: bare undici loop, ${connections} connections`,
      value: spreads[i]!.median,
      unit: 'req/s',
      note: `${describeSpread(spreads[i]!)}; ${meters[i]!.share()}${spreads[i]!.median === best ? '; the ceiling' : ''}`,
      runs: spreads[i]!.runs,
      cpu: meters[i]!.shares(),
      cpuUs: meters[i]!.perUnit(),
    }));
    const again = async () => {
      const rates: number[] = [];
      for (const connections of CONNECTIONS) rates.push(await run(connections, total));
      return rates;
    };
    return { ceiling: best, rows, again, close };
  } catch (err) {
    close();
    throw err;
  }
}
