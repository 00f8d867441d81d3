// The one registry of API errors: a stable snake_case code, its HTTP status, and a default
// message a person can act on. README's error table is checked against this list by a test.
// Below it, the one mapping of whatever a request can throw (ours, Fastify's, storage's, Node's
// HTTP parser's) onto that registry, and the handlers that answer with it.
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { IdempotencyConflictError } from '../storage/idempotency.js';
import { StorageUnavailableError } from '../storage/index.js';
import { describeValidationError } from './validation.js';

export const API_ERRORS = {
  invalid_json: { status: 400, message: 'The request body is not valid JSON.' },
  validation_error: { status: 400, message: 'The request is not valid.' },
  unauthorized: {
    status: 401,
    message: 'Send a valid API key as "Authorization: Bearer <api key>".',
  },
  forbidden: {
    status: 403,
    message: 'This credential lacks the scope this route needs.',
  },
  account_suspended: {
    status: 403,
    message: 'This account is suspended; the platform operator can resume it.',
  },
  not_found: { status: 404, message: 'There is no such object in this account.' },
  endpoint_limit_reached: {
    status: 409,
    message: 'This account has reached its endpoint limit; delete an endpoint first.',
  },
  idempotency_conflict: {
    status: 409,
    message:
      'This Idempotency-Key was used within 24 h for a different event; use a new key for a new event.',
  },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unknown_event_type: {
    status: 422,
    message: 'Unknown event type; GET /v1/event-types lists the known ones.',
  },
  invalid_url: { status: 422, message: 'The endpoint URL cannot be used.' },
  invalid_event_data: { status: 422, message: 'The event data does not match its schema.' },
  rate_limited: { status: 429, message: 'Too many requests; wait for Retry-After seconds.' },
  internal_error: {
    status: 500,
    message: 'Something went wrong on our side; the request was logged.',
  },
  service_unavailable: {
    status: 503,
    message: 'The database cannot be reached right now; try again in a few seconds.',
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ApiErrorCode,
    message?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message ?? API_ERRORS[code].message);
    this.status = API_ERRORS[code].status;
    this.name = 'ApiError';
  }
}

export function errorBody(code: ApiErrorCode, message?: string) {
  return { error: { code, message: message ?? API_ERRORS[code].message } };
}

export const notFound = (what: string) =>
  new ApiError('not_found', `No ${what} with that id in this account.`);

/** Seconds a client should wait before trying again while the database is unreachable. */
const UNAVAILABLE_RETRY_AFTER = '5';

/** The database cannot be reached: 503 with Retry-After, so clients back off (SPEC §4). */
export const unavailable = () =>
  new ApiError('service_unavailable', undefined, { 'retry-after': UNAVAILABLE_RETRY_AFTER });

/** Answers with the error's status, headers and body. */
export function sendApiError(reply: FastifyReply, error: ApiError): FastifyReply {
  return reply.code(error.status).headers(error.headers).send(errorBody(error.code, error.message));
}

/** A validation failure of Fastify's, as one sentence naming the field. */
function validationError(
  validation: unknown[],
  context: string | undefined,
  message: string,
): ApiError {
  const described = describeValidationError(validation, context);
  if (described !== null) return new ApiError('validation_error', described);
  const where = context === 'body' ? '' : `${context ?? 'request'} `;
  return new ApiError(
    'validation_error',
    `${where}${message.replace(/^(body|querystring|params|headers)\/?/, '')}`
      .trim()
      .replace(/^\//, '') + '.',
  );
}

/** Turns any thrown error into the API's error; 5xx ones say nothing internal. */
export function toApiError(error: FastifyError | Error): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof StorageUnavailableError) return unavailable();
  if (error instanceof IdempotencyConflictError) {
    return new ApiError(
      'idempotency_conflict',
      `The Idempotency-Key ${JSON.stringify(error.key)} was used within 24 h for an event with another type or data; use a new key for a new event.`,
    );
  }
  const e = error as FastifyError & { validation?: unknown[]; validationContext?: string };
  if (e.validation) return validationError(e.validation, e.validationContext, e.message);
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

/** The app's error handler: 4xx bodies explain, 5xx ones are logged in full and say nothing. */
export function handleError(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const apiError = toApiError(error as Error);
  if (apiError.status >= 500) request.log.error({ err: error }, 'request failed');
  return sendApiError(reply, apiError);
}

/**
 * Fastify options that give the API's shape to what fails before a route runs: errors Fastify
 * raises before routing (a malformed or over-long path), and requests Node's HTTP parser
 * refuses, which never reach Fastify and are answered on the socket.
 */
export const edgeErrorOptions = {
  frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
    const apiError =
      error.code === 'FST_ERR_BAD_URL' || error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? new ApiError('not_found', 'There is no object at that path.')
        : toApiError(error);
    void reply.code(apiError.status).send(errorBody(apiError.code, apiError.message));
  },
  clientErrorHandler(error: Error, socket: Socket) {
    if (!socket.writable) return;
    const tooLarge = (error as { code?: string }).code === 'HPE_HEADER_OVERFLOW';
    const body = JSON.stringify(
      errorBody(
        'validation_error',
        tooLarge ? 'The request headers are too large.' : 'The request is not valid HTTP.',
      ),
    );
    socket.end(
      `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\n` +
        `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `connection: close\r\n\r\n${body}`,
    );
  },
} satisfies Pick<FastifyServerOptions, 'frameworkErrors' | 'clientErrorHandler'>;
