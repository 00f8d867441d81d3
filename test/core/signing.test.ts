// A secret's signing keys, made once (core/signing.ts SigningKey), sign exactly as the secret's
// string does, for every kind of secret SPEC §3 names; and the sender, which keeps them made,
// signs each delivery with the secrets it is given, also when a rotation changes them.
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import type { OutgoingAttempt } from '../../src/core/attempt.js';
import {
  rizlerSignature,
  signingKey,
  standardSignature,
  standardSignatureHeader,
} from '../../src/core/signing.js';
import { generateSecret } from '../../src/webhooks/secrets.js';
import { signedHeaders } from '../../src/worker/sender.js';

const BODY = '{"id":"evt_1","event":"call.ended","data":{"call_id":"c_1","caller":"Zoë"}}';
const AT = 1_765_000_000;

describe('signing keys', () => {
  const secrets = {
    generated: generateSecret(),
    'whsec_ with a part that is not base64': 'whsec_not*base64*at*all',
    'without whsec_': 'a plain shared secret',
    empty: '',
  };

  it.each(Object.entries(secrets))('sign as the secret itself does: %s', (_, secret) => {
    const key = signingKey(secret);
    expect(rizlerSignature(BODY, key)).toBe(rizlerSignature(BODY, secret));
    expect(rizlerSignature(Buffer.from(BODY), key)).toBe(rizlerSignature(BODY, secret));
    expect(standardSignature('evt_1', AT, BODY, key)).toBe(
      standardSignature('evt_1', AT, BODY, secret),
    );
    expect(standardSignatureHeader('evt_1', AT, BODY, [key, signingKey('other')])).toBe(
      standardSignatureHeader('evt_1', AT, BODY, [secret, 'other']),
    );
  });

  it('key each scheme as SPEC §3 says: the UTF-8 for one, the decoded whsec_ part for the other', () => {
    const secret = secrets.generated;
    const key = signingKey(secret);
    expect(rizlerSignature(BODY, key)).toBe(
      'sha256=' + createHmac('sha256', Buffer.from(secret, 'utf8')).update(BODY).digest('hex'),
    );
    const decoded = Buffer.from(secret.slice('whsec_'.length), 'base64');
    expect(standardSignature('evt_1', AT, BODY, key)).toBe(
      'v1,' + createHmac('sha256', decoded).update(`evt_1.${AT}.${BODY}`).digest('base64'),
    );
  });
});

describe("the sender's signatures", () => {
  const attempt = (secrets: string[]): OutgoingAttempt => ({
    url: 'https://example.com/hooks',
    eventId: 'evt_1',
    eventType: 'call.ended',
    deliveryId: 'dlv_1',
    attempt: 1,
    payload: BODY,
    secrets,
  });

  it('verify with each secret given, whichever it signed with before', () => {
    const [first, second, third] = [generateSecret(), generateSecret(), generateSecret()];
    const now = Math.floor(Date.now() / 1000);
    const verifies = (headers: Record<string, string>, secret: string) => {
      expect(headers['x-rizler-signature']).toBe(rizlerSignature(BODY, secret));
      expect(new Webhook(secret).verify(BODY, headers)).toMatchObject({ id: 'evt_1' });
    };
    // The same secret again, then a rotation (the new one first, the old one still signing),
    // then the rotation over: each time the secrets of that attempt, never those before.
    for (const secrets of [[first], [first], [second, first], [third, second], [third]]) {
      const headers = signedHeaders(attempt(secrets), now);
      verifies(headers, secrets[0]!);
      expect(headers['webhook-signature']!.split(' ')).toHaveLength(secrets.length);
      for (const secret of secrets) {
        expect(new Webhook(secret).verify(BODY, headers)).toMatchObject({ id: 'evt_1' });
      }
      const retired = [first, second, third].filter((s) => !secrets.includes(s));
      for (const secret of retired)
        expect(() => new Webhook(secret).verify(BODY, headers)).toThrow();
    }
  });
});
