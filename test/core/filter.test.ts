// Content filters (SPEC §11): every operator, how they combine, and the errors that point at
// the bad part of a filter.
import { describe, expect, it } from 'vitest';
import {
  compileFilter,
  FilterCache,
  filterSubject,
  MAX_FILTER_DEPTH,
  type FilterSubject,
} from '../../src/core/filter.js';

const call: FilterSubject = {
  event: 'call.ended',
  data: {
    call_id: 'call_1',
    direction: 'inbound',
    duration: 180,
    queue_id: 'queue_sales',
    tags: ['vip', 'renewal'],
    caller: { country: 'US', number: '+14155550123' },
    agent_id: null,
  },
};

function holds(filter: unknown, subject: FilterSubject = call): boolean {
  const compiled = compileFilter(filter);
  if (!compiled.ok) throw new Error(compiled.message);
  return compiled.predicate(subject);
}

function errorOf(filter: unknown): string {
  const compiled = compileFilter(filter);
  if (compiled.ok) throw new Error('the filter compiled');
  return compiled.message;
}

describe('content filters', () => {
  it('matches plain values by equality, field by field, nested', () => {
    expect(holds({ event: 'call.ended' })).toBe(true);
    expect(holds({ event: 'call.started' })).toBe(false);
    expect(holds({ data: { direction: 'inbound', caller: { country: 'US' } } })).toBe(true);
    expect(holds({ data: { direction: 'outbound' } })).toBe(false);
    expect(holds({ data: { agent_id: null } })).toBe(true);
    expect(holds({ data: { tags: ['vip', 'renewal'] } })).toBe(true);
    expect(holds({ data: { tags: ['renewal', 'vip'] } })).toBe(false);
    expect(holds({ data: { missing: 'x' } })).toBe(false);
  });

  it('compares with $eq, $neq, $gt, $gte, $lt, $lte between numbers or between strings', () => {
    expect(holds({ data: { duration: { $eq: 180 } } })).toBe(true);
    expect(holds({ data: { duration: { $neq: 180 } } })).toBe(false);
    expect(holds({ data: { missing: { $neq: 1 } } })).toBe(true);
    expect(holds({ data: { duration: { $gt: 179, $lt: 181 } } })).toBe(true);
    expect(holds({ data: { duration: { $gte: 180, $lte: 180 } } })).toBe(true);
    expect(holds({ data: { duration: { $gt: 180 } } })).toBe(false);
    expect(holds({ data: { call_id: { $gte: 'call_0' } } })).toBe(true);
    // A number is never greater than a string, nor a missing field than anything.
    expect(holds({ data: { duration: { $gt: '1' } } })).toBe(false);
    expect(holds({ data: { missing: { $lt: 1 } } })).toBe(false);
    expect(holds({ data: { caller: { $eq: { number: '+14155550123', country: 'US' } } } })).toBe(
      true,
    );
  });

  it('tests membership with $in and $nin, also for array values', () => {
    expect(holds({ data: { queue_id: { $in: ['queue_sales', 'queue_support'] } } })).toBe(true);
    expect(holds({ data: { queue_id: { $nin: ['queue_sales'] } } })).toBe(false);
    expect(holds({ data: { tags: { $in: ['vip'] } } })).toBe(true);
    expect(holds({ data: { tags: { $nin: ['spam'] } } })).toBe(true);
    expect(holds({ data: { missing: { $in: ['x'] } } })).toBe(false);
  });

  it('matches strings with $startsWith and $endsWith, and presence with $exists', () => {
    expect(holds({ data: { queue_id: { $startsWith: 'queue_' } } })).toBe(true);
    expect(holds({ data: { queue_id: { $endsWith: '_sales' } } })).toBe(true);
    expect(holds({ data: { duration: { $startsWith: '1' } } })).toBe(false);
    expect(holds({ data: { agent_id: { $exists: true } } })).toBe(true);
    expect(holds({ data: { missing: { $exists: false } } })).toBe(true);
    expect(holds({ data: { missing: { $exists: true } } })).toBe(false);
  });

  it('combines with $and, $or and $not at any level', () => {
    expect(
      holds({
        $or: [{ event: 'call.missed' }, { data: { duration: { $gte: 60 } } }],
      }),
    ).toBe(true);
    expect(holds({ $and: [{ event: 'call.ended' }, { data: { direction: 'outbound' } }] })).toBe(
      false,
    );
    expect(holds({ data: { direction: { $not: { $eq: 'outbound' } } } })).toBe(true);
    expect(holds({ $not: { data: { queue_id: 'queue_sales' } } })).toBe(false);
  });

  it('holds the SPEC example: inbound calls of a minute or more', () => {
    const filter = { data: { direction: 'inbound', duration: { $gte: 60 } } };
    expect(holds(filter)).toBe(true);
    expect(
      holds(filter, { event: 'call.ended', data: { direction: 'inbound', duration: 59 } }),
    ).toBe(false);
  });

  it('refuses a bad filter with a message that points at the bad part', () => {
    expect(errorOf({ data: { duration: { $gtx: 60 } } })).toMatch(
      /filter\.data\.duration uses the unknown operator \$gtx; use one of \$eq/,
    );
    expect(errorOf({ $or: [{ event: 'a' }, { data: { x: { $in: 'a' } } }] })).toBe(
      'filter.$or[1].data.x.$in must be an array of values',
    );
    expect(errorOf({ data: { duration: { $gte: [1] } } })).toBe(
      'filter.data.duration.$gte must be a number or a string',
    );
    expect(errorOf({ data: { x: { $exists: 'yes' } } })).toMatch(/filter\.data\.x\.\$exists/);
    expect(errorOf({ $and: [] })).toMatch(/filter\.\$and must be a non-empty array/);
    expect(errorOf({ data: {} })).toMatch(/filter\.data is an empty object/);
    expect(errorOf([1])).toMatch(/must be a JSON object/);
    expect(errorOf({ data: { 'odd key': { $startsWith: 1 } } })).toBe(
      'filter.data["odd key"].$startsWith must be a string',
    );
  });

  it(`refuses a filter nested deeper than ${MAX_FILTER_DEPTH} levels or larger than 4 KiB`, () => {
    let deep: Record<string, unknown> = { a: 1 };
    for (let i = 0; i < MAX_FILTER_DEPTH - 1; i++) deep = { a: deep };
    expect(compileFilter(deep).ok).toBe(true);
    expect(errorOf({ a: deep })).toMatch(/nested more than 8 levels/);
    const large = { data: { queue_id: { $in: Array.from({ length: 600 }, (_, i) => `q_${i}`) } } };
    expect(errorOf(large)).toMatch(/larger than 4096 bytes/);
    // Far deeper than JSON.stringify can walk: refused for its depth, not a stack overflow.
    let abyss: unknown = 1;
    for (let i = 0; i < 100_000; i++) abyss = { a: abyss };
    expect(errorOf(abyss)).toMatch(/nested more than 8 levels/);
  });

  it('compiles once per webhook version, and again when the version or the text changes', () => {
    const cache = new FilterCache();
    const text = JSON.stringify({ event: 'call.ended' });
    const first = cache.predicateFor('wh_1', 1, text);
    expect(first!(call)).toBe(true);
    expect(cache.predicateFor('wh_1', 1, JSON.stringify({ event: 'call.ended' }))).toBe(first);
    const next = cache.predicateFor('wh_1', 2, JSON.stringify({ event: 'call.missed' }));
    expect(next).not.toBe(first);
    expect(next!(call)).toBe(false);
    // Changed twice within a millisecond: the text tells.
    expect(cache.predicateFor('wh_1', 2, text)!(call)).toBe(true);
    expect(cache.predicateFor('wh_2', 1, null)).toBeNull();
  });

  it('reads an event once, and only when a filter asks', () => {
    const subject = filterSubject({
      type: 'call.ended',
      payload: JSON.stringify({ id: 'evt_1', event: 'call.ended', data: { duration: 3 } }),
    });
    expect(subject()).toBe(subject());
    expect(subject().data).toEqual({ duration: 3 });
  });
});
