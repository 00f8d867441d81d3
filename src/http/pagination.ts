// Cursor pagination. A cursor is the opaque form of the last id a page showed; ids sort by
// creation time, so "newest first" continues with ids smaller than it.
import { Type } from '@sinclair/typebox';
import { ApiError } from './errors.js';
import type { Page } from '../storage/index.js';

export const PageQuery = {
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 50,
      description: 'Items per page, 1 to 100.',
    }),
  ),
  cursor: Type.Optional(
    Type.String({ maxLength: 200, description: 'The next_cursor of the previous page.' }),
  ),
};

const ID = /^[a-z]{2,4}_[0-9A-Z]{10,40}$/;

export function toPage(query: { limit?: number; cursor?: string }): Page {
  const limit = query.limit ?? 50;
  // The schema says 1 to 100, but ajv's coercion lets "Infinity" through as a number.
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw new ApiError('validation_error', 'limit must be a whole number from 1 to 100.');
  }
  if (query.cursor === undefined || query.cursor === '') return { limit, after: null };
  const after = Buffer.from(query.cursor, 'base64url').toString('utf8');
  if (!ID.test(after)) {
    throw new ApiError(
      'validation_error',
      'cursor is not valid; pass the next_cursor of a previous page.',
    );
  }
  return { limit, after };
}

/** Fetch one more than the page holds: if it comes back, there is a next page. */
export function pageOf<T extends { id: string }, U>(
  rows: T[],
  page: Page,
  render: (row: T) => U,
): { data: U[]; next_cursor: string | null } {
  const more = rows.length > page.limit;
  const shown = more ? rows.slice(0, page.limit) : rows;
  const last = shown[shown.length - 1];
  return {
    data: shown.map(render),
    next_cursor: more && last ? Buffer.from(last.id, 'utf8').toString('base64url') : null,
  };
}

export function plusOne(page: Page): Page {
  return { limit: page.limit + 1, after: page.after };
}
