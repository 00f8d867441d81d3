// Durations as operators write them in settings: `500ms`, `5s`, `1m`, `2h`, `7d`.
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/** Milliseconds of one duration; throws with the offending text when it does not parse. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) {
    throw new Error(`"${text}" is not a duration; write it like 500ms, 5s, 1m, 2h or 7d`);
  }
  return Math.round(Number(match[1]) * UNITS[match[2]!]!);
}

/** A comma-separated list of durations, e.g. the retry schedule `1m,5m,30m,2h,6h`. */
export function parseDurationList(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  return trimmed.split(',').map(parseDuration);
}
