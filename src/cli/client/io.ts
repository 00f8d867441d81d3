// Where the client commands write, and how a long-running one learns it should stop.

export interface Io {
  /** A line of results: what `--json` turns into one JSON object per line. */
  out(line: string): void;
  /** A line for the person watching: readiness, warnings, reconnects. */
  err(line: string): void;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** Aborts on the first Ctrl-C or SIGTERM, so `tail` and `listen` can close their streams. */
export function untilInterrupted(): AbortSignal {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return controller.signal;
}
