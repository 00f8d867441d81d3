// B's side of the noisy-neighbour tests: publish one event every 200 ms and measure how long
// each took from the publish call to its arrival at B's receiver.
import type { Receiver } from '../helpers/receiver.js';

const DATA = { call_id: 'call_b', agent_id: 'agent_b', duration: 1, status: 'completed' };

interface Publisher {
  api(
    path: string,
    init: { apiKey?: string; body?: unknown },
  ): Promise<{ status: number; body: any }>;
}

/** Milliseconds from each publish to its first arrival, in publish order. */
export async function neighbourLatencies(
  publisher: Publisher,
  apiKey: string,
  receiver: Receiver,
  count: number,
): Promise<number[]> {
  const sentAt = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const started = Date.now();
    const published = await publisher.api('/v1/events', {
      apiKey,
      body: { event: 'call.ended', data: DATA },
    });
    if (published.status !== 202) throw new Error(`publish: ${published.status}`);
    sentAt.set(published.body.id, started);
    await new Promise((r) => setTimeout(r, Math.max(0, 200 - (Date.now() - started))));
  }
  // Bounded wait: a starved neighbour fails here rather than hanging the test.
  await receiver.waitFor(count, 10_000);
  return [...sentAt].map(([id, at]) => {
    const arrival = receiver.requests.find((r) => r.headers['webhook-id'] === id);
    return arrival ? arrival.receivedAt - at : Infinity;
  });
}
