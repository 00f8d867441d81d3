// The bodies a worker holds for its attempts in flight (src/worker/payload-cache.ts): one per
// event however many deliveries share it, counted in bytes, let go with the last reference,
// and placed in the shared arena whose pages are reused.
import { describe, expect, it } from 'vitest';
import { BodyArena, PayloadCache } from '../../src/worker/payload-cache.js';

describe('the payload cache', () => {
  it('holds one body per event however many deliveries take it, until the last lets go', async () => {
    const changes: number[] = [];
    const cache = new PayloadCache(new BodyArena(1024 * 1024), (bytes) => changes.push(bytes));
    const text = JSON.stringify({ id: 'evt_1', data: { text: 'é🎧'.repeat(5000) } });
    const bytes = Buffer.byteLength(text);
    for (let i = 0; i < 5; i++) cache.retain('evt_1', bytes, null);
    expect(cache.refs('evt_1')).toBe(5);
    expect(cache.events).toBe(1);
    expect(cache.bytes).toBe(bytes);
    expect(cache.has('evt_1')).toBe(false);

    cache.fill('evt_1', Promise.resolve(text));
    const bodies = await Promise.all(Array.from({ length: 5 }, () => cache.body('evt_1')));
    // The very same bytes for every delivery, in shared memory, identical to the text.
    for (const body of bodies) expect(body).toBe(bodies[0]);
    const body = bodies[0] as Uint8Array;
    expect(body.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Buffer.from(body).toString('utf8')).toBe(text);

    for (let i = 0; i < 4; i++) cache.release('evt_1');
    expect(cache.bytes).toBe(bytes);
    cache.release('evt_1');
    expect(cache.bytes).toBe(0);
    expect(cache.events).toBe(0);
    expect(changes).toEqual([bytes, 0]);
  });

  it('keeps the first inline body and counts each event once', () => {
    const cache = new PayloadCache(null);
    cache.retain('evt_a', 10, 'a'.repeat(10));
    cache.retain('evt_a', 10, 'a'.repeat(10));
    cache.retain('evt_b', 20, 'b'.repeat(20));
    expect(cache.bytes).toBe(30);
    expect(cache.body('evt_a')).toBe('a'.repeat(10));
    cache.release('evt_a');
    cache.release('evt_b');
    expect(cache.bytes).toBe(10);
  });

  it('forgets a failed read, so the next attempt reads again', async () => {
    const cache = new PayloadCache(null);
    cache.retain('evt_1', 5, null);
    cache.fill('evt_1', Promise.reject(new Error('database down')));
    await expect(cache.body('evt_1')).rejects.toThrow('database down');
    expect(cache.has('evt_1')).toBe(false);
  });

  it('gives an event’s pages back to the arena with its last reference', async () => {
    const arena = new BodyArena(8 * BodyArena.PAGE);
    const cache = new PayloadCache(arena);
    const text = 'x'.repeat(3 * BodyArena.PAGE);
    cache.retain('evt_1', text.length, null);
    cache.retain('evt_1', text.length, null);
    cache.fill('evt_1', Promise.resolve(text));
    await cache.body('evt_1');
    expect(arena.used).toBe(3);
    cache.release('evt_1');
    expect(arena.used).toBe(3);
    cache.release('evt_1');
    expect(arena.used).toBe(0);
  });
});

describe('the body arena', () => {
  it('allocates first fit in whole pages and merges freed runs', () => {
    const arena = new BodyArena(10 * BodyArena.PAGE);
    const a = arena.alloc(2 * BodyArena.PAGE)!;
    const b = arena.alloc(BodyArena.PAGE + 1)!;
    const c = arena.alloc(3 * BodyArena.PAGE)!;
    expect([a.region, b.region, c.region]).toEqual([
      { start: 0, pages: 2 },
      { start: 2, pages: 2 },
      { start: 4, pages: 3 },
    ]);
    expect(b.view.length).toBe(BodyArena.PAGE + 1);
    expect(arena.alloc(4 * BodyArena.PAGE)).toBeNull();
    arena.release(a.region);
    arena.release(b.region);
    // a and b merged: four pages at the start.
    expect(arena.alloc(4 * BodyArena.PAGE)!.region).toEqual({ start: 0, pages: 4 });
    arena.release(c.region);
    expect(arena.used).toBe(4);
  });

  it('hands out views of one shared memory that do not overlap', () => {
    const arena = new BodyArena(4 * BodyArena.PAGE);
    const a = arena.alloc(BodyArena.PAGE)!;
    const b = arena.alloc(BodyArena.PAGE)!;
    a.view.fill(1);
    b.view.fill(2);
    expect(a.view.buffer).toBe(b.view.buffer);
    expect(a.view.every((x) => x === 1)).toBe(true);
  });
});
