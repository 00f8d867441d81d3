// Array parameters written by the engine (postgres/array-literal.ts) instead of node-postgres:
// whatever goes in comes back from the server the same, through the engine's own statements,
// prepared and not, for every element type the engine passes; and the same as node-postgres
// reads it from its own literal.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arrayLiteral, withArrayLiterals } from '../../src/storage/postgres/array-literal.js';
import { PostgresConnection } from '../../src/storage/postgres/connection.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

const TEXTS = [
  'dlv_01M90SPW5Q00006DT1730C68HJ',
  'b"c',
  'd\\e',
  '\\"',
  '',
  'NULL',
  null,
  '{x,y}',
  ' spaced ',
  'a,b',
  'ünï ☕ 🎧',
  'line\nbreak\ttab "quoted" \\',
  JSON.stringify({ 'webhook-signature': 'v1,abc=', path: 'C:\\tmp' }),
];
const BIGINTS = [1, 2, null, Number.MAX_SAFE_INTEGER, -5, 0];
const FLOATS = [1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, null, -0.25];

let db: TestDatabase;
let raw: pg.Client;
const connections: PostgresConnection[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  raw = new pg.Client({ connectionString: db.url });
  await raw.connect();
});

afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()));
  await raw?.end();
  await db?.drop();
});

const SELECT = `SELECT $1::text[] AS texts, $2::bigint[] AS bigints, $3::float8[] AS floats,
  $4::int[] AS ints, $5::boolean[] AS bools, $6::text[] AS ids, $7::text[] AS empty,
  (SELECT array_agg(x::json ->> 'path') FROM unnest($8::text[]) x) AS paths`;
const VALUES = [
  TEXTS,
  BIGINTS,
  FLOATS,
  [1, 2, 3],
  [true, false, null],
  ['wh_1', 'wh_2', 'wh_3'],
  [],
  [JSON.stringify({ path: 'a"b\\c' }), JSON.stringify({ path: '☕' })],
];

describe('PostgreSQL array parameters', () => {
  it.each([true, false])('come back as they went, prepared: %s', async (preparedStatements) => {
    const connection = new PostgresConnection(db.url, { preparedStatements, poolSize: 1 });
    connections.push(connection);
    // Twice: the second run of a prepared statement goes by its name.
    for (let run = 0; run < 2; run++) {
      const [row] = await connection.query(SELECT, VALUES);
      expect(row).toEqual({
        texts: TEXTS,
        bigints: BIGINTS.map((n) => (n === null ? null : String(n))),
        floats: FLOATS,
        ints: [1, 2, 3],
        bools: [true, false, null],
        ids: ['wh_1', 'wh_2', 'wh_3'],
        empty: [],
        paths: ['a"b\\c', '☕'],
      });
      // node-postgres's own literals, on its own client, read the same.
      const { rows } = await raw.query(SELECT, VALUES);
      expect(rows[0]).toEqual(row);
    }
  });

  it('are written natively where they can be, and left to node-postgres where not', () => {
    expect(arrayLiteral(['a', 'b'])).toBe('{"a","b"}');
    expect(arrayLiteral([1, 2.5])).toBe('{1,2.5}');
    expect(arrayLiteral(['a"', null, 3, true])).toBe('{"a\\"",NULL,"3",true}');
    expect(arrayLiteral([])).toBe('{}');
    // A control character or a surrogate stays as it is, where JSON would write an escape.
    expect(arrayLiteral(['"x"', 'y\n"', '☕🎧"'])).toBe('{"\\"x\\"","y\n\\"","☕🎧\\""}');
    expect(arrayLiteral([['nested']])).toBeUndefined();
    expect(arrayLiteral([Buffer.from('x')])).toBeUndefined();
    expect(arrayLiteral([new Date(0)])).toBeUndefined();
    const values = ['scalar', 7, null];
    expect(withArrayLiterals(values)).toBe(values);
    expect(withArrayLiterals(['x', ['a']])).toEqual(['x', '{"a"}']);
    expect(withArrayLiterals([[Buffer.from('x')]])).toEqual([[Buffer.from('x')]]);
  });
});
