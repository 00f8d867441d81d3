// The SQLite engine's audit writer: called by the method that makes a change, inside its
// transaction, so the change and its record commit (or roll back) together.
import type Database from 'better-sqlite3';
import { changesJson } from '../../audit/changes.js';
import { newId } from '../../core/ids.js';
import type { Actor, AuditChanges } from '../types.js';

export interface AuditRecord {
  accountId: string;
  actor: Actor;
  action: string;
  targetId: string;
  changes: AuditChanges;
  at: number;
}

export function writeAudit(stmt: (sql: string) => Database.Statement, record: AuditRecord): void {
  stmt(
    `INSERT INTO audit_log (id, account_id, at, actor_type, actor_id, action, target_id, changes)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    newId('aud', record.at),
    record.accountId,
    record.at,
    record.actor.type,
    record.actor.id,
    record.action,
    record.targetId,
    changesJson(record.changes),
  );
}
