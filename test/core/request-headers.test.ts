// An attempt's request headers as the store keeps them: the sender's own are packed to what
// the attempt's row does not hold, and read back name for name, value for value, in order;
// anything else is kept whole.
import { describe, expect, it } from 'vitest';
import { readHeaders, storedHeaders } from '../../src/core/request-headers.js';
import { signedHeaders } from '../../src/worker/sender.js';
import type { OutgoingAttempt } from '../../src/core/attempt.js';

const STARTED = Date.parse('2026-12-05T10:30:00.750Z');
const facts = { deliveryId: 'dlv_01KBP7Q3W8X0000ABCDEFGHJKM', attempt: 3, startedAt: STARTED };
const out: OutgoingAttempt = {
  url: 'https://example.com/hooks',
  eventId: 'evt_01KBP7Q3W8X0000ABCDEFGHJKM',
  eventType: 'call.ended',
  deliveryId: facts.deliveryId,
  attempt: facts.attempt,
  payload: '{"id":"evt_1","event":"call.ended","timestamp":"2026-12-05T10:30:00.000Z","data":{}}',
  secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD'],
};
const signed = (extra: Partial<OutgoingAttempt> = {}) =>
  signedHeaders({ ...out, ...extra }, Math.floor(STARTED / 1000));

/** The same names, in the same order, with the same values. */
function expectSame(read: Record<string, string>, sent: Record<string, string>): void {
  expect(Object.entries(read)).toEqual(Object.entries(sent));
}

describe('request headers as stored', () => {
  it("packs the sender's headers to what the row does not hold, and reads them back as sent", () => {
    const sent = signed();
    const stored = storedHeaders(sent, facts);
    expect(stored.startsWith('[1,')).toBe(true);
    for (const derived of [facts.deliveryId, '"application/json"', 'x-rizler-', 'webhook-']) {
      expect(stored).not.toContain(derived);
    }
    expect(stored.length).toBeLessThan(JSON.stringify(sent).length * 0.6);
    expectSame(readHeaders(stored, facts), sent);
    // PostgreSQL's driver hands the json column over parsed.
    expectSame(readHeaders(JSON.parse(stored), facts), sent);
  });

  it('keeps custom headers, the trace context and the ordering key in their places', () => {
    const sent = signed({
      headers: { 'X-Team': 'sales', authorization: 'Bearer abc' },
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      orderingKey: 'call_42 é',
    });
    expect(Object.keys(sent)[0]).toBe('x-team');
    expect(Object.keys(sent).at(-1)).toBe('x-rizler-ordering-key');
    const stored = storedHeaders(sent, facts);
    expect(stored.startsWith('[1,')).toBe(true);
    expectSame(readHeaders(stored, facts), sent);
  });

  it('keeps whole any headers that are not exactly the sender’s for these facts', () => {
    const sent = signed();
    const cases: Record<string, string>[] = [
      {},
      { 'content-type': 'application/json', 'x-rizler-event': 'call.ended' },
      // another attempt's number, delivery or second of signing
      signed({ attempt: 4 }),
      signed({ deliveryId: 'dlv_other' }),
      signedHeaders(out, Math.floor(STARTED / 1000) + 1),
      // a header after the sender's own, or one of them missing
      { ...sent, 'x-extra': '1' },
      Object.fromEntries(Object.entries(sent).filter(([name]) => name !== 'webhook-id')),
      { ...sent, 'content-type': 'text/plain' },
    ];
    for (const headers of cases) {
      const stored = storedHeaders(headers, facts);
      expect(stored).toBe(JSON.stringify(headers));
      expectSame(readHeaders(stored, facts), headers);
    }
    // Without the facts (a `listen` attempt's headers), always whole.
    expect(storedHeaders(sent)).toBe(JSON.stringify(sent));
  });

  it('reads headers stored whole by earlier releases, and refuses a packing it does not know', () => {
    const old = { 'content-type': 'application/json', 'x-rizler-delivery': 'dlv_1' };
    expectSame(readHeaders(JSON.stringify(old), facts), old);
    expectSame(readHeaders(old, facts), old);
    expect(() => readHeaders('[2,{},"a","b","c","d","e"]', facts)).toThrow(/version 2/);
  });
});
