// Schemas shared by several route modules.
import { Type, type TSchema } from '@sinclair/typebox';

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
