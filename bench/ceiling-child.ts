// The ceiling's client in a process of its own: runs the bare undici loop each time it is
// asked and answers with the rate it measured, timed inside this process.
//   in:  { url, body, headers, total, connections }   out: { rate } after each, { ready } first
import { bareUndiciRate } from './bare-undici.js';

export interface CeilingRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  total: number;
  connections: number;
}

process.on('message', (m: CeilingRequest) => {
  void bareUndiciRate(m.url, m.body, m.total, m.connections, m.headers).then((rate) =>
    process.send!({ rate }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
