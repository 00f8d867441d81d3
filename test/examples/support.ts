// Shared by the example tests: a secret, an endpoint registered on the test server, and a
// way to see what an example's background work has done.
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { findEventType } from '../../src/core/event-catalogue.js';
import type { TestServer } from '../helpers/server.js';

/** A secret as the server generates them: whsec_ + base64 of 32 bytes. */
export const newSecret = () => 'whsec_' + randomBytes(32).toString('base64');

export async function registerWebhook(server: TestServer, url: string, secret: string) {
  const res = await server.api('/v1/webhooks', { body: { url, events: ['*'], secret } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

export async function publish(server: TestServer, type = 'call.ended') {
  const res = await server.api('/v1/events', {
    body: { event: type, data: findEventType(type)!.example },
  });
  expect(res.status).toBe(202);
  return res.body as { id: string; event: string; timestamp: string };
}

/** The delivery of `eventId`, once it has made `attempts` attempts. */
export async function deliveryAfter(server: TestServer, eventId: string, attempts: number) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const list = await server.api('/v1/deliveries');
    const found = list.body.data.find((d: any) => d.event_id === eventId);
    if (found && found.attempt_count >= attempts) {
      return (await server.api(`/v1/deliveries/${found.id}`)).body;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the delivery of ${eventId} did not reach ${attempts} attempts in 10 s`);
}

/** Records what a receiver's `handle` was given; lets a test wait for it or hold it up. */
export function recorder<T>() {
  const seen: T[] = [];
  const waiters = new Set<() => void>();
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => {};
  return {
    seen,
    /** Keeps each handle() call pending until release(): work that takes a while. */
    hold() {
      gate = new Promise((resolve) => (open = resolve));
    },
    release: () => open(),
    handle: async (item: T) => {
      seen.push(item);
      for (const w of [...waiters]) w();
      await gate;
    },
    waitFor(count: number, timeoutMs = 10_000): Promise<T[]> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (seen.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(seen);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`handled ${seen.length} of ${count}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}
