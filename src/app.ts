// The composition root: builds the HTTP app from the domain modules. Never listens.
// buildApp reads as the order the app is put together in; each step is a function below it.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyServerOptions } from 'fastify';
import helmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { accountRoutes } from './accounts/routes.js';
import { listenAttemptRoutes } from './deliveries/listen-attempts.js';
import { deliveryRoutes } from './deliveries/routes.js';
import { deliveryStreamRoutes } from './deliveries/stream.js';
import { eventRoutes } from './events/routes.js';
import { eventStreamRoutes } from './events/stream.js';
import { webhookRoutes } from './webhooks/routes.js';
import { webhookStatsRoutes } from './webhooks/stats-routes.js';
import type { Api, AppContext } from './http/context.js';
import { addAccess } from './http/access.js';
import { KeyUsage } from './accounts/usage.js';
import { platformRoutes } from './accounts/platform-routes.js';
import { OnBehalfRoutes } from './accounts/on-behalf.js';
import { ApiError, edgeErrorOptions, errorBody, handleError } from './http/errors.js';
import { DOCUMENT, documentRoute, documentSchema } from './http/openapi.js';
import { Limits } from './http/limits.js';
import { operationsRoutes } from './http/operations.js';
import { ErrorBody } from './http/schemas.js';
import { Streams } from './http/sse.js';
import { addSecurityHeaders, withoutUpgrade } from './http/security-headers.js';
import { capConnections, serverOptions } from './http/server-options.js';
import { RequestLog } from './observability/logger.js';
import { buildValidator, tightenRoute } from './http/validation.js';
import { VERSION } from './version.js';
import type { Config } from './config.js';

export interface BuildAppOptions extends AppContext {
  logger?: FastifyServerOptions['loggerInstance'];
  /** Folder of the built dashboard; default dist/web beside the package. */
  webRoot?: string;
}

function defaultWebRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'dist', 'web');
    if (existsSync(join(dir, 'package.json'))) return candidate;
    dir = dirname(dir);
  }
  return join(process.cwd(), 'dist', 'web');
}

export async function buildApp(options: BuildAppOptions): Promise<Api> {
  const { webRoot = defaultWebRoot(), logger, ...ctx } = options;
  const hasWeb = existsSync(join(webRoot, 'index.html'));
  // The order matters: hooks and handlers first, so that every route registered after them
  // (the documentation's too) has them.
  const app = createServer(ctx.config, logger);
  readBodiesAsJson(app);
  await addSecurity(app, ctx.config);
  await addDocumentation(app);
  const usage = addAccessControl(app, ctx);
  // Watches for the publish routes, so it is made before they are registered.
  const onBehalf = new OnBehalfRoutes(app);
  addApiConventions(app);
  addNotFound(app, hasWeb);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  operationsRoutes(app, ctx);
  accountRoutes(app, ctx);
  webhookRoutes(app, ctx);
  webhookStatsRoutes(app, ctx);
  eventRoutes(app, ctx);
  deliveryRoutes(app, ctx);
  const streams = new Streams(app, ctx.storage, ctx.config.maxStreamsPerAccount);
  eventStreamRoutes(app, ctx, streams);
  deliveryStreamRoutes(app, ctx, streams);
  listenAttemptRoutes(app, ctx);
  onBehalf.register();
  platformRoutes(app, { ...ctx, usage });
  await addDashboard(app, hasWeb, webRoot);
  return app;
}

/** Fastify with the API's limits and validation, and the API's error shape at the edge. */
function createServer(config: Config, logger: BuildAppOptions['logger']): Api {
  const app = Fastify({
    loggerInstance: logger,
    logController: new RequestLog(),
    // 1 MiB for management calls; publishing routes set their own limits.
    bodyLimit: 1024 * 1024,
    ...serverOptions(config),
    // Bodies without coercion, the text parts (query, path, headers) with it: see validation.ts.
    schemaController: { compilersFactory: { buildValidator } },
    ...edgeErrorOptions,
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as Api;
  capConnections(app.server, config);
  app.addHook('onRoute', tightenRoute);
  return app;
}

/**
 * Any content type is read as JSON: `curl -d` without a Content-Type still works. Bytes that
 * are not UTF-8 are refused: replacing them would store an event other than the one sent.
 */
function readBodiesAsJson(app: Api): void {
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
}

/** The OpenAPI document and /docs; operationId, tags, 503 and examples of every route from one table (http/openapi.ts). */
async function addDocumentation(app: Api): Promise<void> {
  app.addSchema(ErrorBody);
  app.addHook('onRoute', documentRoute);
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
}

/**
 * CSP, HSTS and COOP depend on whether the request came over TLS, and framing on
 * RIZLER_EMBED_ORIGINS: all four are security-headers.ts's, helmet sets the rest.
 */
async function addSecurity(app: Api, config: Config): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: false,
    strictTransportSecurity: false,
    crossOriginOpenerPolicy: false,
    crossOriginEmbedderPolicy: false,
    frameguard: false,
  });
  addSecurityHeaders(app, config);
}

/** Who may call what (http/access.ts), noting when each API key was last used. */
function addAccessControl(app: Api, ctx: AppContext): KeyUsage {
  const usage = new KeyUsage(ctx.storage);
  app.addHook('onClose', () => usage.flush());
  addAccess(app, { ...ctx, usage, limits: new Limits(ctx.config) });
  return usage;
}

/** What every API answer shares: not cached, an empty body read as {}, errors in one shape. */
function addApiConventions(app: Api): void {
  // API answers may carry keys and secrets: no browser or proxy may keep them.
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/v1/')) reply.header('cache-control', 'no-store');
  });
  // A POST without a body is an empty object: optional-only bodies (test sends, rotation)
  // need none, and required fields are then reported by name.
  app.addHook('preValidation', async (request) => {
    if (request.body === undefined || request.body === null) request.body = {};
  });
  app.setErrorHandler(handleError);
}

/** An unknown path answers 404 in the API's shape, except a page a browser asks for. */
function addNotFound(app: Api, hasWeb: boolean): void {
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
}

/** The dashboard's files, or a page that says how to build them. */
async function addDashboard(app: Api, hasWeb: boolean, webRoot: string): Promise<void> {
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
}
