// Operational events (SPEC §11): what Rizler itself publishes about an account's endpoints and
// deliveries. They are ordinary events: the engines store them, inside the transaction of the
// change that causes them, and fan them out like any publish, so they reach receivers through
// the one delivery path. This module builds their content, for both engines (*/operational.ts
// store them).
//
// The installation's operator (RIZLER_OPERATOR_WEBHOOK_URL) receives every account's
// operational events through a system-owned endpoint row, OPERATOR_WEBHOOK_ID, in a system
// account that has no API key and no other endpoints: a copy of each event, with `account_id`
// in its data, is published to that account.
import { newId } from '../core/ids.js';
import { eventPayload } from '../core/payload.js';
import {
  DELIVERY_EXHAUSTED,
  OPERATIONAL_EVENT_TYPES,
  WEBHOOK_DISABLED,
  WEBHOOK_ENABLED,
} from '../core/operational-catalogue.js';
import type { ClaimedDelivery, DisabledReason, NewEvent } from './types.js';

export { isOperationalEventType } from '../core/operational-catalogue.js';

/** The system account that owns the operator's endpoint; no key can act as it. */
export const OPERATOR_ACCOUNT_ID = 'acc_operator';
export const OPERATOR_WEBHOOK_ID = 'wh_operator';
export const OPERATOR_EVENTS = OPERATIONAL_EVENT_TYPES.map((t) => t.name);

export interface OperationalEvent {
  type: string;
  data: Record<string, unknown>;
}

export function webhookDisabled(
  webhook: { id: string; url: string },
  reason: DisabledReason,
): OperationalEvent {
  return { type: WEBHOOK_DISABLED, data: { webhook_id: webhook.id, url: webhook.url, reason } };
}

export function webhookEnabled(webhook: { id: string; url: string }): OperationalEvent {
  return { type: WEBHOOK_ENABLED, data: { webhook_id: webhook.id, url: webhook.url } };
}

export function deliveryExhausted(
  claim: Pick<ClaimedDelivery, 'deliveryId' | 'webhookId' | 'eventId' | 'eventType'>,
  attempts: number,
  lastStatusCode: number | null,
  lastError: string | null,
): OperationalEvent {
  return {
    type: DELIVERY_EXHAUSTED,
    data: {
      delivery_id: claim.deliveryId,
      webhook_id: claim.webhookId,
      event_id: claim.eventId,
      event: claim.eventType,
      attempts,
      last_status_code: lastStatusCode,
      last_error: lastError,
    },
  };
}

/**
 * The events to store for one operational event of `accountId`: the account's own, and the
 * operator's copy with `account_id` in its data (none for the operator's own account).
 */
export function operationalEventsFor(
  accountId: string,
  event: OperationalEvent,
  now: number,
): { accountId: string; event: NewEvent }[] {
  const timestamp = new Date(now).toISOString();
  const make = (data: Record<string, unknown>): NewEvent => {
    const id = newId('evt', now);
    return {
      id,
      type: event.type,
      timestamp,
      payload: eventPayload(id, event.type, timestamp, data),
      idempotencyKey: null,
      data,
    };
  };
  const out = [{ accountId, event: make(event.data) }];
  if (accountId !== OPERATOR_ACCOUNT_ID) {
    out.push({
      accountId: OPERATOR_ACCOUNT_ID,
      event: make({ ...event.data, account_id: accountId }),
    });
  }
  return out;
}
