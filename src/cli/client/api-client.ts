// The CLI's client of the Rizler Webhooks API: where it is (RIZLER_API_URL), as whom
// (RIZLER_API_KEY), and every failure turned into a sentence that says what to do.

/** A failure the user can act on: the CLI prints its message alone and exits with 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
  /** Worth trying again later (the server is down or busy), unlike a wrong key or bad input. */
  readonly transient: boolean;

  constructor(message: string, options: { cause?: unknown; transient?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.transient = options.transient ?? false;
  }
}

export const DEFAULT_API_URL = 'http://localhost:8080';

export interface ClientSettings {
  apiUrl: string;
  apiKey: string;
}

export function clientSettings(env: NodeJS.ProcessEnv = process.env): ClientSettings {
  const apiUrl = (env.RIZLER_API_URL?.trim() || DEFAULT_API_URL).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/i.test(apiUrl)) {
    throw new CliError(
      `RIZLER_API_URL must be the http(s) address of the Rizler Webhooks API, such as ${DEFAULT_API_URL}; it is "${apiUrl}".`,
    );
  }
  const apiKey = env.RIZLER_API_KEY?.trim() ?? '';
  if (apiKey === '') {
    throw new CliError(
      "Set RIZLER_API_KEY to an account's API key (`rizler-webhooks accounts create --name NAME` prints one; `serve` prints the default account's at first start).",
    );
  }
  return { apiUrl, apiKey };
}

/** Why a connection failed, in words; `code` is the system error (ECONNREFUSED, …) if any. */
function networkCause(err: unknown): { code: string | undefined; reason: string } {
  let e = err as { code?: string; message?: string; cause?: unknown } | undefined;
  while (e && e.code === undefined && e.cause !== undefined) {
    e = e.cause as typeof e;
  }
  return { code: e?.code, reason: e?.message ?? String(err) };
}

export class ApiClient {
  constructor(private readonly settings: ClientSettings) {}

  get apiUrl(): string {
    return this.settings.apiUrl;
  }

  /** A JSON call; resolves with the parsed answer of a 2xx, throws a CliError otherwise. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw this.refusal(response.status, text);
    return (text === '' ? null : JSON.parse(text)) as T;
  }

  /**
   * Opens a server-sent-event stream; resolves once the server answered 200 with its headers.
   * An error answer becomes a CliError; a connection that cannot be made, a network error.
   */
  async openStream(
    path: string,
    options: { signal: AbortSignal; lastEventId?: string | null },
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.lastEventId) headers['last-event-id'] = options.lastEventId;
    const response = await this.fetch(path, { headers, signal: options.signal });
    if (!response.ok) throw this.refusal(response.status, await response.text());
    return response;
  }

  /** fetch with the key, turning "cannot connect" into the sentence a person needs. */
  async fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(this.settings.apiUrl + path, {
        ...init,
        headers: {
          ...(init.headers as Record<string, string>),
          authorization: `Bearer ${this.settings.apiKey}`,
        },
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw this.unreachable(err);
    }
  }

  unreachable(err: unknown): CliError {
    const { code, reason } = networkCause(err);
    const detail = code === 'ECONNREFUSED' ? '' : ` (${reason})`;
    return new CliError(
      `cannot reach the Rizler Webhooks API at ${this.settings.apiUrl}${detail}; is it running? (set RIZLER_API_URL)`,
      { cause: err, transient: true },
    );
  }

  private refusal(status: number, text: string): CliError {
    let code = '';
    let message = text.slice(0, 500);
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
      code = body.error?.code ?? '';
      message = body.error?.message ?? message;
    } catch {
      // not the API's JSON (a proxy's page?): show the start of it
    }
    if (status === 401) {
      return new CliError(
        `The API at ${this.settings.apiUrl} refused RIZLER_API_KEY (401 unauthorized): ${message} Check that RIZLER_API_KEY is an API key of this server's account.`,
      );
    }
    if (status === 404 && code === '') {
      return new CliError(
        `${this.settings.apiUrl} answered 404: is RIZLER_API_URL the Rizler Webhooks API (and is it recent enough for this command)?`,
      );
    }
    return new CliError(
      `The API refused the request (${status}${code ? ` ${code}` : ''}): ${message}`,
      { transient: status >= 500 || status === 429 },
    );
  }
}
