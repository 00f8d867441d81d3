// The WHERE clause of the event and delivery logs (src/storage/list-filters.ts), as each
// engine marks its values; the contract suite checks what the lists return.
import { describe, expect, it } from 'vitest';
import { deliveryConditions, eventConditions, pageWhere } from '../../src/storage/list-filters.js';

const dollar = (n: number) => `$${n}`;

describe('pageWhere', () => {
  it('is the account alone when no filter is set, on the first page', () => {
    expect(pageWhere('acc_1', eventConditions({}), { limit: 10, after: null }, dollar)).toEqual({
      where: 'account_id = $1',
      args: ['acc_1'],
    });
  });

  it('adds each set filter in order, then the page start, numbering the values', () => {
    const filter = { eventType: 'call.ended', until: 2000 };
    expect(
      pageWhere('acc_1', eventConditions(filter), { limit: 10, after: 'evt_9' }, dollar),
    ).toEqual({
      where: 'account_id = $1 AND type = $2 AND created_at < $3 AND id < $4',
      args: ['acc_1', 'call.ended', 2000, 'evt_9'],
    });
    expect(
      pageWhere('acc_1', eventConditions(filter), { limit: 10, after: 'evt_9' }, () => '?').where,
    ).toBe('account_id = ? AND type = ? AND created_at < ? AND id < ?');
  });

  it('filters deliveries by every field the log offers, and keeps a 0', () => {
    const { where, args } = pageWhere(
      'acc_1',
      deliveryConditions({
        webhookId: 'wh_1',
        status: 'failed',
        eventType: 'call.ended',
        orderingKey: 'k',
        since: 0,
        until: 10,
      }),
      { limit: 10, after: null },
      () => '?',
    );
    expect(where).toBe(
      'account_id = ? AND webhook_id = ? AND status = ? AND event_type = ? AND ordering_key = ?' +
        ' AND created_at >= ? AND created_at < ?',
    );
    expect(args).toEqual(['acc_1', 'wh_1', 'failed', 'call.ended', 'k', 0, 10]);
  });
});
