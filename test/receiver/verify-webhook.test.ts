// verifyWebhook against deliveries signed by our worker's signer and by the reference
// `standardwebhooks` package, and the reference package against ours.
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { standardSignature } from '../../src/core/signing.js';
import { verifyWebhook, WebhookVerificationError } from '../../src/receiver/index.js';
import type { WebhookVerificationErrorCode } from '../../src/receiver/index.js';
import { makeSecret, nowSeconds, signedDelivery } from './helpers.js';

function failure(run: () => unknown): WebhookVerificationError {
  try {
    run();
  } catch (error) {
    if (error instanceof WebhookVerificationError) return error;
    throw error;
  }
  throw new Error('expected a WebhookVerificationError, but verification passed');
}

function expectCode(run: () => unknown, code: WebhookVerificationErrorCode): string {
  const error = failure(run);
  expect(error.code).toBe(code);
  return error.message;
}

describe('verifyWebhook accepts', () => {
  const secret = makeSecret();

  it('a delivery signed by src/core/signing.ts, returning the parsed event', () => {
    const d = signedDelivery({ secrets: [secret] });
    const event = verifyWebhook(d.body, d.headers, secret);
    expect(event).toEqual(JSON.parse(d.body));
    expect(event.event).toBe('call.ended');
    if (event.event === 'call.ended') {
      expect(event.data).toMatchObject({
        call_id: 'call_123456',
        agent_id: 'agent_789',
        duration: 180,
        status: 'completed',
      });
    }
  });

  it('the body as a Buffer, and headers as Headers, Node headers or any-case keys', () => {
    const d = signedDelivery({ secrets: [secret] });
    const buffer = Buffer.from(d.body);
    expect(verifyWebhook(buffer, new Headers(d.headers), secret).id).toBe(d.id);
    const upper = Object.fromEntries(
      Object.entries(d.headers).map(([k, v]) => [k.toUpperCase(), v]),
    );
    expect(verifyWebhook(buffer, upper, secret).id).toBe(d.id);
    const nodeStyle: Record<string, string | string[] | undefined> = {
      ...d.headers,
      'webhook-signature': [d.headers['webhook-signature']!],
      'x-absent': undefined,
    };
    expect(verifyWebhook(d.body, nodeStyle, secret).id).toBe(d.id);
  });

  it('a body in a Uint8Array view that does not start at offset 0', () => {
    const d = signedDelivery({ secrets: [secret] });
    const padded = Buffer.concat([Buffer.from('xxxx'), Buffer.from(d.body)]);
    const view = new Uint8Array(padded.buffer, padded.byteOffset + 4, padded.length - 4);
    expect(verifyWebhook(view, d.headers, secret).id).toBe(d.id);
  });

  it('a delivery signed by the standardwebhooks package', () => {
    const d = signedDelivery({ secrets: [secret] });
    const signature = new Webhook(secret).sign(d.id, new Date(d.timestamp * 1000), d.body);
    const headers = { ...d.headers, 'webhook-signature': signature };
    expect(signature).toBe(d.headers['webhook-signature']);
    expect(verifyWebhook(d.body, headers, secret).id).toBe(d.id);
  });

  it('a secret that is not whsec_ base64, keyed by its UTF-8 bytes like standardwebhooks raw', () => {
    const plain = 'my shared secret ✓';
    const d = signedDelivery({ secrets: [plain] });
    expect(verifyWebhook(d.body, d.headers, plain).id).toBe(d.id);
    const reference = new Webhook(Buffer.from(plain, 'utf8'), { format: 'raw' });
    expect(reference.verify(d.body, d.headers)).toEqual(JSON.parse(d.body));
  });

  it('when any of several signatures matches (secret rotation), ignoring non-v1 entries', () => {
    const old = makeSecret();
    const fresh = makeSecret();
    const d = signedDelivery({ secrets: [old, fresh] });
    expect(d.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(verifyWebhook(d.body, d.headers, old).id).toBe(d.id);
    expect(verifyWebhook(d.body, d.headers, fresh).id).toBe(d.id);
    const mine = standardSignature(d.id, d.timestamp, d.body, fresh);
    const mixed = `v1a,${mine.slice(3)} v2,abc ${mine} v1,AAAA`;
    expect(verifyWebhook(d.body, { ...d.headers, 'webhook-signature': mixed }, fresh).id).toBe(
      d.id,
    );
    expectCode(() => verifyWebhook(d.body, d.headers, makeSecret()), 'invalid_signature');
  });

  it('timestamps up to the tolerance away, in both directions', () => {
    const now = 1_705_314_600_000;
    for (const offset of [-300, 0, 300]) {
      const d = signedDelivery({ secrets: [secret], timestamp: now / 1000 + offset });
      expect(verifyWebhook(d.body, d.headers, secret, { now }).id).toBe(d.id);
      expect(verifyWebhook(d.body, d.headers, secret, { now: new Date(now) }).id).toBe(d.id);
    }
  });

  it('round trips whatever the id, body and secret (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, unit: 'grapheme-ascii' }).filter((s) => s.trim() === s),
        fc.dictionary(fc.string(), fc.jsonValue()),
        fc.uint8Array({ minLength: 24, maxLength: 64 }),
        (id, data, keyBytes) => {
          const key = `whsec_${Buffer.from(keyBytes).toString('base64')}`;
          const body = JSON.stringify({ id, event: 'call.ended', timestamp: 't', data });
          const d = signedDelivery({ secrets: [key], id, body });
          expect(verifyWebhook(d.body, d.headers, key).id).toBe(id);
          expect(new Webhook(key).verify(d.body, d.headers)).toEqual(JSON.parse(body));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('the standardwebhooks package accepts our signatures', () => {
  it('for a generated secret, single and rotated', () => {
    const a = makeSecret();
    const b = makeSecret();
    const d = signedDelivery({ secrets: [a, b] });
    expect(new Webhook(a).verify(d.body, d.headers)).toEqual(JSON.parse(d.body));
    expect(new Webhook(b).verify(d.body, d.headers)).toEqual(JSON.parse(d.body));
    expect(() => new Webhook(makeSecret()).verify(d.body, d.headers)).toThrow();
  });
});

describe('verifyWebhook rejects', () => {
  const secret = makeSecret();

  it('a tampered body', () => {
    const d = signedDelivery({ secrets: [secret] });
    const tampered = d.body.replace('"duration":180', '"duration":1');
    expect(tampered).not.toBe(d.body);
    const message = expectCode(
      () => verifyWebhook(tampered, d.headers, secret),
      'invalid_signature',
    );
    expect(message).toMatch(/raw bytes/);
  });

  it('any single changed byte of the body (property)', () => {
    const d = signedDelivery({ secrets: [secret] });
    fc.assert(
      fc.property(fc.nat({ max: d.body.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const bytes = Buffer.from(d.body);
        bytes[i] = bytes[i]! ^ x;
        expectCode(() => verifyWebhook(bytes, d.headers, secret), 'invalid_signature');
      }),
      { numRuns: 100 },
    );
  });

  it('the wrong secret, or another id signed with the right one', () => {
    const d = signedDelivery({ secrets: [secret] });
    expectCode(() => verifyWebhook(d.body, d.headers, makeSecret()), 'invalid_signature');
    const otherId = { ...d.headers, 'webhook-id': 'evt_other' };
    expectCode(() => verifyWebhook(d.body, otherId, secret), 'invalid_signature');
    const otherTime = { ...d.headers, 'webhook-timestamp': String(d.timestamp - 1) };
    expectCode(() => verifyWebhook(d.body, otherTime, secret), 'invalid_signature');
  });

  it('a signature header without any v1 entry', () => {
    const d = signedDelivery({ secrets: [secret] });
    const headers = { ...d.headers, 'webhook-signature': 'v2,abc v1a,def' };
    const message = expectCode(() => verifyWebhook(d.body, headers, secret), 'invalid_signature');
    expect(message).toContain('no v1 signature');
  });

  it('a timestamp older than the tolerance', () => {
    const d = signedDelivery({ secrets: [secret], timestamp: nowSeconds() - 301 });
    const message = expectCode(() => verifyWebhook(d.body, d.headers, secret), 'timestamp_too_old');
    expect(message).toMatch(/webhook-timestamp is 30\d s in the past/);
    expect(verifyWebhook(d.body, d.headers, secret, { toleranceSeconds: 600 }).id).toBe(d.id);
  });

  it('a timestamp further in the future than the tolerance', () => {
    const d = signedDelivery({ secrets: [secret], timestamp: nowSeconds() + 400 });
    const message = expectCode(() => verifyWebhook(d.body, d.headers, secret), 'timestamp_too_new');
    expect(message).toContain('in the future');
    const strict = { toleranceSeconds: 60, now: (d.timestamp - 61) * 1000 };
    expectCode(() => verifyWebhook(d.body, d.headers, secret, strict), 'timestamp_too_new');
  });

  it('a timestamp that is not an integer number of seconds', () => {
    const d = signedDelivery({ secrets: [secret] });
    for (const value of ['abc', '12.5', '-5', '1e9', '0x10', `${d.timestamp}ms`]) {
      const headers = { ...d.headers, 'webhook-timestamp': value };
      const message = expectCode(() => verifyWebhook(d.body, headers, secret), 'invalid_timestamp');
      expect(message).toContain('webhook-timestamp');
    }
  });

  it('each missing header, naming it', () => {
    const d = signedDelivery({ secrets: [secret] });
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const headers: Record<string, string> = { ...d.headers };
      delete headers[name];
      const message = expectCode(() => verifyWebhook(d.body, headers, secret), 'missing_header');
      expect(message).toContain(name);
      const empty = { ...d.headers, [name]: '' };
      expectCode(() => verifyWebhook(d.body, empty, secret), 'missing_header');
    }
    expectCode(() => verifyWebhook(d.body, new Headers(), secret), 'missing_header');
  });

  it('a correctly signed body that is not a Rizler event', () => {
    for (const body of ['not json', '[1,2]', '{"id":"e","event":"x","timestamp":"t"}', 'null']) {
      const d = signedDelivery({ secrets: [secret], body });
      expectCode(() => verifyWebhook(d.body, d.headers, secret), 'invalid_body');
    }
  });

  it('is an Error whose name and message say what failed', () => {
    const d = signedDelivery({ secrets: [secret] });
    const error = failure(() => verifyWebhook(d.body, {}, secret));
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('WebhookVerificationError');
    expect(error.message).toBe('The webhook-id header is missing');
  });

  it('programming mistakes with a TypeError: a parsed body, an empty secret', () => {
    const d = signedDelivery({ secrets: [secret] });
    const parsed = JSON.parse(d.body) as unknown as string;
    expect(() => verifyWebhook(parsed, d.headers, secret)).toThrow(/raw body/);
    expect(() => verifyWebhook(d.body, d.headers, '')).toThrow(TypeError);
    expect(() => verifyWebhook(d.body, d.headers, secret, { toleranceSeconds: -1 })).toThrow(
      TypeError,
    );
  });
});
