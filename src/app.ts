// The composition root: builds the HTTP app from the domain modules. Never listens.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyError, type FastifyReply, type FastifyServerOptions } from 'fastify';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { accountRoutes } from './accounts/routes.js';
import { deliveryRoutes } from './deliveries/routes.js';
import { eventRoutes } from './events/routes.js';
import { streamRoutes } from './events/stream.js';
import { webhookRoutes } from './webhooks/routes.js';
import { webhookStatsRoutes } from './webhooks/stats-routes.js';
import type { Api, AppContext } from './http/context.js';
import { addAccess } from './http/access.js';
import { KeyUsage } from './accounts/usage.js';
import { platformRoutes } from './accounts/platform-routes.js';
import { OnBehalfRoutes } from './accounts/on-behalf.js';
import { ApiError, errorBody } from './http/errors.js';
import { DOCUMENT, documentRoute, documentSchema } from './http/openapi.js';
import { Limits } from './http/limits.js';
import { ErrorBody } from './http/schemas.js';
import { addSecurityHeaders, withoutUpgrade } from './http/security-headers.js';
import { capConnections, serverOptions } from './http/server-options.js';
import { buildValidator, describeValidationError, tightenRoute } from './http/validation.js';
import { StorageUnavailableError } from './storage/index.js';
import { IdempotencyConflictError } from './storage/idempotency.js';
import { VERSION } from './version.js';
import { configWarnings, type Config } from './config.js';

export interface BuildAppOptions extends AppContext {
  logger?: FastifyServerOptions['loggerInstance'];
  /** Folder of the built dashboard; default dist/web beside the package. */
  webRoot?: string;
}

/** Seconds a client should wait before trying again while the database is unreachable. */
const UNAVAILABLE_RETRY_AFTER = '5';

function defaultWebRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'dist', 'web');
    if (existsSync(join(dir, 'package.json'))) return candidate;
    dir = dirname(dir);
  }
  return join(process.cwd(), 'dist', 'web');
}

/** Turns any thrown error into the API's error body; 5xx bodies say nothing internal. */
function toApiError(error: FastifyError | Error): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof StorageUnavailableError) {
    return new ApiError('service_unavailable', undefined, {
      'retry-after': UNAVAILABLE_RETRY_AFTER,
    });
  }
  if (error instanceof IdempotencyConflictError) {
    return new ApiError(
      'idempotency_conflict',
      `The Idempotency-Key ${JSON.stringify(error.key)} was used within 24 h for an event with another type or data; use a new key for a new event.`,
    );
  }
  const e = error as FastifyError & { validation?: unknown[]; validationContext?: string };
  if (e.validation) {
    const described = describeValidationError(e.validation, e.validationContext);
    if (described !== null) return new ApiError('validation_error', described);
    const where = e.validationContext === 'body' ? '' : `${e.validationContext ?? 'request'} `;
    return new ApiError(
      'validation_error',
      `${where}${e.message.replace(/^(body|querystring|params|headers)\/?/, '')}`
        .trim()
        .replace(/^\//, '') + '.',
    );
  }
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError('invalid_json', 'The request body is not valid JSON.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(
        'payload_too_large',
        'The request body is too large: an event may be at most 256 KiB, and a batch at most RIZLER_BATCH_BODY_LIMIT (4 MiB unless set); split it.',
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new ApiError('validation_error', 'Send the body as application/json.');
  }
  if (error instanceof SyntaxError) return new ApiError('invalid_json');
  const status = e.statusCode ?? 500;
  if (status === 413) return new ApiError('payload_too_large');
  if (status >= 400 && status < 500) return new ApiError('validation_error', e.message);
  return new ApiError('internal_error');
}

/** /readyz when ready: how secrets are kept, and what the operator should change. */
export function readiness(config: Pick<Config, 'encryptionKey'>) {
  return {
    status: 'ready',
    details: {
      secrets_at_rest: config.encryptionKey === null ? 'plain' : 'encrypted',
      warnings: configWarnings(config),
    },
  };
}

export async function buildApp(options: BuildAppOptions): Promise<Api> {
  const { webRoot = defaultWebRoot(), logger: _logger, ...ctx } = options;
  const { metrics } = ctx;
  const app = Fastify({
    loggerInstance: options.logger,
    // 1 MiB for management calls; publishing routes set their own limits.
    bodyLimit: 1024 * 1024,
    ...serverOptions(ctx.config),
    // Bodies without coercion, the text parts (query, path, headers) with it: see validation.ts.
    schemaController: { compilersFactory: { buildValidator } },
    // Errors Fastify raises before routing (a malformed or over-long path) get the API's shape.
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      const apiError =
        error.code === 'FST_ERR_BAD_URL' || error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new ApiError('not_found', 'There is no object at that path.')
          : toApiError(error);
      void reply.code(apiError.status).send(errorBody(apiError.code, apiError.message));
    },
    // Requests Node's HTTP parser refuses never reach Fastify: answer them on the socket.
    clientErrorHandler: (error, socket) => {
      if (!socket.writable) return;
      const tooLarge = (error as { code?: string }).code === 'HPE_HEADER_OVERFLOW';
      const body = JSON.stringify(
        tooLarge
          ? errorBody('validation_error', 'The request headers are too large.')
          : errorBody('validation_error', 'The request is not valid HTTP.'),
      );
      socket.end(
        `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\n` +
          `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `connection: close\r\n\r\n${body}`,
      );
    },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as Api;
  capConnections(app.server, ctx.config);
  app.addHook('onRoute', tightenRoute);

  // Any content type is read as JSON: `curl -d` without a Content-Type still works. Bytes that
  // are not UTF-8 are refused: replacing them would store an event other than the one sent.
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      return done(new ApiError('invalid_json', 'The request body is not valid UTF-8.'), undefined);
    }
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new ApiError('invalid_json', 'The request body is not valid JSON.'), undefined);
    }
  });

  app.addSchema(ErrorBody);
  // operationId, tags, 503 and examples of every route, from one table (http/openapi.ts).
  app.addHook('onRoute', documentRoute);

  // CSP, HSTS and COOP depend on whether the request came over TLS, and framing on
  // RIZLER_EMBED_ORIGINS: all four are security-headers.ts's, helmet sets the rest.
  await app.register(helmet, {
    contentSecurityPolicy: false,
    strictTransportSecurity: false,
    crossOriginOpenerPolicy: false,
    crossOriginEmbedderPolicy: false,
    frameguard: false,
  });
  addSecurityHeaders(app, ctx.config);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      ...DOCUMENT,
      info: {
        title: 'Rizler Webhooks API',
        version: VERSION,
        description:
          'Register webhook endpoints, publish events, and inspect every delivery attempt. Authenticate with `Authorization: Bearer <api key>`.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: "An account's API key" },
          adminToken: { type: 'http', scheme: 'bearer', description: 'RIZLER_ADMIN_TOKEN' },
        },
      },
    },
    transform: documentSchema,
    refResolver: {
      buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `def-${i}`),
    },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: withoutUpgrade,
  });

  const usage = new KeyUsage(ctx.storage);
  app.addHook('onClose', () => usage.flush());
  addAccess(app, { ...ctx, usage, limits: new Limits(ctx.config) });
  const onBehalf = new OnBehalfRoutes(app);

  // API answers may carry keys and secrets: no browser or proxy may keep them.
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/v1/')) reply.header('cache-control', 'no-store');
  });

  // A POST without a body is an empty object: optional-only bodies (test sends, rotation)
  // need none, and required fields are then reported by name.
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined || request.body === null) request.body = {};
  });

  app.setErrorHandler((error, request, reply) => {
    const apiError = toApiError(error as Error);
    if (apiError.status >= 500) {
      request.log.error({ err: error }, 'request failed');
    }
    return reply
      .code(apiError.status)
      .headers(apiError.headers)
      .send(errorBody(apiError.code, apiError.message));
  });

  const hasWeb = existsSync(join(webRoot, 'index.html'));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const wantsPage =
      request.method === 'GET' &&
      !path.startsWith('/v1/') &&
      (request.headers.accept ?? '').includes('text/html');
    if (wantsPage && hasWeb) return reply.sendFile('index.html');
    return reply
      .code(404)
      .send(
        errorBody('not_found', `There is no ${request.method} ${path}; see /docs for the API.`),
      );
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/healthz',
    { config: { scope: 'public' }, schema: { tags: ['operations'], summary: 'Liveness' } },
    async () => ({
      status: 'ok',
    }),
  );
  app.get(
    '/readyz',
    {
      config: { scope: 'public' },
      schema: { tags: ['operations'], summary: 'Readiness: the database answers' },
    },
    async (_request, reply) => {
      try {
        await ctx.storage.ping();
        return readiness(ctx.config);
      } catch {
        return reply
          .code(503)
          .header('retry-after', UNAVAILABLE_RETRY_AFTER)
          .send(errorBody('service_unavailable'));
      }
    },
  );
  app.get(
    '/metrics',
    {
      config: { scope: 'public' },
      schema: { tags: ['operations'], summary: 'Prometheus metrics' },
    },
    async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );

  accountRoutes(app, ctx);
  webhookRoutes(app, ctx);
  webhookStatsRoutes(app, ctx);
  eventRoutes(app, ctx);
  deliveryRoutes(app, ctx);
  streamRoutes(app, ctx);
  onBehalf.register();
  platformRoutes(app, { ...ctx, usage });

  if (hasWeb) {
    await app.register(fastifyStatic, {
      root: webRoot,
      prefix: '/',
      wildcard: false,
      index: 'index.html',
    });
  } else {
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type('text/html')
        .send(
          '<!doctype html><title>Rizler Webhooks</title><p>The dashboard is not built. Run <code>npm run build</code>, then reload. The API is at <a href="/docs">/docs</a>.</p>',
        ),
    );
  }

  return app;
}
