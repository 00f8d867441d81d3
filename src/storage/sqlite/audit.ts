// The SQLite engine's audit writer: called by the method that makes a change, inside its
// transaction, so the change and its record commit (or roll back) together. The records
// themselves are built in ../audit-records.ts.
import { auditRow, type AuditRecord } from '../audit-records.js';
import type { Stmt } from './statement.js';

export function writeAudit(stmt: Stmt, record: AuditRecord): void {
  stmt(
    `INSERT INTO audit_log (id, account_id, at, actor_type, actor_id, action, target_id, changes)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(...auditRow(record));
}
