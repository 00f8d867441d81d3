// The scale-out engine: PostgreSQL through a `pg` Pool. Any number of API and worker processes,
// on any number of machines, share one database; row locks (FOR UPDATE SKIP LOCKED on the due
// deliveries, FOR NO KEY UPDATE on the endpoints) make their claims disjoint and keep the
// per-endpoint caps and rate limits global. Behaviour matches the SQLite engine method for
// method; the shared suite in test/storage/contract.test.ts holds both to it.
//
// This class wires the engine's parts, one file per concern:
//   connection.ts   the pool, queries, retried transactions, NOTIFY, migrate (errors.ts, wake.ts)
//   accounts.ts     accounts, API keys, portal sessions, the audit log
//   webhooks.ts     endpoints and their secrets, the operator's endpoint
//   events.ts       publish and the event log
//   deliveries.ts   the delivery log, manual retry and recovery, test sends, stats
//   claim.ts        the worker's claim of due deliveries
//   complete.ts     the worker's record of finished attempts, auto-disable
//   maintenance.ts  retention purge, queue figures, secret reseal
import { FilterCache } from '../../core/filter.js';
import type { Storage } from '../types.js';
import { PostgresAccess } from './accounts.js';
import { PostgresClaim } from './claim.js';
import { PostgresCompletion } from './complete.js';
import { PostgresConnection, type PostgresOptions } from './connection.js';
import { PostgresDeliveries } from './deliveries.js';
import { PostgresEvents } from './events.js';
import { PostgresMaintenance } from './maintenance.js';
import { PostgresOperational } from './operational.js';
import { PostgresWebhooks } from './webhooks.js';

export class PostgresStorage implements Storage {
  readonly engine = 'postgres' as const;
  private readonly db: PostgresConnection;
  private readonly access: PostgresAccess;
  private readonly webhooks: PostgresWebhooks;
  private readonly events: PostgresEvents;
  private readonly deliveries: PostgresDeliveries;
  private readonly claims: PostgresClaim;
  private readonly completion: PostgresCompletion;
  private readonly maintenance: PostgresMaintenance;

  constructor(url: string, options: PostgresOptions = {}) {
    this.db = new PostgresConnection(url, options);
    const filters = new FilterCache();
    const operational = new PostgresOperational(filters, (q) => this.db.notify(q));
    this.access = new PostgresAccess(this.db);
    this.webhooks = new PostgresWebhooks(this.db, operational);
    this.events = new PostgresEvents(this.db, filters);
    this.deliveries = new PostgresDeliveries(this.db);
    this.claims = new PostgresClaim(this.db);
    this.completion = new PostgresCompletion(this.db, this.claims, operational);
    this.maintenance = new PostgresMaintenance(this.db);
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
