// Who is calling: the bearer credential of a request, the admin token's check, and the account
// the access layer (access.ts) resolved.
import type { FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
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

/** Compared as hashes in constant time, so neither the token nor its length leaks. */
export function checkAdmin(request: FastifyRequest, adminToken: string | null): void {
  const given = bearer(request);
  if (adminToken === null) {
    throw new ApiError('unauthorized', 'The admin API is off; set RIZLER_ADMIN_TOKEN to use it.');
  }
  const digest = (s: string) => createHash('sha256').update(s).digest('hex');
  if (given === null || !safeEqual(digest(given), digest(adminToken))) {
    throw new ApiError('unauthorized', 'Send the admin token as "Authorization: Bearer <token>".');
  }
}

export function requireAccount(request: FastifyRequest): Account {
  if (!request.account) throw new ApiError('unauthorized');
  return request.account;
}
