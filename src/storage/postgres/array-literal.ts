// Array parameters as PostgreSQL array literals, written here rather than by node-postgres.
// The engine passes every batch as columns (`unnest($1::text[], $2::bigint[], ...)`), some
// twenty array elements a delivery. node-postgres builds each literal one element at a time:
// a quoted copy of every element, two regular-expression replaces of it, and a string
// concatenation per step. The heap sampler put that at 9 KB of the 23 KB the worker's thread
// allocated a delivery (PostgreSQL bench, ten endpoints), and every kilobyte brings V8's next
// minor collection nearer. Here an array of plain strings (ids) or of numbers, nearly all of
// it, is joined natively in one step; any other array is written element by element, each
// string quoted once (JSON.stringify, or one replace where that would not do).

const ESCAPED = /["\\]/g;
const NEEDS_ESCAPE = /["\\]/;
/** What JSON.stringify writes otherwise than an array literal does (`\n`, `\ud800`). */
// eslint-disable-next-line no-control-regex -- the control characters are what it looks for
const JSON_ESCAPED = /[\u0000-\u001f\ud800-\udfff]/;

/**
 * An element in double quotes, its quotes and backslashes escaped. JSON.stringify writes just
 * that for a string without control characters or surrogates, natively: a global replace
 * allocated 4.5 KB for each attempt's request headers (heap sampler, bench).
 */
function quoted(v: string): string {
  return JSON_ESCAPED.test(v) ? `"${v.replace(ESCAPED, '\\$&')}"` : JSON.stringify(v);
}

/**
 * The literal for a one-dimensional array of strings, numbers, booleans and nulls, as the
 * server reads it for any element type (`'{"a","b\\"c",NULL}'`, `'{1,2,3}'`). Undefined for
 * anything else (nested arrays, bytes, objects, dates): node-postgres writes those as before.
 */
export function arrayLiteral(values: readonly unknown[]): string | undefined {
  const n = values.length;
  if (n === 0) return '{}';
  let plainStrings = true;
  let finiteNumbers = true;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (typeof v === 'string') {
      finiteNumbers = false;
      if (NEEDS_ESCAPE.test(v)) plainStrings = false;
    } else if (typeof v === 'number' && Number.isFinite(v)) {
      plainStrings = false;
    } else {
      plainStrings = false;
      finiteNumbers = false;
    }
    if (!plainStrings && !finiteNumbers) break;
  }
  if (plainStrings) return `{"${values.join('","')}"}`;
  if (finiteNumbers) return `{${values.join(',')}}`;
  const parts: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) parts[i] = 'NULL';
    else if (typeof v === 'string') parts[i] = quoted(v);
    // NaN and the infinities as node-postgres sends them: the float types read them quoted.
    else if (typeof v === 'number' || typeof v === 'bigint') parts[i] = `"${String(v)}"`;
    else if (typeof v === 'boolean') parts[i] = v ? 'true' : 'false';
    else return undefined;
  }
  return `{${parts.join(',')}}`;
}

/**
 * The statement's parameters with each array of plain values written as its literal; the
 * same array when there is none, so a statement without arrays costs no copy.
 */
export function withArrayLiterals(values: readonly unknown[]): unknown[] {
  let out: unknown[] | null = null;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Array.isArray(v)) continue;
    const literal = arrayLiteral(v);
    if (literal === undefined) continue;
    out ??= values.slice();
    out[i] = literal;
  }
  return out ?? (values as unknown[]);
}
