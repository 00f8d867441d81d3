// The filters of the event log and the delivery log, one list for both engines: which column
// each filter sets, the WHERE clause of an account's page (newest first, after an id), and the
// reads of a `tail` poll. Each engine gives its own parameter marker (`?`, `$n`). Pure: no I/O.
import type { DeliveryChangesRequest, DeliveryFilter, EventFilter, Page } from './types.js';

/** A filter's clause with `?` where its value goes, and the value (undefined: not set). */
export type Condition = [clause: string, value: string | number | undefined];

export function eventConditions(filter: EventFilter): Condition[] {
  return [
    ['type = ?', filter.eventType],
    ['created_at >= ?', filter.since],
    ['created_at < ?', filter.until],
  ];
}

export function deliveryConditions(filter: DeliveryFilter): Condition[] {
  return [
    ['webhook_id = ?', filter.webhookId],
    ['status = ?', filter.status],
    ['event_type = ?', filter.eventType],
    ['ordering_key = ?', filter.orderingKey],
    ['created_at >= ?', filter.since],
    ['created_at < ?', filter.until],
  ];
}

/**
 * The account's rows that the set conditions hold for, from after the page's id. `marker(n)`
 * is the engine's mark for the n-th value (from 1); the page's limit is the caller's, as the
 * value after `args`.
 */
export function pageWhere(
  accountId: string,
  conditions: Condition[],
  page: Page,
  marker: (n: number) => string,
): { where: string; args: (string | number)[] } {
  const where: string[] = [];
  const args: (string | number)[] = [];
  const add = (clause: string, value: string | number) => {
    args.push(value);
    where.push(clause.replace('?', marker(args.length)));
  };
  add('account_id = ?', accountId);
  for (const [clause, value] of conditions) if (value !== undefined) add(clause, value);
  if (page.after !== null) add('id < ?', page.after);
  return { where: where.join(' AND '), args };
}

/**
 * The reads of a `tail` poll (listDeliveryChanges), each the WHERE clause over deliveries `d`
 * with its values: those created since, found by id, and, when there is a cursor, those with
 * an attempt after it, found through the account's endpoints' attempts (`seq`: the engine's
 * column that numbers attempts in the order they are recorded).
 */
export function changeReads(
  accountId: string,
  request: DeliveryChangesRequest,
  seq: string,
  marker: (n: number) => string,
): { where: string; args: (string | number)[] }[] {
  const read = (first: [clause: string, ...values: (string | number)[]][]) => {
    const args: (string | number)[] = [];
    const filters = deliveryConditions({
      webhookId: request.webhookId,
      status: request.status,
    }).filter(([, value]) => value !== undefined);
    const where = [...first, ...(filters as [string, string | number][])]
      .map(([clause, ...values]) => {
        args.push(...values);
        let n = args.length - values.length;
        return clause.replaceAll('?', () => marker(++n));
      })
      .join(' AND ');
    return { where, args };
  };
  const reads = [
    read([
      ['d.account_id = ?', accountId],
      ['d.id >= ?', request.createdFromId],
      ['d.created_at >= ?', request.createdSince],
    ]),
  ];
  if (request.attemptsAfter !== null) {
    reads.push(
      read([
        ['d.account_id = ?', accountId],
        [
          `d.id IN (SELECT a.delivery_id FROM attempts a WHERE a.${seq} > ? AND a.webhook_id IN (
             SELECT w.id FROM webhooks w WHERE w.account_id = ?))`,
          request.attemptsAfter,
          accountId,
        ],
      ]),
    );
  }
  return reads;
}
