// The receiver's own process (started by startReceiverProcess): the same node:http counting
// receiver, driven over the IPC channel, so that answering webhooks costs no CPU in the bench's
// process or in the process under test — as a receiver on another host would.
//   in:  { type: 'reset', epoch }, { type: 'waitFor', id, total, epoch }
//   out: { type: 'ready', url }, { type: 'count', count, epoch } (every 10 ms while it moves),
//        { type: 'reached', id, count, epoch }, { type: 'arrivals', entries, epoch },
//        { type: 'reset', epoch } once a reset is applied
import { hrOrigin, startCountingReceiver } from './receiver.js';

export type ToReceiver =
  { type: 'reset'; epoch: number } | { type: 'waitFor'; id: number; total: number; epoch: number };

export type FromReceiver =
  | { type: 'ready'; url: string }
  | { type: 'count'; count: number; rejected: number; epoch: number }
  | { type: 'reached'; id: number; count: number; epoch: number }
  | { type: 'arrivals'; entries: [string, number][]; epoch: number }
  | { type: 'reset'; epoch: number };

const send = (m: FromReceiver) => process.send!(m);
const options = JSON.parse(process.env.BENCH_RECEIVER_OPTIONS ?? '{}') as {
  recordArrivals?: boolean;
  hang?: boolean;
  delayMs?: number;
  verifySecret?: string;
  /** The parent's hrOrigin (ns, as a string): arrival times are sent on the parent's clock. */
  origin: string;
};
const shift = Number(hrOrigin() - BigInt(options.origin)) / 1e6;

let epoch = 0;
let pending: [string, number][] = [];
const receiver = await startCountingReceiver({
  recordArrivals: options.recordArrivals,
  hang: options.hang,
  delayMs: options.delayMs,
  verifySecret: options.verifySecret,
  onArrival: (id, at) => pending.push([id, at + shift]),
});

let reported = -1;
let reportedRejected = 0;
setInterval(() => {
  if (pending.length > 0) {
    send({ type: 'arrivals', entries: pending, epoch });
    pending = [];
  }
  if (receiver.count !== reported || receiver.rejected !== reportedRejected) {
    reported = receiver.count;
    reportedRejected = receiver.rejected ?? 0;
    send({ type: 'count', count: reported, rejected: reportedRejected, epoch });
  }
}, 10).unref();

process.on('message', (m: ToReceiver) => {
  if (m.type === 'reset') {
    epoch = m.epoch;
    void receiver.reset();
    pending = [];
    reported = -1;
    reportedRejected = 0;
    send({ type: 'reset', epoch });
  } else {
    void receiver.waitFor(m.total).then(() => {
      // Arrivals first, so that a waiter resolved in the parent finds them in its map.
      if (pending.length > 0) {
        send({ type: 'arrivals', entries: pending, epoch });
        pending = [];
      }
      send({ type: 'reached', id: m.id, count: receiver.count, epoch: m.epoch });
    });
  }
});
process.on('disconnect', () => {
  void receiver.close().then(() => process.exit(0));
});
send({ type: 'ready', url: receiver.url });
