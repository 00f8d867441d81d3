// What both engines are made of: a part per concern, each implementing its share of the
// Storage contract, and one class that hands every Storage method to the part that owns it.
// An engine (sqlite/index.ts, postgres/index.ts) only builds its parts.
import type { AccessStorage } from './access-types.js';
import type { Storage } from './types.js';

/** The Storage methods, grouped by the engine part that implements them. */
export interface EngineParts {
  /** Open, migrate, close, wake-up (connection.ts). */
  connection: Pick<Storage, 'migrate' | 'close' | 'ping' | 'onWake'>;
  /** Accounts, API keys, portal sessions, the audit log (accounts.ts). */
  access: AccessStorage;
  /** Endpoints, their secrets, the operator's endpoint (webhooks.ts). */
  webhooks: Pick<
    Storage,
    | 'createWebhook'
    | 'getWebhook'
    | 'listWebhooks'
    | 'countWebhooks'
    | 'updateWebhook'
    | 'rotateSecret'
    | 'deleteWebhook'
    | 'configureOperatorWebhook'
  >;
  /** Publish and the event log (events.ts). */
  events: Pick<Storage, 'publish' | 'getEvent' | 'listEvents'>;
  /** The delivery log, manual retry and recovery, test sends, stats (deliveries.ts). */
  deliveries: Pick<
    Storage,
    | 'listDeliveries'
    | 'listDeliveryChanges'
    | 'getDelivery'
    | 'requestRetry'
    | 'recoverFailed'
    | 'recordTestSend'
    | 'webhookStats'
  >;
  /** The worker's claim (claim.ts). */
  claims: Pick<Storage, 'claimDue' | 'readPayloads' | 'nextDueAt'>;
  /** The worker's record of finished attempts (complete.ts). */
  completion: Pick<Storage, 'completeAttempts'>;
  /** Retention, queue figures, secret reseal (maintenance.ts). */
  maintenance: Pick<Storage, 'purge' | 'purgeDeleted' | 'queueStats' | 'resealSecrets'>;
}

/** A Storage made of parts: every method is its part's, unchanged. */
export abstract class EngineStorage implements Storage {
  abstract readonly engine: Storage['engine'];

  protected constructor(private readonly parts: EngineParts) {}

  migrate: Storage['migrate'] = () => this.parts.connection.migrate();
  close: Storage['close'] = () => this.parts.connection.close();
  ping: Storage['ping'] = () => this.parts.connection.ping();
  onWake: Storage['onWake'] = (...a) => this.parts.connection.onWake(...a);

  createAccount: Storage['createAccount'] = (...a) => this.parts.access.createAccount(...a);
  findAccountByKeyHash: Storage['findAccountByKeyHash'] = (...a) =>
    this.parts.access.findAccountByKeyHash(...a);
  findApiKey: Storage['findApiKey'] = (...a) => this.parts.access.findApiKey(...a);
  getAccount: Storage['getAccount'] = (...a) => this.parts.access.getAccount(...a);
  countAccounts: Storage['countAccounts'] = () => this.parts.access.countAccounts();
  listAccounts: Storage['listAccounts'] = (...a) => this.parts.access.listAccounts(...a);
  updateAccount: Storage['updateAccount'] = (...a) => this.parts.access.updateAccount(...a);
  deleteAccount: Storage['deleteAccount'] = (...a) => this.parts.access.deleteAccount(...a);
  purgeDeletedAccounts: Storage['purgeDeletedAccounts'] = (...a) =>
    this.parts.access.purgeDeletedAccounts(...a);
  parkInactiveAccounts: Storage['parkInactiveAccounts'] = (...a) =>
    this.parts.access.parkInactiveAccounts(...a);
  createApiKey: Storage['createApiKey'] = (...a) => this.parts.access.createApiKey(...a);
  listApiKeys: Storage['listApiKeys'] = (...a) => this.parts.access.listApiKeys(...a);
  revokeApiKey: Storage['revokeApiKey'] = (...a) => this.parts.access.revokeApiKey(...a);
  touchApiKeys: Storage['touchApiKeys'] = (...a) => this.parts.access.touchApiKeys(...a);
  createPortalSession: Storage['createPortalSession'] = (...a) =>
    this.parts.access.createPortalSession(...a);
  findPortalSession: Storage['findPortalSession'] = (...a) =>
    this.parts.access.findPortalSession(...a);
  listAuditLog: Storage['listAuditLog'] = (...a) => this.parts.access.listAuditLog(...a);
  purgeAuditLog: Storage['purgeAuditLog'] = (...a) => this.parts.access.purgeAuditLog(...a);

  createWebhook: Storage['createWebhook'] = (...a) => this.parts.webhooks.createWebhook(...a);
  getWebhook: Storage['getWebhook'] = (...a) => this.parts.webhooks.getWebhook(...a);
  listWebhooks: Storage['listWebhooks'] = (...a) => this.parts.webhooks.listWebhooks(...a);
  countWebhooks: Storage['countWebhooks'] = (...a) => this.parts.webhooks.countWebhooks(...a);
  updateWebhook: Storage['updateWebhook'] = (...a) => this.parts.webhooks.updateWebhook(...a);
  rotateSecret: Storage['rotateSecret'] = (...a) => this.parts.webhooks.rotateSecret(...a);
  deleteWebhook: Storage['deleteWebhook'] = (...a) => this.parts.webhooks.deleteWebhook(...a);
  configureOperatorWebhook: Storage['configureOperatorWebhook'] = (...a) =>
    this.parts.webhooks.configureOperatorWebhook(...a);

  publish: Storage['publish'] = (...a) => this.parts.events.publish(...a);
  getEvent: Storage['getEvent'] = (...a) => this.parts.events.getEvent(...a);
  listEvents: Storage['listEvents'] = (...a) => this.parts.events.listEvents(...a);

  listDeliveries: Storage['listDeliveries'] = (...a) => this.parts.deliveries.listDeliveries(...a);
  listDeliveryChanges: Storage['listDeliveryChanges'] = (...a) =>
    this.parts.deliveries.listDeliveryChanges(...a);
  getDelivery: Storage['getDelivery'] = (...a) => this.parts.deliveries.getDelivery(...a);
  requestRetry: Storage['requestRetry'] = (...a) => this.parts.deliveries.requestRetry(...a);
  recoverFailed: Storage['recoverFailed'] = (...a) => this.parts.deliveries.recoverFailed(...a);
  recordTestSend: Storage['recordTestSend'] = (...a) => this.parts.deliveries.recordTestSend(...a);
  webhookStats: Storage['webhookStats'] = (...a) => this.parts.deliveries.webhookStats(...a);

  claimDue: Storage['claimDue'] = (...a) => this.parts.claims.claimDue(...a);
  readPayloads: Storage['readPayloads'] = (...a) => this.parts.claims.readPayloads(...a);
  nextDueAt: Storage['nextDueAt'] = () => this.parts.claims.nextDueAt();
  completeAttempts: Storage['completeAttempts'] = (...a) =>
    this.parts.completion.completeAttempts(...a);

  purge: Storage['purge'] = (...a) => this.parts.maintenance.purge(...a);
  purgeDeleted: Storage['purgeDeleted'] = (...a) => this.parts.maintenance.purgeDeleted(...a);
  queueStats: Storage['queueStats'] = (...a) => this.parts.maintenance.queueStats(...a);
  resealSecrets: Storage['resealSecrets'] = (...a) => this.parts.maintenance.resealSecrets(...a);
}
