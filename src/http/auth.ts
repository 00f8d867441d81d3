// Who is calling: the bearer credential of a request, the admin token's check, and the account
// the access layer (access.ts) resolved.
import type { FastifyRequest } from 'fastify';
import { hashApiKey } from '../core/ids.js';
import { safeEqual } from '../core/signing.js';
import type { Account } from '../storage/index.js';
import { ApiError } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    account?: Account;
  }
}

/** The credential of `Authorization: Bearer <credential>`, or null. */
export function bearer(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

/** The admin token's digest, computed once per token rather than on every request. */
let adminDigest: { token: string; digest: string } | null = null;

/**
 * Whether `given` is the admin token, compared as SHA-256 digests (hashApiKey) in constant
 * time, so neither the token nor its length leaks. A boolean, not a throw: every request with an API key asks it,
 * and an Error's stack trace cost more than the rest of the check.
 */
export function isAdminToken(given: string | null, adminToken: string | null): boolean {
  if (given === null || adminToken === null) return false;
  if (adminDigest?.token !== adminToken)
    adminDigest = { token: adminToken, digest: hashApiKey(adminToken) };
  return safeEqual(hashApiKey(given), adminDigest.digest);
}

export function checkAdmin(request: FastifyRequest, adminToken: string | null): void {
  if (adminToken === null) {
    throw new ApiError('unauthorized', 'The admin API is off; set RIZLER_ADMIN_TOKEN to use it.');
  }
  if (!isAdminToken(bearer(request), adminToken)) {
    throw new ApiError('unauthorized', 'Send the admin token as "Authorization: Bearer <token>".');
  }
}

export function requireAccount(request: FastifyRequest): Account {
  if (!request.account) throw new ApiError('unauthorized');
  return request.account;
}
