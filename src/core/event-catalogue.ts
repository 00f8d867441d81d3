// The event catalogue of SPEC §2: the types (event-types.ts, data) and the validation of an
// event's `data` against its type's JSON Schema. It is the single source of the receiver's
// TypeScript types (src/receiver/event-types.ts is generated from it).
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { E164_PATTERN, findEventType, type EventTypeDefinition } from './event-types.js';

export * from './event-types.js';

// --- validation of `data` ---

export type EventDataValidation = { ok: true } | { ok: false; field: string; message: string };

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

// The three formats the catalogue uses, defined here rather than through ajv-formats (not a
// dependency of this package).
const FORMATS: Record<string, { check: (s: string) => boolean; expected: string }> = {
  'date-time': {
    check: (s) => DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)),
    expected: 'an ISO-8601 date-time with a time zone, such as 2024-01-15T10:30:00Z',
  },
  uri: {
    check: (s) => URL.canParse(s),
    expected: 'an absolute URL, such as https://example.com/file.mp3',
  },
  email: { check: (s) => EMAIL.test(s), expected: 'an email address, such as sam@example.com' },
};

const PATTERNS: Record<string, string> = {
  [E164_PATTERN]: 'a phone number in E.164 format, such as +14155550123',
};

let ajv: Ajv | undefined;
const validators = new Map<string, ValidateFunction>();

function validatorFor(definition: EventTypeDefinition): ValidateFunction {
  let validate = validators.get(definition.name);
  if (validate === undefined) {
    ajv ??= new Ajv({ allowUnionTypes: true, formats: formatValidators() });
    validate = ajv.compile(definition.schema);
    validators.set(definition.name, validate);
  }
  return validate;
}

function formatValidators(): Record<string, (s: string) => boolean> {
  return Object.fromEntries(Object.entries(FORMATS).map(([name, f]) => [name, f.check]));
}

/** Validates an event's `data` against its type's schema; names the first failing field. */
export function validateEventData(eventType: string, data: unknown): EventDataValidation {
  const definition = findEventType(eventType);
  if (definition === undefined) {
    return {
      ok: false,
      field: 'event',
      message: `event ${JSON.stringify(eventType)} is not a known event type`,
    };
  }
  const validate = validatorFor(definition);
  if (validate(data)) return { ok: true };
  const error = validate.errors?.[0];
  if (error === undefined) return { ok: false, field: 'data', message: 'data is invalid' };
  return describe(error, data);
}

function describe(
  error: ErrorObject,
  data: unknown,
): { ok: false; field: string; message: string } {
  let field = jsonPath(error.instancePath, data);
  const params = error.params as Record<string, unknown>;
  let problem: string;
  switch (error.keyword) {
    case 'required':
      field = `${field}${pathSegment(String(params.missingProperty), false)}`;
      problem = 'is required';
      break;
    case 'type':
      problem = `must be ${expectedTypes(String(params.type))}`;
      break;
    case 'enum':
      problem = `must be one of: ${(params.allowedValues as unknown[]).map(String).join(', ')}`;
      break;
    case 'format': {
      const format = FORMATS[String(params.format)];
      problem = `must be ${format?.expected ?? `in ${String(params.format)} format`}`;
      break;
    }
    case 'pattern': {
      const pattern = String(params.pattern);
      problem = `must be ${PATTERNS[pattern] ?? `a string matching ${pattern}`}`;
      break;
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      problem = `must be ${BOUND_WORDS[error.keyword]} ${String(params.limit)}`;
      break;
    case 'minLength':
      problem =
        params.limit === 1
          ? 'must not be empty'
          : `must be at least ${String(params.limit)} characters long`;
      break;
    default:
      problem = error.message ?? 'is invalid';
  }
  return { ok: false, field, message: `${field} ${problem}` };
}

const BOUND_WORDS: Record<string, string> = {
  minimum: 'at least',
  maximum: 'at most',
  exclusiveMinimum: 'greater than',
  exclusiveMaximum: 'less than',
};

const TYPE_WORDS: Record<string, string> = {
  integer: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

function expectedTypes(types: string): string {
  return types
    .split(',')
    .map((t) => TYPE_WORDS[t] ?? t)
    .join(' or ');
}

/** `/segments/0/start` → `data.segments[0].start`, walking `data` to tell indexes from keys. */
function jsonPath(pointer: string, data: unknown): string {
  let path = 'data';
  let node = data;
  if (pointer === '') return path;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const isIndex = Array.isArray(node);
    path += pathSegment(key, isIndex);
    node =
      node !== null && typeof node === 'object'
        ? (node as Record<string, unknown>)[key]
        : undefined;
  }
  return path;
}

function pathSegment(key: string, isIndex: boolean): string {
  if (isIndex) return `[${key}]`;
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
