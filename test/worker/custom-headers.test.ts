// The sender's last word on custom headers (SPEC §11), behind the API's own refusal: were a
// stored webhook to carry a header the API refuses (written by an older release, or by hand in
// the database), the system's signature and framing headers still win, and a CR or LF in a
// value never reaches the wire as a second header. A real receiver on 127.0.0.1:0.
import { Agent } from 'undici';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rizlerSignature } from '../../src/core/signing.js';
import type { OutgoingAttempt } from '../../src/core/attempt.js';
import { readHeaders } from '../../src/core/request-headers.js';
import { Sender } from '../../src/worker/sender.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const PAYLOAD =
  '{"id":"evt_1","event":"call.ended","timestamp":"2024-01-15T10:30:00.000Z","data":{}}';
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('custom headers on the wire', () => {
  let receiver: Receiver;
  let dispatcher: Agent;
  let sender: Sender;
  beforeAll(async () => {
    receiver = await startReceiver();
    dispatcher = new Agent();
    sender = new Sender({ dispatcher, timeoutMs: 5_000 });
  });
  afterAll(async () => {
    await dispatcher.close();
    await receiver.close();
  });

  const attempt = (headers: Record<string, string>): OutgoingAttempt => ({
    url: receiver.url,
    eventId: 'evt_1',
    eventType: 'call.ended',
    deliveryId: 'dlv_1',
    attempt: 1,
    payload: PAYLOAD,
    secrets: [SECRET],
    headers,
    traceparent: TRACEPARENT,
  });

  it('cannot override the signatures, the framing or the trace context, in any letter case', async () => {
    receiver.requests.length = 0;
    const result = await sender.send(
      attempt({
        'X-Team': 'sales',
        'X-Rizler-Signature': 'sha256=forged',
        'WEBHOOK-SIGNATURE': 'v1,forged',
        'Webhook-Id': 'evt_forged',
        'Content-Type': 'text/plain',
        'user-agent': 'forged',
        Traceparent: '00-00000000000000000000000000000001-0000000000000001-01',
      }),
    );
    expect(result.succeeded).toBe(true);
    const [request] = await receiver.waitFor(1);
    const h = request!.headers;
    // One value each (a repeated header would arrive joined by ", "), and it is ours.
    expect(h['x-team']).toBe('sales');
    expect(h['x-rizler-signature']).toBe(rizlerSignature(PAYLOAD, SECRET));
    expect(h['webhook-id']).toBe('evt_1');
    expect(h['content-type']).toBe('application/json');
    expect(h['user-agent']).not.toBe('forged');
    expect(h.traceparent).toBe(TRACEPARENT);
    expect(() =>
      new Webhook(SECRET).verify(PAYLOAD, {
        'webhook-id': String(h['webhook-id']),
        'webhook-timestamp': String(h['webhook-timestamp']),
        'webhook-signature': String(h['webhook-signature']),
      }),
    ).not.toThrow();
    // What the delivery log shows is what was sent, name for name and in the order written.
    const logged = readHeaders(result.requestHeaders, {
      deliveryId: 'dlv_1',
      attempt: 1,
      startedAt: result.startedAt,
    });
    const sent = Object.keys(h).filter((name) => name in logged);
    expect(Object.keys(logged)).toEqual(sent);
    expect(sent).toHaveLength(11);
    for (const name of sent) expect(logged[name]).toBe(h[name]);
  });

  it('never sends a value with CR or LF: the attempt fails before anything is written', async () => {
    receiver.requests.length = 0;
    const result = await sender.send(attempt({ 'X-Team': 'sales\r\nX-Evil: 1' }));
    expect(result.succeeded).toBe(false);
    expect(result.statusCode).toBeNull();
    expect(result.error).toMatch(/header/i);
    // undici refuses the header while building the request, before it opens a connection.
    expect(receiver.requests).toHaveLength(0);
  });
});
