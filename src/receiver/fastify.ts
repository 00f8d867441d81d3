// A Fastify plugin that receives Rizler deliveries on one route. Only Fastify's types are
// imported, so loading the receiver never loads Fastify.
//
// The plugin is deliberately encapsulated (not wrapped in fastify-plugin): the raw-body parser
// it installs for application/json applies to its own route only, and the rest of the app keeps
// Fastify's JSON parsing.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { RizlerWebhookEvent } from './event-types.js';
import { verifyWebhook, WebhookVerificationError } from './verify.js';
import type { VerifyWebhookOptions } from './verify.js';

export interface RizlerFastifyOptions extends VerifyWebhookOptions {
  /** The endpoint's secret (`whsec_…`). */
  secret: string;
  /** The route, relative to the plugin's `prefix`. Default `/`. */
  path?: string;
  /** The largest body accepted, in bytes. Default Fastify's (1 MiB; events are ≤ 256 KiB). */
  bodyLimit?: number;
  /**
   * Called with each verified event. Its return value is the answer (204 when it returns
   * nothing); answer 2xx quickly and do slow work later, or the delivery times out and is retried.
   */
  handler: (event: RizlerWebhookEvent, request: FastifyRequest, reply: FastifyReply) => unknown;
}

/**
 * `app.register(rizlerWebhookPlugin, { prefix: '/webhooks/rizler', secret, handler })`.
 * A delivery that fails verification is answered 400 `{"error": {"code", "message"}}`.
 */
export const rizlerWebhookPlugin: FastifyPluginAsync<RizlerFastifyOptions> = async (
  instance,
  options,
) => {
  const { secret, handler, path = '/', bodyLimit } = options;
  if (typeof secret !== 'string' || secret === '') {
    throw new TypeError("rizlerWebhookPlugin needs the endpoint's secret, a non-empty string");
  }
  if (typeof handler !== 'function') {
    throw new TypeError('rizlerWebhookPlugin needs a handler(event, request, reply) function');
  }
  // This scope's copy of the parser table; the parent app's JSON parser is untouched.
  if (instance.hasContentTypeParser('application/json')) {
    instance.removeContentTypeParser('application/json');
  }
  instance.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', ...(bodyLimit === undefined ? {} : { bodyLimit }) },
    (_request, body, done) => done(null, body),
  );

  instance.post(path, async (request, reply) => {
    let event: RizlerWebhookEvent;
    try {
      event = verifyWebhook(rawBody(request.body), request.headers, secret, options);
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      return reply.code(400).send({ error: { code: error.code, message: error.message } });
    }
    const result: unknown = await handler(event, request, reply);
    if (reply.sent) return reply;
    if (result === undefined) return reply.code(204).send();
    return result;
  });
};

/** What the parser above produced; an empty or body-less request verifies as an empty body. */
function rawBody(body: unknown): string | Uint8Array {
  return typeof body === 'string' || body instanceof Uint8Array ? body : '';
}
