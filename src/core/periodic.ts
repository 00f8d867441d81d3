// A background job's loop: run, wait `intervalMs` after the run ends (never overlapping
// itself), run again, until stopped; stop() waits for a run in progress. A failed run is
// reported and the loop goes on.
export class PeriodicJob {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopping = false;

  constructor(
    private readonly run: () => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Whether stop() was called: a run's batch loop checks it between batches. */
  get stopped(): boolean {
    return this.stopping;
  }

  /** `unref`: the job's timer alone does not keep the process alive. */
  start(intervalMs: number, { unref = false }: { unref?: boolean } = {}): void {
    const schedule = () => {
      this.timer = setTimeout(tick, intervalMs);
      if (unref) this.timer.unref();
    };
    const tick = () => {
      this.running = this.run()
        .then(() => undefined)
        .catch(this.onError)
        .finally(() => {
          this.running = null;
          if (!this.stopping) schedule();
        });
    };
    schedule();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
