// A plain node:http server that receives Rizler webhooks: it reads the raw body, verifies it,
// skips the deliveries it has already seen (delivery is at-least-once), answers 204 at once and
// does the work afterwards. The same steps fit any framework that gives you the raw body.
//
//   RIZLER_WEBHOOK_SECRET=whsec_… PORT=3000 npx tsx examples/node-http-receiver.ts
//   rizler-webhooks listen --forward-to http://localhost:3000/webhooks   (prints a secret to use)
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
// An app imports these from 'rizler-webhooks/receiver'; this example imports the package's
// source so that it runs from a checkout without a build.
import {
  verifyWebhook,
  WebhookVerificationError,
  type RizlerWebhookEvent,
} from '../src/receiver/index.js';

export interface NodeReceiverOptions {
  /** The endpoint's signing secret (`whsec_…`). */
  secret: string;
  /** The slow work an event triggers: a CRM update, an email, a call summary. */
  handle?: (event: RizlerWebhookEvent) => Promise<void> | void;
}

/** Events are at most 256 KiB; anything much larger is not a Rizler delivery. */
const MAX_BODY_BYTES = 1024 * 1024;

/** The body exactly as received: the signature covers these bytes, not re-serialised JSON. */
function readRawBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(null);
        req.destroy();
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export function createNodeReceiver(options: NodeReceiverOptions): Server {
  const handle = options.handle ?? ((event) => console.log(`processed ${event.event} ${event.id}`));
  // The last ids seen. In production, a unique key in the database that the work writes to.
  const seen = new Set<string>();

  return createServer(async (req, res) => {
    if (req.method !== 'POST' || req.url !== '/webhooks') return send(res, 404);
    const body = await readRawBody(req);
    if (body === null) return send(res, 413);

    let event: RizlerWebhookEvent;
    try {
      // Checks webhook-signature against the secret and webhook-timestamp against ±5 minutes.
      event = verifyWebhook(body, req.headers, options.secret);
    } catch (err) {
      if (!(err instanceof WebhookVerificationError)) throw err;
      return send(res, 400, { error: { code: err.code, message: err.message } });
    }

    // webhook-id is the event id: the same on every retry. A retry of an event already handled
    // is acknowledged and skipped.
    if (seen.has(event.id)) return send(res, 204);
    seen.add(event.id);
    if (seen.size > 10_000) seen.delete(seen.values().next().value!);

    // Answer first, work afterwards: a receiver that takes longer than the delivery timeout
    // (10 s) gets the same event again. This in-memory hand-off loses the work if the process
    // dies; a real app writes the event to its own queue or table before answering.
    send(res, 204);
    setImmediate(() => {
      Promise.resolve(handle(event)).catch((err: unknown) =>
        console.error(`processing ${event.id} failed:`, err),
      );
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const secret = process.env.RIZLER_WEBHOOK_SECRET;
  if (!secret) throw new Error("Set RIZLER_WEBHOOK_SECRET to the endpoint's secret (whsec_…)");
  const server = createNodeReceiver({ secret });
  server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    console.log(`listening on http://127.0.0.1:${port}/webhooks`);
  });
}
