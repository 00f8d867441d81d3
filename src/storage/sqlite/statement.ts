// A prepared statement whose rows are built in JavaScript. better-sqlite3 builds each row
// object through V8's C++ API, interning every column's name for every row: callgrind put
// that (Data::GetRowJS) at 14 % of the storage loop's instructions. Here the statement runs in
// raw mode (an array per row) and the object is made by a plain loop over the names, read
// once: same objects, same order, the last of two columns with one name winning, as before.
import type Database from 'better-sqlite3';
import type { Row } from '../rows.js';

/** The engine's statement cache (SqliteConnection.stmt), as its parts and helpers take it. */
export type Stmt = (sql: string) => Statement;

export class Statement {
  /** The result's column names; null for a statement that returns nothing. */
  private names: string[] | null;

  constructor(private readonly prepared: Database.Statement) {
    this.names = prepared.reader ? this.columnNames() : null;
    if (prepared.reader) prepared.raw(true);
  }

  run(...params: unknown[]): Database.RunResult {
    return this.prepared.run(...params);
  }

  get(...params: unknown[]): Row | undefined {
    const values = this.prepared.get(...params) as unknown[] | undefined;
    return values === undefined ? undefined : this.row(values);
  }

  all(...params: unknown[]): Row[] {
    const rows = this.prepared.all(...params) as unknown[][];
    const out: Row[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = this.row(rows[i]!);
    return out;
  }

  private row(values: unknown[]): Row {
    let names = this.names!;
    // A `SELECT *` prepared before a migration added a column: SQLite prepares it again
    // underneath, with more columns than the names read.
    if (names.length !== values.length) names = this.names = this.columnNames();
    const row: Row = {};
    for (let i = 0; i < values.length; i++) row[names[i]!] = values[i];
    return row;
  }

  private columnNames(): string[] {
    return this.prepared.columns().map((c) => c.name);
  }
}
