// The event bodies a worker holds for its attempts in flight: one per event, however many of
// its deliveries (one per endpoint) are in flight, counted in bytes for
// RIZLER_MAX_BYTES_IN_FLIGHT. Each delivery takes a reference when it is claimed and gives it
// back when its attempt is done; the last one lets the body go.
//
// A large body is read when it is sent rather than in the claim (readPayloads) and kept as
// UTF-8 bytes in one SharedArrayBuffer, the arena, sized to the budget: the sending thread
// signs and sends those very bytes, so neither a second thread nor a second endpoint costs a
// copy, and a body's pages are reused as soon as its last attempt is done. A SharedArrayBuffer
// per body was not enough: V8 does not count its memory towards collecting garbage, so the
// bodies of every attempt already finished stayed resident until a full collection (worker
// alone, 1,000 bodies of 245 KiB to five endpoints: 402 MiB anonymous memory at the peak, with
// 31 MiB of bodies in flight). Measured with bench/scenarios/80-memory.ts: a string per
// delivery, cloned again into the sending thread and encoded again by each send, peaked at
// 958 MB resident.

/** A body as the sender takes it: a small one as the claim's string, a large one as shared bytes. */
export type Body = string | Uint8Array;

interface Entry {
  /** UTF-8 bytes, as the claim reported them: what the budget counts. */
  bytes: number;
  refs: number;
  /** The body, or its read under way; null until someone reads it. */
  body: Body | Promise<Body> | null;
  /** Its pages in the arena, given back with the last reference. */
  region?: Region;
}

interface Region {
  start: number;
  pages: number;
}

/**
 * Shared memory for bodies in pages of 1 KiB, first fit, freed runs merged with their
 * neighbours. The memory is reserved at once but a page is resident only once written, and
 * first fit keeps reusing the lowest pages, so what is resident follows the peak of bodies in
 * flight, not the arena's size.
 */
export class BodyArena {
  static readonly PAGE = 1024;
  private memory: SharedArrayBuffer | null = null;
  /** Free runs of pages, by start. */
  private readonly free: Region[];
  readonly pages: number;

  constructor(bytes: number) {
    this.pages = Math.max(1, Math.ceil(bytes / BodyArena.PAGE));
    this.free = [{ start: 0, pages: this.pages }];
  }

  /** Pages in use. */
  get used(): number {
    return this.pages - this.free.reduce((n, r) => n + r.pages, 0);
  }

  /** A view of `bytes` bytes in the arena, or null when no free run is long enough. */
  alloc(bytes: number): { view: Buffer; region: Region } | null {
    const need = Math.max(1, Math.ceil(bytes / BodyArena.PAGE));
    const i = this.free.findIndex((r) => r.pages >= need);
    if (i < 0) return null;
    const run = this.free[i]!;
    const region = { start: run.start, pages: need };
    run.start += need;
    run.pages -= need;
    if (run.pages === 0) this.free.splice(i, 1);
    this.memory ??= new SharedArrayBuffer(this.pages * BodyArena.PAGE);
    return { view: Buffer.from(this.memory, region.start * BodyArena.PAGE, bytes), region };
  }

  release(region: Region): void {
    let i = 0;
    while (i < this.free.length && this.free[i]!.start < region.start) i++;
    const run = { ...region };
    const after = this.free[i];
    if (after && run.start + run.pages === after.start) {
      run.pages += after.pages;
      this.free.splice(i, 1);
    }
    const before = this.free[i - 1];
    if (before && before.start + before.pages === run.start) before.pages += run.pages;
    else this.free.splice(i, 0, run);
  }
}

export class PayloadCache {
  private readonly entries = new Map<string, Entry>();
  private held = 0;

  /**
   * `arena`: where large bodies go (a body that finds no room there gets shared memory of its
   * own); `changed` hears the bytes held after every change (the metric).
   */
  constructor(
    private readonly arena: BodyArena | null,
    private readonly changed?: (bytes: number) => void,
  ) {}

  /** Bytes of the bodies held, each once. */
  get bytes(): number {
    return this.held;
  }

  /** Events whose body is held. */
  get events(): number {
    return this.entries.size;
  }

  /** References to the event's body: its deliveries in flight in this worker. */
  refs(eventId: string): number {
    return this.entries.get(eventId)?.refs ?? 0;
  }

  /**
   * Takes a reference for one delivery of the event. The first one brings the size and, when
   * the claim carried it, the body; a later one's copy of the body is not kept.
   */
  retain(eventId: string, bytes: number, body: string | null): void {
    const entry = this.entries.get(eventId);
    if (entry) {
      entry.refs++;
      if (entry.body === null && body !== null) entry.body = body;
      return;
    }
    this.entries.set(eventId, { bytes, refs: 1, body });
    this.held += bytes;
    this.changed?.(this.held);
  }

  /** Whether the event's body is held, or being read; false: somebody must read it. */
  has(eventId: string): boolean {
    return (this.entries.get(eventId)?.body ?? null) !== null;
  }

  /**
   * Sets the body of an event someone holds a reference to, from its read under way: its UTF-8
   * bytes in shared memory, which the sending thread receives without a copy.
   */
  fill(eventId: string, text: Promise<string>): void {
    const entry = this.entries.get(eventId);
    if (!entry) return;
    const body = text.then((t) => this.place(entry, t));
    entry.body = body;
    // A failed read is forgotten, so the next attempt reads again.
    body.catch(() => {
      if (entry.body === body) entry.body = null;
    });
  }

  private place(entry: Entry, text: string): Uint8Array {
    const bytes = Buffer.byteLength(text);
    // Released meanwhile (its attempts failed): nothing to keep.
    const placed = entry.refs > 0 ? this.arena?.alloc(bytes) : null;
    if (placed) entry.region = placed.region;
    const view = placed?.view ?? Buffer.from(new SharedArrayBuffer(bytes));
    view.write(text, 'utf8');
    return view;
  }

  /** The body, once it is held; null when nobody has read it. */
  body(eventId: string): Body | Promise<Body> | null {
    return this.entries.get(eventId)?.body ?? null;
  }

  /** Gives back one delivery's reference; the last one lets the body go. */
  release(eventId: string): void {
    const entry = this.entries.get(eventId);
    if (!entry) return;
    if (--entry.refs > 0) return;
    this.entries.delete(eventId);
    if (entry.region) this.arena?.release(entry.region);
    this.held -= entry.bytes;
    this.changed?.(this.held);
  }
}
