// rizler-webhooks/client: a typed client of the whole API for publishers and operators. The
// types are generated from docs/openapi.json (./schema.ts, `npm run openapi`); openapi-fetch
// makes every path, parameter, body and answer of the document a typed call. On top of it:
// the API key, retries on 429 and 503 that wait as long as Retry-After says, an
// Idempotency-Key on every publish (so a retried publish never publishes twice), for the key's
// account or, with the admin token, for any account (SPEC §9), and an iterator over paginated
// lists. Loads nothing of the server.
import { randomUUID } from 'node:crypto';
import createClient, { type Client } from 'openapi-fetch';
import type { paths } from './schema.js';

export type { paths, components, operations } from './schema.js';

export interface RizlerClientOptions {
  /** Where the API is, e.g. https://webhooks.example.com (no trailing /v1). */
  baseUrl: string;
  /** An account's API key, or the admin token for the admin routes. */
  apiKey: string;
  /** Attempts after the first on 429 and 503; default 3. */
  retries?: number;
  /** Longest wait for one retry, whatever Retry-After asks, in ms; default 30 000. */
  maxRetryDelayMs?: number;
  /** The fetch to use; default globalThis.fetch. */
  fetch?: typeof globalThis.fetch;
}

/** An answer of the API outside 2xx, with the API's error code and message. */
export class RizlerApiError extends Error {
  override readonly name = 'RizlerApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Json<T> = T extends { content: { 'application/json': infer B } } ? B : never;
type ListPath = {
  [P in keyof paths]: paths[P] extends {
    get: {
      responses: { 200: { content: { 'application/json': { next_cursor: string | null } } } };
    };
  }
    ? P
    : never;
}[keyof paths];
type ListGet<P extends ListPath> = paths[P] extends { get: infer G } ? G : never;
type ListAnswer<P extends ListPath> =
  ListGet<P> extends { responses: { 200: infer R } } ? Json<R> : never;
/** The item type of a paginated list path. */
export type ListItem<P extends ListPath> = ListAnswer<P> extends { data: (infer I)[] } ? I : never;
/** The query of a paginated list path, without the cursor the iterator manages. */
export type ListQuery<P extends ListPath> = Omit<
  NonNullable<ListGet<P> extends { parameters: { query?: infer Q } } ? Q : never>,
  'cursor'
>;
/** The path parameters of a paginated list path (`{id}` of an account's audit log). */
export type ListParams<P extends ListPath> = NonNullable<
  ListGet<P> extends { parameters: { path?: infer A } } ? A : never
>;

type PublishBody = Json<paths['/v1/events']['post']['requestBody']>;
type Published = Json<paths['/v1/events']['post']['responses'][202]>;
type BatchBody = Json<paths['/v1/events/batch']['post']['requestBody']>;
type BatchPublished = Json<paths['/v1/events/batch']['post']['responses'][202]>;

/** Seconds or an HTTP date, as Retry-After allows; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (header === null || header.trim() === '') return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * A fetch that sends a request again after a 429 or 503, waiting what Retry-After asks (1 s
 * when it says nothing), at most `retries` times. 429 and 503 mean the API did nothing: the
 * rate limit refused the request before it ran, or the database could not be reached.
 */
function retrying(
  fetchImpl: typeof globalThis.fetch,
  retries: number,
  maxDelayMs: number,
): (request: Request) => Promise<Response> {
  return async (request) => {
    for (let attempt = 0; ; attempt++) {
      const response = await fetchImpl(request.clone());
      if ((response.status !== 429 && response.status !== 503) || attempt >= retries) {
        return response;
      }
      const wait = Math.min(retryAfterMs(response.headers.get('retry-after')) ?? 1000, maxDelayMs);
      await response.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  };
}

export interface PublishOptions {
  /** The Idempotency-Key: your own (an order id…) to make your retries safe too. */
  idempotencyKey?: string;
  /** Publish for this account, with the admin token (the operator's publish on behalf). */
  accountId?: string;
}

export interface RizlerClient {
  /** Every operation of the document, typed: `api.GET('/v1/webhooks/{id}', {params: …})`. */
  api: Client<paths>;
  /**
   * Publishes one event; the Idempotency-Key (random unless given) makes retries safe. With
   * `accountId` (and the admin token), publishes for that account: POST /v1/accounts/{id}/events.
   */
  publish(event: PublishBody, options?: PublishOptions): Promise<Published>;
  /**
   * Publishes up to 1000 events, all or nothing; each gets a random idempotency_key unless it
   * has one. With `accountId` (and the admin token), for that account.
   */
  publishBatch(
    events: BatchBody['events'],
    options?: Pick<PublishOptions, 'accountId'>,
  ): Promise<BatchPublished>;
  /** Every item of a paginated list, page after page, newest first. */
  paginate<P extends ListPath>(
    path: P,
    query?: ListQuery<P> & { limit?: number },
    params?: ListParams<P>,
  ): AsyncGenerator<ListItem<P>, void, undefined>;
}

/** Throws RizlerApiError unless the answer is a success; returns its body. */
function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.response.ok) return result.data as T;
  const body = result.error as { error?: { code?: string; message?: string } } | undefined;
  throw new RizlerApiError(
    result.response.status,
    body?.error?.code ?? 'http_error',
    body?.error?.message ?? `The API answered ${result.response.status}.`,
  );
}

export function createRizlerClient(options: RizlerClientOptions): RizlerClient {
  const api = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    headers: { authorization: `Bearer ${options.apiKey}` },
    fetch: retrying(
      options.fetch ?? globalThis.fetch,
      options.retries ?? 3,
      options.maxRetryDelayMs ?? 30_000,
    ),
  });
  return {
    api,
    async publish(event, { idempotencyKey = randomUUID(), accountId } = {}) {
      const header = { 'idempotency-key': idempotencyKey };
      return unwrap(
        accountId === undefined
          ? await api.POST('/v1/events', { body: event, params: { header } })
          : await api.POST('/v1/accounts/{id}/events', {
              body: event,
              params: { header, path: { id: accountId } },
            }),
      );
    },
    async publishBatch(events, { accountId } = {}) {
      // Each event carries its own key, so a retried batch returns the events it made.
      const body = {
        events: events.map((e) => ({ ...e, idempotency_key: e.idempotency_key ?? randomUUID() })),
      };
      return unwrap(
        accountId === undefined
          ? await api.POST('/v1/events/batch', { body })
          : await api.POST('/v1/accounts/{id}/events/batch', {
              body,
              params: { path: { id: accountId } },
            }),
      );
    },
    async *paginate(path, query, params) {
      let cursor: string | undefined;
      do {
        // openapi-fetch cannot type a call generic over the path; the signature above is.
        const get = api.GET as unknown as (
          p: string,
          init: { params: { query: Record<string, unknown>; path?: Record<string, unknown> } },
        ) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
        const page = unwrap(
          await get(path, {
            params: {
              query: { ...query, ...(cursor ? { cursor } : {}) },
              ...(params ? { path: params as Record<string, unknown> } : {}),
            },
          }),
        ) as { data: ListItem<typeof path>[]; next_cursor: string | null };
        yield* page.data;
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
    },
  };
}
