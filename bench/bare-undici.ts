// The ceiling: a bare undici loop posting the same body to the same receiver, `concurrency`
// requests on the wire over as many connections. The bench runs it in a process of its own
// (ceiling-child.ts) at 16, 64 and 128 and takes the best (ceiling.ts).
import { Agent, request } from 'undici';

export async function bareUndiciRate(
  url: string,
  body: string,
  total: number,
  concurrency: number,
  headers: Record<string, string> = { 'content-type': 'application/json' },
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
        headers,
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
