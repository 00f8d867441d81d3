// The PostgreSQL engine's audit writer: called by the method that makes a change, inside its
// transaction, so the change and its record commit (or roll back) together. The records
// themselves are built in ../audit-records.ts.
import { auditRow, type AuditRecord } from '../audit-records.js';
import type { Query } from './connection.js';

export async function writeAudit(q: Query, ...records: AuditRecord[]): Promise<void> {
  if (records.length === 0) return;
  const rows = records.map(auditRow);
  await q(
    `INSERT INTO audit_log (id, account_id, at, actor_type, actor_id, action, target_id, changes)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
       $6::text[], $7::text[], $8::jsonb[])`,
    [0, 1, 2, 3, 4, 5, 6, 7].map((column) => rows.map((row) => row[column])),
  );
}
