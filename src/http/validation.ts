// What the edge accepts. Every route's schema is tightened once, when the route is added:
// - a body or query object takes only the fields it names (a typo such as `?stauts=` or `evnts`
//   is refused, not ignored);
// - no string anywhere in a request (body, query, path, headers) may hold a NUL character:
//   PostgreSQL text cannot store one, and no person means one;
// and bodies are validated without type coercion (a numeric `secret` is an error, not a string
// of other digits), while the query, path and headers, which arrive as text, still read numbers.
import { AjvCompiler, type BuildCompilerFromPool } from '@fastify/ajv-compiler';
import type { FastifySchema, RouteOptions } from 'fastify';

/** A string without NUL. */
export const NO_NUL = '^[^\\u0000]*$';

type Schema = Record<string, unknown>;
type Part = 'body' | 'querystring' | 'params' | 'headers';

const isSchema = (value: unknown): value is Schema =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function guardString(schema: Schema): void {
  if (schema.const !== undefined || schema.enum !== undefined || schema.format !== undefined) {
    return;
  }
  if (schema.pattern === undefined) {
    schema.pattern = NO_NUL;
    return;
  }
  if (schema.pattern === NO_NUL) return;
  const all = Array.isArray(schema.allOf) ? (schema.allOf as Schema[]) : [];
  if (!all.some((s) => s.pattern === NO_NUL)) schema.allOf = [...all, { pattern: NO_NUL }];
}

/** Walks one request part's schema in place; `close` shuts objects to unknown fields. */
function tighten(schema: unknown, close: boolean, seen: Set<Schema>): void {
  if (!isSchema(schema) || seen.has(schema)) return;
  seen.add(schema);
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.includes('string')) guardString(schema);
  if (isSchema(schema.properties)) {
    if (close && schema.additionalProperties === undefined && !schema.patternProperties) {
      schema.additionalProperties = false;
    }
    for (const child of Object.values(schema.properties)) tighten(child, close, seen);
  }
  if (isSchema(schema.patternProperties)) {
    schema.propertyNames ??= { pattern: NO_NUL };
    for (const child of Object.values(schema.patternProperties)) tighten(child, close, seen);
  }
  if (isSchema(schema.additionalProperties)) tighten(schema.additionalProperties, close, seen);
  if (isSchema(schema.items)) tighten(schema.items, close, seen);
  for (const key of ['anyOf', 'oneOf', 'allOf', 'prefixItems']) {
    const list = schema[key];
    if (Array.isArray(list)) for (const child of list) tighten(child, close, seen);
  }
}

/** The onRoute step: called once per route, before its validators are compiled. */
export function tightenRoute(route: RouteOptions): void {
  const schema = route.schema as (FastifySchema & Partial<Record<Part, unknown>>) | undefined;
  if (!schema) return;
  const seen = new Set<Schema>();
  tighten(schema.body, true, seen);
  tighten(schema.querystring, true, seen);
  // Path parameters are closed by the route itself; headers always carry others.
  tighten(schema.params, false, seen);
  tighten(schema.headers, false, seen);
}

const COMMON = { useDefaults: true, removeAdditional: false, allErrors: false } as const;

/** Fastify's schemaController factory: one validator for bodies, one for the text parts. */
export const buildValidator: BuildCompilerFromPool = (externalSchemas) => {
  const factory = AjvCompiler();
  const strict = factory(externalSchemas, { customOptions: { ...COMMON, coerceTypes: false } });
  // `array`: `?status=a` reads as ["a"] where a list is wanted, and "10" as a number.
  const text = factory(externalSchemas, { customOptions: { ...COMMON, coerceTypes: 'array' } });
  return (route) => (route.httpPart === 'body' ? strict(route) : text(route));
};

interface AjvErrorObject {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** `/events/2/data` → `events[2].data` */
function fieldName(instancePath: string): string {
  return instancePath
    .split('/')
    .filter((s) => s !== '')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((out, s) => (/^\d+$/.test(s) ? `${out}[${s}]` : out ? `${out}.${s}` : s), '');
}

/**
 * The validation message a person can act on, naming the field; null to keep Fastify's own.
 */
export function describeValidationError(
  errors: unknown[],
  context: string | undefined,
): string | null {
  const first = errors[0] as AjvErrorObject | undefined;
  if (!first) return null;
  const field = fieldName(first.instancePath);
  const inQuery = context === 'querystring';
  if (first.keyword === 'additionalProperties') {
    const name = String(first.params.additionalProperty);
    const full = field ? `${field}.${name}` : name;
    return inQuery
      ? `Unknown query parameter "${full}"; this route does not take it.`
      : `Unknown field "${full}" in the ${context ?? 'request'}; check its spelling.`;
  }
  if (first.keyword === 'pattern' && first.params.pattern === NO_NUL) {
    const where = inQuery ? 'query parameter ' : context === 'params' ? 'path ' : '';
    return `${where}${field || 'the value'} must not contain a NUL character.`;
  }
  if (first.keyword === 'propertyNames') {
    return `${field || 'the object'} has a key with a NUL character.`;
  }
  return null;
}
