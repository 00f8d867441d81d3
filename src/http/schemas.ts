// Schemas shared by several route modules.
import { Type, type TSchema } from '@sinclair/typebox';
import { ApiError } from './errors.js';

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'Stable snake_case code.' }),
      message: Type.String({ description: 'A sentence a person can act on.' }),
    }),
  },
  { $id: 'Error' },
);

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, Type.Ref('Error')]));

export const IdParams = Type.Object({ id: Type.String({ maxLength: 100 }) });

export const DateTime = Type.String({
  format: 'date-time',
  maxLength: 64,
  description: 'ISO-8601 date and time',
});

export function listOf<T extends TSchema>(item: T) {
  return Type.Object({
    data: Type.Array(item),
    next_cursor: Type.Union([Type.String(), Type.Null()]),
  });
}

/**
 * Milliseconds of a date-time query or body field. The schema's format accepts forms that
 * Date cannot read (a leap second, 23:59:60): those are refused, never read as "no filter".
 */
export function parseTime(value: string, field: string): number;
export function parseTime(value: string | undefined, field: string): number | undefined;
export function parseTime(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new ApiError(
      'validation_error',
      `${field} must be an ISO-8601 date and time, e.g. 2024-01-15T10:30:00Z.`,
    );
  }
  return ms;
}
