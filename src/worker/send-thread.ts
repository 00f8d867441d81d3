// The sending thread's entry (see threaded-sender.ts): signs and sends the attempts the
// worker hands over in batches, and answers with their results in batches.
import { parentPort, workerData } from 'node:worker_threads';
import { buildSender } from './delivery.js';
import type {
  SendHostMessage,
  SendOutcome,
  SendResults,
  SendThreadData,
  SendThreadMessage,
} from './threaded-sender.js';

const port = parentPort!;
const post = (message: SendThreadMessage) => port.postMessage(message);
const data = workerData as SendThreadData;
const { dispatcher, sender } = buildSender(data.config);

let results: SendOutcome[] = [];
let scheduled = false;
function answer(outcome: SendOutcome): void {
  results.push(outcome);
  if (scheduled) return;
  scheduled = true;
  // Everything that finished in this turn of the event loop goes back in one message.
  setImmediate(() => {
    scheduled = false;
    const batch = results;
    results = [];
    data.results.postMessage({ batch } satisfies SendResults);
  });
}

port.on('message', (message: SendHostMessage) => {
  if (message.type === 'send') {
    for (const [id, attempt] of message.batch) {
      sender.send(attempt).then(
        (result) => answer({ id, result }),
        (err: unknown) => answer({ id, error: (err as Error).message }),
      );
    }
  } else {
    void dispatcher.close().then(() => post({ type: 'closed' }));
  }
});
post({ type: 'ready' });
