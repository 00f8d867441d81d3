// The dashboard's only way to the server: the public REST API on the same origin, with the
// account's API key as a bearer token. Credentials are omitted so no cookie ever travels.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof Error) return new ApiError(0, 'client_error', error.message);
  return new ApiError(0, 'client_error', 'Something went wrong.');
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface Api {
  get<T>(path: string, signal?: AbortSignal): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
  delete(path: string): Promise<void>;
}

const FALLBACK_MESSAGES: Record<number, string> = {
  401: 'That API key was not accepted.',
  404: 'Not found. It may have been deleted.',
  429: 'Too many requests. Wait a moment and try again.',
  503: 'The service is unavailable right now. Try again in a few seconds.',
};

export async function request<T>(
  apiKey: string,
  method: Method,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  const headers: Record<string, string> = {
    Accept: 'application/json',
    Authorization: `Bearer ${apiKey}`,
  };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(
      0,
      'network_error',
      'Could not reach the server. Check your connection and try again.',
    );
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  if (!response.ok) {
    const apiError = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)
      ?.error;
    const code = typeof apiError?.code === 'string' ? apiError.code : `http_${response.status}`;
    let message =
      typeof apiError?.message === 'string'
        ? apiError.message
        : (FALLBACK_MESSAGES[response.status] ??
          `The server answered ${response.status} ${response.statusText}.`.replace(' .', '.'));
    const retryAfter = response.headers.get('Retry-After');
    if (response.status === 429 && retryAfter && !/retry/i.test(message)) {
      message += ` Retry after ${retryAfter} s.`;
    }
    throw new ApiError(response.status, code, message);
  }
  return parsed as T;
}

/** A client bound to one API key; `onUnauthorized` runs when the key stops being accepted. */
export function createApi(apiKey: string, onUnauthorized: () => void): Api {
  const call = async <T>(method: Method, path: string, body?: unknown, signal?: AbortSignal) => {
    try {
      return await request<T>(apiKey, method, path, body, signal);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) onUnauthorized();
      throw error;
    }
  };
  return {
    get: (path, signal) => call('GET', path, undefined, signal),
    post: (path, body) => call('POST', path, body ?? {}),
    patch: (path, body) => call('PATCH', path, body),
    delete: (path) => call<void>('DELETE', path),
  };
}

/** Builds a query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
