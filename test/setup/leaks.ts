// What a test file leaves open: sockets, servers, child processes, worker threads, timers that
// keep the process alive. The setup file (./no-leaks.ts) takes a baseline before a file's tests
// and fails the file when more are open after its last afterAll (graphile-worker does the same
// in its afterEach).

/** Counts of open resources by kind, as Node reports them (TCPWrap, Timeout, ProcessWrap, …). */
export type Resources = Map<string, number>;

export function openResources(): Resources {
  const counts: Resources = new Map();
  for (const kind of process.getActiveResourcesInfo())
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** Kinds with more open now than in `baseline`, as "2 × TCPWrap". Unref'd timers are not counted. */
export function leakedSince(baseline: Resources, now: Resources = openResources()): string[] {
  const leaked: string[] = [];
  for (const [kind, count] of now) {
    const extra = count - (baseline.get(kind) ?? 0);
    if (extra > 0) leaked.push(`${extra} × ${kind}`);
  }
  return leaked;
}

/** A line per open handle Node can describe: what it is and, for sockets, where it goes. */
export function describeHandles(): string[] {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.map((h) => {
    const name = (h as object).constructor?.name ?? typeof h;
    const s = h as {
      localPort?: number;
      remoteAddress?: string;
      remotePort?: number;
      address?: () => unknown;
      pid?: number;
      spawnargs?: string[];
    };
    if (s.remoteAddress !== undefined)
      return `${name} ${s.localPort} → ${s.remoteAddress}:${s.remotePort}`;
    if (s.pid !== undefined) return `${name} pid ${s.pid} ${(s.spawnargs ?? []).join(' ')}`;
    if (typeof s.address === 'function') {
      try {
        return `${name} listening on ${JSON.stringify(s.address())}`;
      } catch {
        return name;
      }
    }
    return name;
  });
}

/**
 * Resolves with what is still leaked once it stops changing or `timeoutMs` passed. A socket
 * closed by the test's last await is gone a few turns of the event loop later: each check waits
 * for the loop to turn (a signal), not for a fixed delay.
 */
export async function settledLeaks(baseline: Resources, timeoutMs = 2_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let leaked = leakedSince(baseline);
  while (leaked.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    leaked = leakedSince(baseline);
  }
  return leaked;
}
