// The SQLite engine's statements build their rows in JavaScript from raw arrays
// (sqlite/statement.ts): the rows must be the objects better-sqlite3 would have made.
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Statement } from '../../src/storage/sqlite/statement.js';

describe('SQLite statements', () => {
  it('give the rows better-sqlite3 gives, column by column', () => {
    const db = new Database(':memory:');
    db.exec(`CREATE TABLE t (id TEXT, n INTEGER, x REAL, body BLOB, note TEXT);
      INSERT INTO t VALUES ('a', 1, 1.5, x'0102', NULL), ('b', 2, 2.5, NULL, 'two')`);
    const sql = 'SELECT * FROM t ORDER BY id';
    const ours = new Statement(db.prepare(sql));
    expect(ours.all()).toEqual(db.prepare(sql).all());
    expect(ours.get()).toEqual(db.prepare(sql).get());
    expect(new Statement(db.prepare('SELECT * FROM t WHERE id = ?')).get('z')).toBeUndefined();
    // Two columns of one name: the last one, as better-sqlite3 does.
    expect(new Statement(db.prepare('SELECT 1 AS a, 2 AS a')).get()).toEqual(
      db.prepare('SELECT 1 AS a, 2 AS a').get(),
    );
    db.close();
  });

  it('run writes, and a `SELECT *` follows a column added after it was prepared', () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (id TEXT)');
    const insert = new Statement(db.prepare('INSERT INTO t (id) VALUES (?)'));
    expect(insert.run('a').changes).toBe(1);
    const read = new Statement(db.prepare('SELECT * FROM t'));
    expect(read.get()).toEqual({ id: 'a' });
    db.exec("ALTER TABLE t ADD COLUMN status TEXT NOT NULL DEFAULT 'active'");
    expect(read.get()).toEqual({ id: 'a', status: 'active' });
    expect(read.all()).toEqual([{ id: 'a', status: 'active' }]);
    db.close();
  });
});
