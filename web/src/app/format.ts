// How numbers and times read on screen. Every function accepts null for "no data".

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function formatPercent(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return '—';
  const percent = rate * 100;
  if (percent === 100 || percent === 0) return `${percent}%`;
  return `${percent.toFixed(1)}%`;
}

const TIME_PARTS = {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
} as const;
const dateTimeThisYear = new Intl.DateTimeFormat(undefined, TIME_PARTS);
const dateTimeWithYear = new Intl.DateTimeFormat(undefined, { ...TIME_PARTS, year: 'numeric' });

/** "Nov 28, 06:11:04 PM", with the year only when it is not this year. */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const format =
    date.getFullYear() === new Date().getFullYear() ? dateTimeThisYear : dateTimeWithYear;
  return format.format(date);
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export function formatRelative(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '—';
  const time = new Date(iso).getTime();
  if (Number.isNaN(time)) return iso;
  const seconds = Math.round((time - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 5) return seconds > 0 ? 'in a few seconds' : 'just now';
  if (abs < 60) return relative.format(seconds, 'second');
  if (abs < 3600) return relative.format(Math.round(seconds / 60), 'minute');
  if (abs < 86_400) return relative.format(Math.round(seconds / 3600), 'hour');
  return relative.format(Math.round(seconds / 86_400), 'day');
}

const REASONS: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  301: 'Moved Permanently',
  302: 'Found',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  410: 'Gone',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function formatStatusCode(code: number | null | undefined): string {
  if (code === null || code === undefined) return 'No response';
  const reason = REASONS[code];
  return reason ? `${code} ${reason}` : String(code);
}

export function isSuccessCode(code: number | null | undefined): boolean {
  return typeof code === 'number' && code >= 200 && code < 300;
}

/** Pretty-prints JSON text; other text is returned as it is. */
export function prettyBody(body: string | null | undefined): string {
  if (!body) return '';
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}
