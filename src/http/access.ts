// Who may call what, in one place: every route names its scope in its config, and one
// onRequest hook resolves the credential (admin token, API key, portal session) to
// {account, scopes, actor}, then allows the route or answers 401 / 403. Resolving a
// credential goes through the per-address budget of failed authentications (limits.ts), so a
// wrong key, token or portal session spends it whichever route it was tried on. Rate limits
// are counted here too, per account, with the account's own limits where the operator set
// them: management calls on request, publishing per event once the body is read.
import type { FastifyContextConfig, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Config } from '../config.js';
import { hashApiKey } from '../core/ids.js';
import type { Account, Actor, Scope, Storage } from '../storage/index.js';
import { bearer, checkAdmin, isAdminToken } from './auth.js';
import type { Api, RouteScope } from './context.js';
import { ApiError } from './errors.js';
import { eventCount, type Limits } from './limits.js';

export const PORTAL_TOKEN_PREFIX = 'rzp_';

export interface Credential {
  actor: Actor;
  scopes: readonly (Scope | 'admin')[];
  /** When it stops working (an expiring key, a portal session); null: never. */
  expiresAt: number | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    credential?: Credential;
  }
}

/** The actor of the request, for the audit log; the system when nobody signed in. */
export function actorOf(request: FastifyRequest): Actor {
  return request.credential?.actor ?? { type: 'system', id: null };
}

/**
 * Every route of the app must name its scope: `onRoute` throws for one that does not, so a
 * route cannot ship without a decision about who may call it. Its scope is also written
 * into its OpenAPI operation as `x-scope`.
 */
export function requireScopes(route: RouteOptions): void {
  const config = route.config as { scope?: RouteScope } | undefined;
  const scope = config?.scope;
  const hidden = (route.schema as { hide?: boolean } | undefined)?.hide === true;
  if (!scope) {
    // Static files and the API page's assets are registered by plugins, without a config.
    if (hidden || route.url.startsWith('/docs') || !route.url.startsWith('/v1/')) return;
    throw new Error(`${String(route.method)} ${route.url} declares no scope in its config`);
  }
  if (route.schema && !hidden) {
    (route.schema as Record<string, unknown>)['x-scope'] = scope;
  }
}

/** Where each use of an API key is noted (accounts/usage.ts keeps them off the hot path). */
export interface KeyUseNotes {
  note(keyId: string, at: number): void;
}

export interface AccessOptions {
  config: Config;
  storage: Storage;
  usage: KeyUseNotes;
  limits: Limits;
  now: () => number;
}

/** Which bucket counts a route: its config's `limit`, by default `publish` for publish. */
export function countedBy(config: FastifyContextConfig): 'api' | 'publish' | 'none' {
  return config.limit ?? (config.scope === 'publish' ? 'publish' : 'api');
}

/**
 * The access layer's hooks: the scope check on every route added, the credential and the API
 * limit on request, the publish limit once the body is read, and X-RateLimit-* on every answer.
 */
export function addAccess(app: Api, options: AccessOptions): void {
  const hooks = accessHooks(options);
  app.addHook('onRoute', requireScopes);
  app.addHook('onRequest', hooks.onRequest);
  app.addHook('preHandler', hooks.preHandler);
  app.addHook('onSend', hooks.onSend);
}

function accessHooks(options: AccessOptions) {
  const { config, storage, usage, limits, now } = options;

  async function resolveAccount(request: FastifyRequest): Promise<Account> {
    const token = bearer(request);
    if (token === null) throw new ApiError('unauthorized');
    if (isAdminToken(token, config.adminToken)) {
      throw new ApiError(
        'unauthorized',
        "The admin token does not act as an account here; use the account's own routes under /v1/accounts/{id}/, or one of its API keys.",
      );
    }
    const at = now();
    if (token.startsWith(PORTAL_TOKEN_PREFIX)) {
      const found = await storage.findPortalSession(hashApiKey(token), at);
      if (!found) {
        throw new ApiError(
          'unauthorized',
          'This portal session has ended or is not valid; open a new link from your app.',
        );
      }
      request.credential = {
        actor: { type: 'portal_session', id: found.session.id },
        scopes: found.session.readOnly ? ['read'] : ['read', 'manage'],
        expiresAt: found.session.expiresAt,
      };
      return found.account;
    }
    const found = await storage.findApiKey(hashApiKey(token), at);
    if (!found) {
      throw new ApiError(
        'unauthorized',
        'That API key is not valid: it is unknown, revoked or expired.',
      );
    }
    usage.note(found.key.id, at);
    request.credential = {
      actor: { type: 'api_key', id: found.key.id },
      scopes: found.key.scopes,
      expiresAt: found.key.expiresAt,
    };
    return found.account;
  }

  /**
   * The admin acting for the account in the path (publish on behalf). Looked up once the path
   * is validated (a NUL or an over-long id answers 400, never reaching the database).
   */
  async function onBehalf(request: FastifyRequest): Promise<Account> {
    const id = (request.params as { id?: string }).id ?? '';
    const account = await storage.getAccount(id);
    if (!account) throw new ApiError('not_found', 'No account with that id.');
    if (account.status === 'suspended') throw suspended();
    request.account = account;
    return account;
  }

  async function onRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { scope } = request.routeOptions.config;
    if (!scope || scope === 'public') return;
    const which = countedBy(request.routeOptions.config);
    if (scope === 'admin') {
      await limits.authenticate(request, reply, () => checkAdmin(request, config.adminToken));
      request.credential = {
        actor: { type: 'admin', id: null },
        scopes: ['admin'],
        expiresAt: null,
      };
      return;
    }
    const account = await limits.authenticate(request, reply, () => resolveAccount(request));
    request.account = account;
    if (!request.credential!.scopes.includes(scope)) {
      const what =
        request.credential!.actor.type === 'portal_session' ? 'portal session' : 'API key';
      throw new ApiError(
        'forbidden',
        `This ${what} lacks the "${scope}" scope this route needs; use a key that has it.`,
      );
    }
    if (scope === 'publish' && account.status === 'suspended') throw suspended();
    if (which !== 'publish') limits.account(reply, account, which === 'api');
  }

  /** Publishing is counted per event, so only once the body has been read and validated. */
  async function preHandler(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { config: route } = request.routeOptions;
    if (countedBy(route) !== 'publish') return;
    const account = route.scope === 'admin' ? await onBehalf(request) : request.account;
    if (account) limits.publishing(reply, account, eventCount(request.body));
  }

  async function onSend(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    limits.fill(request, reply, countedBy(request.routeOptions.config) === 'publish');
  }

  return { onRequest, preHandler, onSend };
}

function suspended(): ApiError {
  return new ApiError(
    'account_suspended',
    'This account is suspended, so it cannot publish; its pending deliveries wait until the operator resumes it.',
  );
}
