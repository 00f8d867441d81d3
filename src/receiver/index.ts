// rizler-webhooks/receiver: what a receiving application needs to trust a delivery.
// It loads nothing of the server: node:crypto through src/core/signing.ts, and types.
export { verifySignature, verifyWebhook, WebhookVerificationError } from './verify.js';
export type {
  HeaderGetter,
  VerifyWebhookOptions,
  WebhookHeaders,
  WebhookVerificationErrorCode,
} from './verify.js';
export { rizlerWebhookMiddleware } from './express.js';
export type {
  RizlerExpressMiddleware,
  RizlerExpressRequest,
  RizlerExpressResponse,
  RizlerMiddlewareOptions,
} from './express.js';
export { rizlerWebhookPlugin } from './fastify.js';
export type { RizlerFastifyOptions } from './fastify.js';
export type * from './event-types.js';
