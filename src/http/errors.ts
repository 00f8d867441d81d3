// The one registry of API errors: a stable snake_case code, its HTTP status, and a default
// message a person can act on. README's error table is checked against this list by a test.

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
