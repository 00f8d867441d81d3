// The ceiling: a bare undici loop posting the same body to the same receiver, with as many
// requests on the wire as the worker has connections per origin (RIZLER_CONNECTIONS_PER_ORIGIN,
// 64). The worker leases up to 128 per endpoint, but the other 64 are being signed or
// recorded, not sent.
import { Agent, request } from 'undici';

export async function bareUndiciRate(
  url: string,
  body: string,
  total: number,
  concurrency: number,
): Promise<number> {
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 60_000 });
  let sent = 0;
  const started = performance.now();
  const lane = async () => {
    while (sent < total) {
      sent++;
      const res = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body,
      });
      await res.body.text();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const seconds = (performance.now() - started) / 1000;
  await agent.close();
  return total / seconds;
}
