// Which bucket counts a request, and which one its X-RateLimit-* headers describe. Every answer
// carries them (SPEC §5):
// - management API routes: the account's API bucket, after taking one token;
// - publishing: the account's publish bucket, after taking one token per event, all or none
//   (a batch of N takes N); with no publish limit, as for routes no limit counts (event
//   streams), the account's API bucket as it stands, untouched;
// - answers with no account (public routes, the admin API, failed authentication): the caller
//   address's budget of failed authentications, which a wrong key or token spends.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { ApiError } from './errors.js';
import { RateLimiter, rateLimitHeaders, type RateDecision } from './rate-limit.js';

type LimitConfig = Pick<Config, 'apiRateLimit' | 'publishRateLimit' | 'authFailureLimit'>;

const LIMIT_HEADER = 'x-ratelimit-limit';

export class Limits {
  private readonly api: RateLimiter;
  private readonly publish: RateLimiter | null;
  private readonly authFailures: RateLimiter;

  constructor(config: LimitConfig) {
    this.api = new RateLimiter(config.apiRateLimit);
    this.publish =
      config.publishRateLimit === null ? null : new RateLimiter(config.publishRateLimit);
    this.authFailures = new RateLimiter(config.authFailureLimit);
  }

  /**
   * Runs `check` (which throws `unauthorized` on a wrong credential). An address that spent its
   * budget of failures is refused before its credential is even looked at, so a guess cannot
   * tell a right answer from a wrong one either; each failure spends one token.
   */
  async authenticate(
    request: FastifyRequest,
    reply: FastifyReply,
    check: () => Promise<void> | void,
  ): Promise<void> {
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
      await check();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'unauthorized') {
        reply.headers(rateLimitHeaders(this.authFailures.take(request.ip)));
      }
      throw err;
    }
  }

  /** A management API call takes one token; other account routes show the bucket untouched. */
  account(reply: FastifyReply, accountId: string, counted: boolean): void {
    if (!counted) {
      reply.headers(rateLimitHeaders(this.api.peek(accountId)));
      return;
    }
    const decision = this.api.take(accountId);
    reply.headers(rateLimitHeaders(decision));
    if (!decision.allowed) {
      throw refusal(
        decision,
        `Rate limit of ${decision.limit} requests per minute reached; retry in ${decision.retryAfterSeconds} s.`,
      );
    }
  }

  /** Publishing, once the body is read: one token per event, all or none. */
  publishing(reply: FastifyReply, accountId: string, events: number): void {
    if (this.publish === null) {
      reply.headers(rateLimitHeaders(this.api.peek(accountId)));
      return;
    }
    const decision = this.publish.take(accountId, events);
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
    const accountId = request.account?.id;
    const decision: RateDecision =
      accountId === undefined
        ? this.authFailures.peek(request.ip)
        : publishRoute && this.publish !== null
          ? this.publish.peek(accountId)
          : this.api.peek(accountId);
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
