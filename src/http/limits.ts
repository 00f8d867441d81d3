// Which bucket counts a request, and which one its X-RateLimit-* headers describe. Every answer
// carries them (SPEC §5):
// - management API routes: the account's API bucket, after taking one token;
// - publishing: the account's publish bucket, after taking one token per event, all or none
//   (a batch of N takes N); with no publish limit, as for routes no limit counts, the
//   account's API bucket as it stands, untouched;
// - answers with no account (public routes, the admin API, failed authentication): the caller
//   address's budget of failed authentications, which a wrong key, token or portal session
//   spends.
// An account's limits are its own where the operator set them (SPEC §9), else the service's.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import type { Account } from '../storage/index.js';
import { ApiError } from './errors.js';
import { RateLimiter, rateLimitHeaders, type RateDecision } from './rate-limit.js';

type LimitConfig = Pick<Config, 'apiRateLimit' | 'publishRateLimit' | 'authFailureLimit'>;

/** What the limits need of an account: its id, and the limits the operator gave it. */
export type LimitedAccount = Pick<Account, 'id' | 'limits'>;

const LIMIT_HEADER = 'x-ratelimit-limit';

export class Limits {
  private readonly api: RateLimiter;
  private readonly publish: RateLimiter;
  private readonly authFailures: RateLimiter;

  constructor(private readonly config: LimitConfig) {
    this.api = new RateLimiter(config.apiRateLimit);
    // Every call passes the account's publish limit: without a service default, an account may
    // still have one of its own.
    this.publish = new RateLimiter(config.publishRateLimit ?? 1);
    this.authFailures = new RateLimiter(config.authFailureLimit);
  }

  private apiLimit(account: LimitedAccount): number {
    return account.limits.apiRateLimitPerMinute ?? this.config.apiRateLimit;
  }

  /** null: this account's publishing is not limited. */
  private publishLimit(account: LimitedAccount): number | null {
    return account.limits.publishRateLimitPerMinute ?? this.config.publishRateLimit;
  }

  private peekApi(account: LimitedAccount): RateDecision {
    return this.api.peek(account.id, Date.now(), this.apiLimit(account));
  }

  /**
   * Runs `check` (which throws `unauthorized` on a wrong credential) and returns what it
   * found. An address that spent its budget of failures is refused before its credential is
   * even looked at, so a guess cannot tell a right answer from a wrong one either; each failure
   * spends one token.
   */
  async authenticate<T>(
    request: FastifyRequest,
    reply: FastifyReply,
    check: () => Promise<T> | T,
  ): Promise<T> {
    const before = this.authFailures.peek(request.ip);
    if (!before.allowed) {
      reply.headers(rateLimitHeaders(before));
      throw new ApiError(
        'rate_limited',
        `Too many failed authentications from this address; retry in ${before.retryAfterSeconds} s.`,
        { 'retry-after': String(before.retryAfterSeconds) },
      );
    }
    try {
      return await check();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'unauthorized') {
        reply.headers(rateLimitHeaders(this.authFailures.take(request.ip)));
      }
      throw err;
    }
  }

  /** A management API call takes one token; other account routes show the bucket untouched. */
  account(reply: FastifyReply, account: LimitedAccount, counted: boolean): void {
    if (!counted) {
      reply.headers(rateLimitHeaders(this.peekApi(account)));
      return;
    }
    const decision = this.api.take(account.id, 1, Date.now(), this.apiLimit(account));
    reply.headers(rateLimitHeaders(decision));
    if (!decision.allowed) {
      throw refusal(
        decision,
        `Rate limit of ${decision.limit} requests per minute reached; retry in ${decision.retryAfterSeconds} s.`,
      );
    }
  }

  /** Publishing, once the body is read: one token per event, all or none. */
  publishing(reply: FastifyReply, account: LimitedAccount, events: number): void {
    const perMinute = this.publishLimit(account);
    if (perMinute === null) {
      reply.headers(rateLimitHeaders(this.peekApi(account)));
      return;
    }
    const decision = this.publish.take(account.id, events, Date.now(), perMinute);
    reply.headers(rateLimitHeaders(decision));
    if (decision.allowed) return;
    if (events > decision.limit) {
      throw refusal(
        decision,
        `A batch of ${events} events is more than the publish limit of ${decision.limit} events per minute; send at most ${decision.limit} at a time.`,
      );
    }
    throw refusal(
      decision,
      `Publish limit of ${decision.limit} events per minute reached (${decision.remaining} left, ${events} sent); retry in ${decision.retryAfterSeconds} s.`,
    );
  }

  /** onSend: an answer that no bucket described yet gets the one that applies to it. */
  fill(request: FastifyRequest, reply: FastifyReply, publishRoute: boolean): void {
    if (reply.hasHeader(LIMIT_HEADER)) return;
    const account = request.account;
    if (account === undefined) {
      reply.headers(rateLimitHeaders(this.authFailures.peek(request.ip)));
      return;
    }
    const publishLimit = publishRoute ? this.publishLimit(account) : null;
    const decision: RateDecision =
      publishLimit === null
        ? this.peekApi(account)
        : this.publish.peek(account.id, Date.now(), publishLimit);
    reply.headers(rateLimitHeaders(decision));
  }
}

function refusal(decision: RateDecision, message: string): ApiError {
  return new ApiError('rate_limited', message, {
    'retry-after': String(decision.retryAfterSeconds),
  });
}

/** How many events a publish body carries: its `events` list, or one. */
export function eventCount(body: unknown): number {
  const events = (body as { events?: unknown } | null)?.events;
  return Array.isArray(events) ? events.length : 1;
}
