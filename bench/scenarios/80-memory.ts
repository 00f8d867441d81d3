// Memory under large payloads (issue 18): 1,000 `transcript.ready` events of about 245 KiB
// (long transcripts) to five endpoints that answer in 300 ms, on `serve` with SQLite and the
// default settings. The receiver is a process of its own that checks every body: its
// signature under the endpoint's secret, and that the transcript hashes to the `sha256` it was
// published with. Rows: the service's peak resident memory (VmHWM, and the largest VmRSS
// sampled every 50 ms, split into anonymous memory and mapped files, i.e. SQLite's mmap), its
// resident memory before publishing, and the deliveries that arrived intact. Goal: the peak
// stays under 512 MB, so a 1 GiB container is safe.
// BENCH_MEMORY_EVENTS sets the number of events (default 1,000).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { ADMIN, call, startService, stopService, type BenchContext, type Row } from '../context.js';
import { startReceiverProcess } from '../receiver-process.js';

const EVENTS = Number(process.env.BENCH_MEMORY_EVENTS ?? 1000);
const ENDPOINTS = 5;
const TEXT_BYTES = 245 * 1024;
/** Events per publish: 8 of 245 KiB stay under the 4 MiB batch body limit. */
const PER_BATCH = 8;
/** Publishes in flight at once. */
const LANES = 2;
const SECRET = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
const MB = 1_000_000;

/** A /proc/PID/status field in bytes; null off Linux or once the process is gone. */
function memory(pid: number | undefined, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile') {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
    return kib === undefined ? null : Number(kib) * 1024;
  } catch {
    return null;
  }
}

/** A transcript of about TEXT_BYTES of ASCII words, different for every event. */
function transcript(seed: number): string {
  const words = ['invoice', 'charge', 'January', 'refund', 'account', 'Sam', 'thanks', 'call'];
  const parts: string[] = [];
  let size = 0;
  let x = seed * 2654435761;
  while (size < TEXT_BYTES) {
    x = (x * 1103515245 + 12345) >>> 0;
    const word = `${words[x % words.length]}${x % 997}`;
    parts.push(word);
    size += word.length + 1;
  }
  return parts.join(' ').slice(0, TEXT_BYTES);
}

function event(i: number) {
  const text = transcript(i);
  return {
    event: 'transcript.ready',
    data: {
      transcript_id: `trn_${i}`,
      call_id: `call_${i}`,
      language: 'en-US',
      text,
      sha256: createHash('sha256').update(text).digest('hex'),
    },
  };
}

export default async function memoryScenario(ctx: BenchContext): Promise<Row[]> {
  const receiver = await startReceiverProcess({ delayMs: 300, verifySecret: SECRET });
  const service = await startService(`sqlite:${join(ctx.dir, 'memory.db')}`);
  const pid = service.child.pid;
  const peaks = { VmRSS: 0, RssAnon: 0, RssFile: 0 };
  const sample = () => {
    for (const field of ['VmRSS', 'RssAnon', 'RssFile'] as const)
      peaks[field] = Math.max(peaks[field], memory(pid, field) ?? 0);
  };
  let sampler: NodeJS.Timeout | undefined;
  try {
    const { port } = service;
    const { api_key: key } = await call<{ api_key: string }>(port, ADMIN, '/v1/accounts', {
      name: 'bench-memory',
    });
    for (let i = 0; i < ENDPOINTS; i++) {
      await call(port, key, '/v1/webhooks', {
        url: `${receiver.url}?e=${i}`,
        events: ['transcript.ready'],
        secret: SECRET,
      });
    }
    const idle = memory(pid, 'VmRSS');
    const total = EVENTS * ENDPOINTS;
    await receiver.reset();
    sampler = setInterval(sample, 50);
    const started = performance.now();
    let next = 0;
    const lane = async () => {
      while (next < EVENTS) {
        const from = next;
        next = Math.min(EVENTS, next + PER_BATCH);
        const events = [];
        for (let i = from; i < next; i++) events.push(event(i));
        await call(port, key, '/v1/events/batch', { events });
      }
    };
    await Promise.all(Array.from({ length: LANES }, lane));
    const published = performance.now();
    await receiver.waitFor(total);
    for (;;) {
      const pending = await call<{ data: unknown[] }>(
        port,
        key,
        '/v1/deliveries?status=pending&limit=1',
      );
      if (pending.data.length === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    sampler = undefined;
    sample();
    // The receiver reports its counts every 10 ms: let the last report arrive.
    await new Promise((r) => setTimeout(r, 50));
    const hwm = memory(pid, 'VmHWM');
    const mb = (bytes: number | null) => (bytes === null ? '?' : (bytes / MB).toFixed(0));
    const size = `${EVENTS.toLocaleString('en-US')} events of ${TEXT_BYTES / 1024} KiB to ${ENDPOINTS} endpoints answering in 300 ms`;
    return [
      {
        name: `memory: service peak resident, ${size}`,
        value: (hwm ?? NaN) / MB,
        unit: 'MB',
        note: `VmHWM; sampled peaks: VmRSS ${mb(peaks.VmRSS)} MB, of which anonymous ${mb(peaks.RssAnon)} and mapped files ${mb(peaks.RssFile)} MB; ${mb(idle)} MB before publishing; load average ${loadavg()[0]!.toFixed(1)}; goal < 512 MB`,
      },
      {
        name: `memory: deliveries arrived intact, ${size}`,
        value: receiver.count - (receiver.rejected ?? 0),
        unit: `of ${total.toLocaleString('en-US')}`,
        note: `${receiver.rejected ?? 0} failed the signature or content check; ${receiver.count} requests in ${seconds.toFixed(1)} s (publishing took ${((published - started) / 1000).toFixed(1)} s)`,
      },
    ];
  } finally {
    if (sampler) clearInterval(sampler);
    await stopService(service);
    await receiver.close();
  }
}
