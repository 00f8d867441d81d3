// The embedded engine: one SQLite file in WAL mode through better-sqlite3. This class wires
// the engine's parts, one file per concern:
//   connection.ts   open, pragmas, statements, transactions, wake-up, migrate, checkpointer
//   accounts.ts     accounts, API keys, portal sessions, the audit log
//   webhooks.ts     endpoints and their secrets, the operator's endpoint
//   events.ts       publish and the event log
//   deliveries.ts   the delivery log, manual retry and recovery, test sends, stats
//   claim.ts        the worker's claim of due deliveries
//   complete.ts     the worker's record of finished attempts, auto-disable
//   maintenance.ts  retention purge, queue figures, secret reseal
import { FilterCache } from '../../core/filter.js';
import type { Storage } from '../types.js';
import { SqliteAccess } from './accounts.js';
import { SqliteClaim } from './claim.js';
import { SqliteCompletion } from './complete.js';
import { SqliteConnection, type SqliteOptions } from './connection.js';
import { SqliteDeliveries } from './deliveries.js';
import { SqliteEvents } from './events.js';
import { SqliteMaintenance } from './maintenance.js';
import { SqliteOperational } from './operational.js';
import { SqliteWebhooks } from './webhooks.js';

export class SqliteStorage implements Storage {
  readonly engine = 'sqlite' as const;
  private readonly db: SqliteConnection;
  private readonly access: SqliteAccess;
  private readonly webhooks: SqliteWebhooks;
  private readonly events: SqliteEvents;
  private readonly deliveries: SqliteDeliveries;
  private readonly claims: SqliteClaim;
  private readonly completion: SqliteCompletion;
  private readonly maintenance: SqliteMaintenance;

  /** `backgroundCheckpoints`: for the long-running processes (connection.ts). */
  constructor(path: string, options: SqliteOptions = {}) {
    this.db = new SqliteConnection(path, options);
    const filters = new FilterCache();
    const operational = new SqliteOperational((sql) => this.db.stmt(sql), filters);
    this.access = new SqliteAccess(this.db);
    this.webhooks = new SqliteWebhooks(this.db, operational);
    this.events = new SqliteEvents(this.db, filters);
    this.deliveries = new SqliteDeliveries(this.db);
    this.claims = new SqliteClaim(this.db);
    this.completion = new SqliteCompletion(this.db, this.claims, operational);
    this.maintenance = new SqliteMaintenance(this.db);
  }

  migrate: Storage['migrate'] = () => this.db.migrate();
  close: Storage['close'] = () => this.db.close();
  ping: Storage['ping'] = () => this.db.ping();
  onWake: Storage['onWake'] = (...a) => this.db.onWake(...a);

  createAccount: Storage['createAccount'] = (...a) => this.access.createAccount(...a);
  findAccountByKeyHash: Storage['findAccountByKeyHash'] = (...a) =>
    this.access.findAccountByKeyHash(...a);
  findApiKey: Storage['findApiKey'] = (...a) => this.access.findApiKey(...a);
  getAccount: Storage['getAccount'] = (...a) => this.access.getAccount(...a);
  countAccounts: Storage['countAccounts'] = () => this.access.countAccounts();
  listAccounts: Storage['listAccounts'] = (...a) => this.access.listAccounts(...a);
  updateAccount: Storage['updateAccount'] = (...a) => this.access.updateAccount(...a);
  deleteAccount: Storage['deleteAccount'] = (...a) => this.access.deleteAccount(...a);
  purgeDeletedAccounts: Storage['purgeDeletedAccounts'] = (...a) =>
    this.access.purgeDeletedAccounts(...a);
  parkInactiveAccounts: Storage['parkInactiveAccounts'] = (...a) =>
    this.access.parkInactiveAccounts(...a);
  createApiKey: Storage['createApiKey'] = (...a) => this.access.createApiKey(...a);
  listApiKeys: Storage['listApiKeys'] = (...a) => this.access.listApiKeys(...a);
  revokeApiKey: Storage['revokeApiKey'] = (...a) => this.access.revokeApiKey(...a);
  touchApiKeys: Storage['touchApiKeys'] = (...a) => this.access.touchApiKeys(...a);
  createPortalSession: Storage['createPortalSession'] = (...a) =>
    this.access.createPortalSession(...a);
  findPortalSession: Storage['findPortalSession'] = (...a) => this.access.findPortalSession(...a);
  listAuditLog: Storage['listAuditLog'] = (...a) => this.access.listAuditLog(...a);
  purgeAuditLog: Storage['purgeAuditLog'] = (...a) => this.access.purgeAuditLog(...a);

  createWebhook: Storage['createWebhook'] = (...a) => this.webhooks.createWebhook(...a);
  getWebhook: Storage['getWebhook'] = (...a) => this.webhooks.getWebhook(...a);
  listWebhooks: Storage['listWebhooks'] = (...a) => this.webhooks.listWebhooks(...a);
  countWebhooks: Storage['countWebhooks'] = (...a) => this.webhooks.countWebhooks(...a);
  updateWebhook: Storage['updateWebhook'] = (...a) => this.webhooks.updateWebhook(...a);
  rotateSecret: Storage['rotateSecret'] = (...a) => this.webhooks.rotateSecret(...a);
  deleteWebhook: Storage['deleteWebhook'] = (...a) => this.webhooks.deleteWebhook(...a);
  configureOperatorWebhook: Storage['configureOperatorWebhook'] = (...a) =>
    this.webhooks.configureOperatorWebhook(...a);

  publish: Storage['publish'] = (...a) => this.events.publish(...a);
  getEvent: Storage['getEvent'] = (...a) => this.events.getEvent(...a);
  listEvents: Storage['listEvents'] = (...a) => this.events.listEvents(...a);

  listDeliveries: Storage['listDeliveries'] = (...a) => this.deliveries.listDeliveries(...a);
  getDelivery: Storage['getDelivery'] = (...a) => this.deliveries.getDelivery(...a);
  requestRetry: Storage['requestRetry'] = (...a) => this.deliveries.requestRetry(...a);
  recoverFailed: Storage['recoverFailed'] = (...a) => this.deliveries.recoverFailed(...a);
  recordTestSend: Storage['recordTestSend'] = (...a) => this.deliveries.recordTestSend(...a);
  webhookStats: Storage['webhookStats'] = (...a) => this.deliveries.webhookStats(...a);

  claimDue: Storage['claimDue'] = (...a) => this.claims.claimDue(...a);
  readPayloads: Storage['readPayloads'] = (...a) => this.claims.readPayloads(...a);
  nextDueAt: Storage['nextDueAt'] = () => this.claims.nextDueAt();
  completeAttempts: Storage['completeAttempts'] = (...a) => this.completion.completeAttempts(...a);

  purge: Storage['purge'] = (...a) => this.maintenance.purge(...a);
  purgeDeleted: Storage['purgeDeleted'] = (...a) => this.maintenance.purgeDeleted(...a);
  queueStats: Storage['queueStats'] = (...a) => this.maintenance.queueStats(...a);
  resealSecrets: Storage['resealSecrets'] = (...a) => this.maintenance.resealSecrets(...a);
}
