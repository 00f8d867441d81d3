// The PostgreSQL engine's audit writer: called by the method that makes a change, inside its
// transaction, so the change and its record commit (or roll back) together.
import { changesJson } from '../../audit/changes.js';
import { newId } from '../../core/ids.js';
import type { Actor, AuditChanges } from '../types.js';
import type { Query } from './connection.js';

export interface AuditRecord {
  accountId: string;
  actor: Actor;
  action: string;
  targetId: string;
  changes: AuditChanges;
  at: number;
}

export async function writeAudit(q: Query, ...records: AuditRecord[]): Promise<void> {
  if (records.length === 0) return;
  await q(
    `INSERT INTO audit_log (id, account_id, at, actor_type, actor_id, action, target_id, changes)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],
       $6::text[], $7::text[], $8::jsonb[])`,
    [
      records.map((r) => newId('aud', r.at)),
      records.map((r) => r.accountId),
      records.map((r) => r.at),
      records.map((r) => r.actor.type),
      records.map((r) => r.actor.id),
      records.map((r) => r.action),
      records.map((r) => r.targetId),
      records.map((r) => changesJson(r.changes)),
    ],
  );
}
