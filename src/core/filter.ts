// Content filters (SPEC §11): a JSON object matched against an event's `{event, data}`,
// checked once and compiled into a predicate made of closures. Publishing calls the predicate;
// nothing walks the filter's JSON per event. Pure and free of Node: the dashboard's "try it"
// box imports this same file, so what the form shows is what the server does.

/** What a filter is matched against. */
export interface FilterSubject {
  event: string;
  data: unknown;
}

export type Predicate = (subject: FilterSubject) => boolean;

export type FilterCheck = { ok: true; predicate: Predicate } | { ok: false; message: string };

/** SPEC §11 limits: deeper or larger filters are refused when saved. */
export const MAX_FILTER_DEPTH = 8;
export const MAX_FILTER_BYTES = 4096;

export const FILTER_OPERATORS = [
  '$eq',
  '$neq',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$in',
  '$nin',
  '$startsWith',
  '$endsWith',
  '$exists',
  '$and',
  '$or',
  '$not',
] as const;
type Operator = (typeof FILTER_OPERATORS)[number];
const OPERATORS = new Set<string>(FILTER_OPERATORS);

type Matcher = (value: unknown) => boolean;

class FilterError extends Error {}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Structural equality of JSON values; key order does not matter. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

function depthOf(value: unknown): number {
  // Iterative: the check must not overflow the stack on a hostile input.
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) max = depth;
    if (max > MAX_FILTER_DEPTH) return max;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return max;
}

function segment(key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function isComparable(v: unknown): v is number | string {
  return typeof v === 'number' || typeof v === 'string';
}

/** A comparison holds only between two numbers or two strings. */
function compare(op: '$gt' | '$gte' | '$lt' | '$lte', operand: number | string): Matcher {
  const kind = typeof operand;
  switch (op) {
    case '$gt':
      return (v) => typeof v === kind && (v as number | string) > operand;
    case '$gte':
      return (v) => typeof v === kind && (v as number | string) >= operand;
    case '$lt':
      return (v) => typeof v === kind && (v as number | string) < operand;
    case '$lte':
      return (v) => typeof v === kind && (v as number | string) <= operand;
  }
}

/** Equality with a literal; scalars compare with ===, the rest structurally. */
function equals(expected: unknown): Matcher {
  if (expected === null || typeof expected !== 'object') return (v) => v === expected;
  return (v) => jsonEqual(v, expected);
}

/** The value is one of `list`, or, for an array value, shares an element with it. */
function memberOf(list: unknown[]): Matcher {
  const scalars = new Set(list.filter((v) => v === null || typeof v !== 'object'));
  const others = list.filter((v) => v !== null && typeof v === 'object');
  const one = (v: unknown) =>
    v === null || typeof v !== 'object' ? scalars.has(v) : others.some((o) => jsonEqual(o, v));
  return (v) => one(v) || (Array.isArray(v) && v.some(one));
}

function all(matchers: Matcher[]): Matcher {
  if (matchers.length === 1) return matchers[0]!;
  return (v) => {
    for (const m of matchers) if (!m(v)) return false;
    return true;
  };
}

function compileOperator(op: Operator, operand: unknown, path: string): Matcher {
  const where = `${path}.${op}`;
  switch (op) {
    case '$eq':
      return equals(operand);
    case '$neq': {
      const eq = equals(operand);
      return (v) => !eq(v);
    }
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte':
      if (!isComparable(operand)) {
        throw new FilterError(`${where} must be a number or a string`);
      }
      return compare(op, operand);
    case '$in':
    case '$nin': {
      if (!Array.isArray(operand)) throw new FilterError(`${where} must be an array of values`);
      const member = memberOf(operand);
      return op === '$in' ? member : (v) => !member(v);
    }
    case '$startsWith':
    case '$endsWith': {
      if (typeof operand !== 'string') throw new FilterError(`${where} must be a string`);
      return op === '$startsWith'
        ? (v) => typeof v === 'string' && v.startsWith(operand)
        : (v) => typeof v === 'string' && v.endsWith(operand);
    }
    case '$exists':
      if (typeof operand !== 'boolean') throw new FilterError(`${where} must be true or false`);
      return operand ? (v) => v !== undefined : (v) => v === undefined;
    case '$and':
    case '$or': {
      if (!Array.isArray(operand) || operand.length === 0) {
        throw new FilterError(`${where} must be a non-empty array of conditions`);
      }
      const parts = operand.map((c, i) => compileNode(c, `${where}[${i}]`));
      if (op === '$and') return all(parts);
      return (v) => {
        for (const m of parts) if (m(v)) return true;
        return false;
      };
    }
    case '$not': {
      const inner = compileNode(operand, where);
      return (v) => !inner(v);
    }
  }
}

/**
 * One node of the filter, applied to the value found where the node sits. An object is a
 * conjunction: `$` keys are operators on the value, other keys match the value's fields. Any
 * other JSON value must equal the value.
 */
function compileNode(node: unknown, path: string): Matcher {
  if (!isObject(node)) return equals(node);
  const keys = Object.keys(node);
  if (keys.length === 0) throw new FilterError(`${path} is an empty object; give it a condition`);
  const matchers: Matcher[] = [];
  for (const key of keys) {
    const child = node[key];
    if (key.startsWith('$')) {
      if (!OPERATORS.has(key)) {
        throw new FilterError(
          `${path} uses the unknown operator ${key}; use one of ${FILTER_OPERATORS.join(', ')}`,
        );
      }
      matchers.push(compileOperator(key as Operator, child, path));
      continue;
    }
    const field = compileNode(child, path + segment(key));
    matchers.push((v) => field(isObject(v) && Object.hasOwn(v, key) ? v[key] : undefined));
  }
  return all(matchers);
}

/**
 * Checks a filter and compiles it. Errors name the place (`filter.data.duration.$gte`) and what
 * is wrong, so the API can answer with them as they are.
 */
export function compileFilter(filter: unknown): FilterCheck {
  if (!isObject(filter)) {
    return { ok: false, message: 'filter must be a JSON object, or null for no filter' };
  }
  // Depth first, iteratively: JSON.stringify recurses, and a body of a few KiB can nest deep
  // enough to overflow the stack.
  if (depthOf(filter) > MAX_FILTER_DEPTH) {
    return {
      ok: false,
      message: `filter is nested more than ${MAX_FILTER_DEPTH} levels deep; flatten it`,
    };
  }
  const text = JSON.stringify(filter);
  if (new TextEncoder().encode(text).length > MAX_FILTER_BYTES) {
    return { ok: false, message: `filter is larger than ${MAX_FILTER_BYTES} bytes; simplify it` };
  }
  try {
    const match = compileNode(filter, 'filter');
    return { ok: true, predicate: (subject) => match(subject) };
  } catch (err) {
    if (err instanceof FilterError) return { ok: false, message: err.message };
    throw err;
  }
}

interface Compiled {
  version: number;
  text: string | null;
  predicate: Predicate | null;
}

/**
 * Compiled filters by webhook, each kept for the version (`updated_at`) and stored text it was
 * compiled from: a publish compiles an endpoint's filter once per change, not once per event.
 * The text is compared too (a string comparison, not a parse), so two changes within one
 * millisecond cannot leave a stale predicate. A stored filter that no longer compiles (never
 * expected: it was checked when saved) lets every event through rather than losing them.
 */
export class FilterCache {
  private readonly entries = new Map<string, Compiled>();

  predicateFor(webhookId: string, version: number, text: string | null): Predicate | null {
    const cached = this.entries.get(webhookId);
    if (cached && cached.version === version && cached.text === text) return cached.predicate;
    let predicate: Predicate | null = null;
    if (text !== null) {
      const compiled = compileFilter(JSON.parse(text));
      predicate = compiled.ok ? compiled.predicate : null;
    }
    this.entries.set(webhookId, { version, text, predicate });
    return predicate;
  }
}

/**
 * What an event's filters see, made at most once per event and only when an endpoint with a
 * filter is about to be asked: events to endpoints without filters never parse anything.
 */
export function filterSubject(event: {
  type: string;
  payload: string;
  data?: unknown;
}): () => FilterSubject {
  let subject: FilterSubject | null = null;
  return () =>
    (subject ??= {
      event: event.type,
      data:
        event.data !== undefined
          ? event.data
          : (JSON.parse(event.payload) as { data: unknown }).data,
    });
}
