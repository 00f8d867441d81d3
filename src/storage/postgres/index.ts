// The scale-out engine: PostgreSQL through a `pg` Pool. Any number of API and worker processes,
// on any number of machines, share one database; row locks (FOR UPDATE SKIP LOCKED on the due
// rows of delivery_queue, FOR NO KEY UPDATE on the endpoints) make their claims disjoint and
// keep the per-endpoint caps and rate limits global. Behaviour matches the SQLite engine
// method for method; the shared suite in test/storage/contract.test.ts holds both to it.
//
// This class builds the engine's parts, one file per concern; EngineStorage (../engine.ts)
// hands each Storage method to its part:
//   connection.ts   the pool, queries, retried transactions, NOTIFY, migrate (errors.ts, wake.ts)
//   accounts.ts     accounts, API keys, portal sessions, the audit log
//   webhooks.ts     endpoints and their secrets, the operator's endpoint
//   events.ts       publish and the event log
//   deliveries.ts   the delivery log, manual retry and recovery, test sends, stats
//   claim.ts        the worker's claim of due deliveries
//   local-holds.ts  this process's own transactions on an account's endpoints, for publishes
//   queue.ts        delivery_queue: when each delivery is due, and its lease
//   complete.ts     the worker's record of finished attempts, auto-disable
//   maintenance.ts  retention purge, queue figures, secret reseal
import { FilterCache } from '../../core/filter.js';
import { EngineStorage } from '../engine.js';
import { PostgresAccess } from './accounts.js';
import { PostgresClaim } from './claim.js';
import { PostgresCompletion } from './complete.js';
import { PostgresConnection, type PostgresOptions } from './connection.js';
import { PostgresDeliveries } from './deliveries.js';
import { PostgresEvents } from './events.js';
import { PostgresMaintenance } from './maintenance.js';
import { PostgresOperational } from './operational.js';
import { PostgresWebhooks } from './webhooks.js';

export class PostgresStorage extends EngineStorage {
  readonly engine = 'postgres' as const;

  constructor(url: string, options: PostgresOptions = {}) {
    const db = new PostgresConnection(url, options);
    const filters = new FilterCache();
    const operational = new PostgresOperational(filters, (q) => db.notify(q));
    const claims = new PostgresClaim(db);
    super({
      connection: db,
      access: new PostgresAccess(db),
      webhooks: new PostgresWebhooks(db, operational),
      events: new PostgresEvents(db, filters, claims),
      deliveries: new PostgresDeliveries(db),
      claims,
      completion: new PostgresCompletion(db, claims, operational),
      maintenance: new PostgresMaintenance(db),
    });
  }
}
