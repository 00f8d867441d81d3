// A Fastify app that receives Rizler webhooks: it verifies each delivery, skips the ones it has
// already seen (deliveries are at-least-once), answers 204 at once and does the work afterwards.
//
//   RIZLER_WEBHOOK_SECRET=whsec_… PORT=3000 npx tsx examples/fastify-receiver.ts
//   rizler-webhooks listen --forward-to http://localhost:3000/webhooks   (prints a secret to use)
import Fastify, { type FastifyInstance } from 'fastify';
import { pathToFileURL } from 'node:url';
// An app imports these from 'rizler-webhooks/receiver'; this example imports the package's
// source so that it runs from a checkout without a build.
import { rizlerWebhookPlugin, type RizlerWebhookEvent } from '../src/receiver/index.js';

export interface FastifyReceiverOptions {
  /** The endpoint's signing secret (`whsec_…`). */
  secret: string;
  /** The slow work an event triggers: a CRM update, an email, a call summary. */
  handle?: (event: RizlerWebhookEvent) => Promise<void> | void;
}

/** Remembers the last ids seen. In production, a unique key in the database that the work writes to. */
class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly max = 10_000) {}

  /** True the first time an id is offered. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value!);
    return true;
  }
}

export async function buildFastifyReceiver(
  options: FastifyReceiverOptions,
): Promise<FastifyInstance> {
  const handle = options.handle ?? ((event) => console.log(`processed ${event.event} ${event.id}`));
  const seen = new RecentIds();
  const app = Fastify();

  await app.register(rizlerWebhookPlugin, {
    prefix: '/webhooks',
    secret: options.secret,
    // The plugin has verified webhook-signature and webhook-timestamp (±5 min) before this runs;
    // a delivery that fails is answered 400 and never reaches it.
    handler: (event) => {
      // webhook-id is the event id: the same on every retry, so a retry of an event already
      // handled is acknowledged and skipped.
      if (!seen.add(event.id)) return;
      // Answer first (204), work afterwards: a receiver that takes longer than the delivery
      // timeout (10 s) gets the same event again. This in-memory hand-off loses the work if the
      // process dies; a real app writes the event to its own queue or table before answering.
      setImmediate(() => {
        Promise.resolve(handle(event)).catch((err: unknown) =>
          app.log.error({ err, eventId: event.id }, 'processing a webhook failed'),
        );
      });
    },
  });
  return app;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const secret = process.env.RIZLER_WEBHOOK_SECRET;
  if (!secret) throw new Error("Set RIZLER_WEBHOOK_SECRET to the endpoint's secret (whsec_…)");
  const app = await buildFastifyReceiver({ secret });
  const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
  console.log(`listening on ${address}/webhooks`);
}
