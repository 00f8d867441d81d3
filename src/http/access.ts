// Who may call what, in one place: every route names its scope in its config, and one
// onRequest hook resolves the credential (admin token, API key, portal session) to
// {account, scopes, actor}, then allows the route or answers 401 / 403. Rate limits are
// counted here too, per account, with the account's own limits where the operator set them.
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { hashApiKey } from '../accounts/keys.js';
import type { KeyUsage } from '../accounts/usage.js';
import type { Config } from '../config.js';
import type { Account, Actor, Scope, Storage } from '../storage/index.js';
import { checkAdmin } from './auth.js';
import type { RouteScope } from './context.js';
import { ApiError } from './errors.js';
import { RateLimiter, rateLimitHeaders } from './rate-limit.js';

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

function bearer(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
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

export interface AccessOptions {
  config: Config;
  storage: Storage;
  usage: KeyUsage;
  now: () => number;
}

export function accessHook(options: AccessOptions) {
  const { config, storage, usage, now } = options;
  const apiLimiter = new RateLimiter(config.apiRateLimit);
  const publishLimiter = new RateLimiter(config.publishRateLimit ?? 1);

  async function resolveAccount(request: FastifyRequest): Promise<Account> {
    const token = bearer(request);
    if (token === null) throw new ApiError('unauthorized');
    if (config.adminToken !== null) {
      let admin = true;
      try {
        checkAdmin(request, config.adminToken);
      } catch {
        admin = false;
      }
      if (admin) {
        throw new ApiError(
          'unauthorized',
          "The admin token does not act as an account here; use the account's own routes under /v1/accounts/{id}/, or one of its API keys.",
        );
      }
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

  /** Counts the request against the account's bucket; throws 429 when it is empty. */
  function limit(
    request: FastifyRequest,
    reply: FastifyReply,
    account: Account,
    which: 'api' | 'publish',
  ): void {
    const perMinute =
      which === 'api'
        ? (account.limits.apiRateLimitPerMinute ?? config.apiRateLimit)
        : (account.limits.publishRateLimitPerMinute ?? config.publishRateLimit);
    if (perMinute === null) return;
    const decision = (which === 'api' ? apiLimiter : publishLimiter).take(
      account.id,
      now(),
      perMinute,
    );
    reply.headers(rateLimitHeaders(decision));
    if (!decision.allowed) {
      throw new ApiError(
        'rate_limited',
        `Rate limit of ${decision.limit} requests per minute reached; retry in ${decision.retryAfterSeconds} s.`,
        { 'retry-after': String(decision.retryAfterSeconds) },
      );
    }
  }

  /** The admin acting for the account in the path (publish on behalf). */
  async function onBehalf(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const id = (request.params as { id?: string }).id ?? '';
    const account = await storage.getAccount(id);
    if (!account) throw new ApiError('not_found', 'No account with that id.');
    if (account.status === 'suspended') throw suspended();
    request.account = account;
    limit(request, reply, account, 'publish');
  }

  return async function access(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { scope, limit: which } = request.routeOptions.config;
    if (!scope || scope === 'public') return;
    if (scope === 'admin') {
      checkAdmin(request, config.adminToken);
      request.credential = {
        actor: { type: 'admin', id: null },
        scopes: ['admin'],
        expiresAt: null,
      };
      if (which === 'publish') await onBehalf(request, reply);
      return;
    }
    const account = await resolveAccount(request);
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
    const counted = which ?? (scope === 'publish' ? 'publish' : 'api');
    if (counted !== 'none') limit(request, reply, account, counted);
  };
}

function suspended(): ApiError {
  return new ApiError(
    'account_suspended',
    'This account is suspended, so it cannot publish; its pending deliveries wait until the operator resumes it.',
  );
}
