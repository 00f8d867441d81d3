// The embedded engine: one SQLite file in WAL mode through better-sqlite3. This class builds
// the engine's parts, one file per concern; EngineStorage (../engine.ts) hands each Storage
// method to its part:
//   connection.ts   open, pragmas, statements, transactions, wake-up, migrate, checkpointer
//   checkpoint.ts   the checkpointer thread's round: copy the WAL back, start a long one over
//   statement.ts    prepared statements whose rows are built in JavaScript
//   accounts.ts     accounts, API keys, portal sessions, the audit log
//   webhooks.ts     endpoints and their secrets, the operator's endpoint
//   events.ts       publish and the event log
//   deliveries.ts   the delivery log, manual retry and recovery, test sends, stats
//   claim.ts        the worker's claim of due deliveries
//   complete.ts     the worker's record of finished attempts, auto-disable
//   maintenance.ts  retention purge, queue figures, secret reseal
import { FilterCache } from '../../core/filter.js';
import { EngineStorage } from '../engine.js';
import { SqliteAccess } from './accounts.js';
import { SqliteClaim } from './claim.js';
import { SqliteCompletion } from './complete.js';
import { SqliteConnection, type SqliteOptions } from './connection.js';
import { SqliteDeliveries } from './deliveries.js';
import { SqliteEvents } from './events.js';
import { SqliteMaintenance } from './maintenance.js';
import { SqliteOperational } from './operational.js';
import { SqliteWebhooks } from './webhooks.js';

export class SqliteStorage extends EngineStorage {
  readonly engine = 'sqlite' as const;

  /** `backgroundCheckpoints`: for the long-running processes (connection.ts). */
  constructor(path: string, options: SqliteOptions = {}) {
    const db = new SqliteConnection(path, options);
    const filters = new FilterCache();
    const operational = new SqliteOperational((sql) => db.stmt(sql), filters);
    const claims = new SqliteClaim(db);
    super({
      connection: db,
      access: new SqliteAccess(db),
      webhooks: new SqliteWebhooks(db, operational),
      events: new SqliteEvents(db, filters, claims),
      deliveries: new SqliteDeliveries(db),
      claims,
      completion: new SqliteCompletion(db, claims, operational),
      maintenance: new SqliteMaintenance(db),
    });
  }
}
