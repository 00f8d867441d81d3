// What an endpoint receives (SPEC §3): the exact body, every header, and both signatures,
// checked with the npm `standardwebhooks` package and with the SPEC's Python snippet.
import { execFileSync } from 'node:child_process';
import { Webhook } from 'standardwebhooks';
import { findEventType } from '../../src/core/event-catalogue.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const PYTHON_VERIFY = `
import hmac, hashlib, sys
def verify_signature(payload, signature, secret):
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)
payload, signature, secret = sys.stdin.read().split("\\n\\x00\\n")
print("valid" if verify_signature(payload, signature, secret) else "invalid")
`;

function pythonVerify(payload: string, signature: string, secret: string): string {
  return execFileSync('python3', ['-c', PYTHON_VERIFY], {
    input: [payload, signature, secret].join('\n\0\n'),
  })
    .toString()
    .trim();
}

describe('what an endpoint receives', () => {
  let server: TestServer;
  let receiver: Receiver;
  beforeAll(async () => {
    server = await startTestServer();
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await server.close();
    await receiver.close();
  });

  const data = {
    call_id: 'call_123456',
    agent_id: 'agent_789',
    duration: 180,
    status: 'completed',
  };

  it('sends the exact body and every header of SPEC §3, signed both ways', async () => {
    const hook = await server.api('/v1/webhooks', {
      body: { url: receiver.url, events: ['call.ended'] },
    });
    expect(hook.status).toBe(201);
    const secret: string = hook.body.secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);

    const published = await server.api('/v1/events', {
      body: { event: 'call.ended', data, timestamp: '2024-01-15T10:30:00Z' },
    });
    expect(published.status).toBe(202);
    const [req] = await receiver.waitFor(1);
    const body = req!.body;
    expect(body).toBe(
      `{"id":"${published.body.id}","event":"call.ended","timestamp":"2024-01-15T10:30:00Z","data":{"call_id":"call_123456","agent_id":"agent_789","duration":180,"status":"completed"}}`,
    );
    const h = req!.headers;
    expect(req!.method).toBe('POST');
    expect(h['content-type']).toBe('application/json');
    expect(h['user-agent']).toMatch(/^Rizler-Webhooks\/\d+\.\d+\.\d+/);
    expect(h['x-rizler-event']).toBe('call.ended');
    expect(h['x-rizler-delivery']).toMatch(/^dlv_/);
    expect(h['x-rizler-attempt']).toBe('1');
    expect(h['webhook-id']).toBe(published.body.id);
    const signedAt = Number(h['webhook-timestamp']);
    expect(Math.abs(signedAt - Date.now() / 1000)).toBeLessThan(60);

    // Standard Webhooks, with the reference library.
    const verified = new Webhook(secret).verify(body, {
      'webhook-id': String(h['webhook-id']),
      'webhook-timestamp': String(h['webhook-timestamp']),
      'webhook-signature': String(h['webhook-signature']),
    });
    expect(verified).toEqual(JSON.parse(body));

    // X-Rizler-Signature, with exactly the receiver code of the SPEC.
    expect(pythonVerify(body, String(h['x-rizler-signature']), secret)).toBe('valid');
    expect(pythonVerify(body + ' ', String(h['x-rizler-signature']), secret)).toBe('invalid');
    expect(pythonVerify(body, String(h['x-rizler-signature']), secret + 'x')).toBe('invalid');

    // The delivery log shows the same request.
    const detail = await server.api(`/v1/deliveries/${h['x-rizler-delivery']}`);
    expect(detail.status).toBe(200);
    expect(detail.body.request.body).toBe(body);
    expect(detail.body.request.headers['webhook-id']).toBe(published.body.id);
  });

  it('signs with a secret of your own, as UTF-8 bytes for both schemes', async () => {
    const own = 'my-own-secret-1234567';
    const receiver2 = await startReceiver();
    try {
      const hook = await server.api('/v1/webhooks', {
        body: { url: receiver2.url, events: ['agent.*'], secret: own },
      });
      expect(hook.status).toBe(201);
      expect(hook.body.secret).toBe(own);
      const published = await server.api('/v1/events', {
        body: { event: 'agent.created', data: findEventType('agent.created')!.example },
      });
      expect(published.status).toBe(202);
      const [req] = await receiver2.waitFor(1);
      expect(pythonVerify(req!.body, String(req!.headers['x-rizler-signature']), own)).toBe(
        'valid',
      );
      // A non-whsec secret keys the Standard Webhooks HMAC with its UTF-8 bytes: the
      // library takes a base64 key, so hand it those bytes base64-encoded.
      const lib = new Webhook(Buffer.from(own, 'utf8').toString('base64'));
      expect(() =>
        lib.verify(req!.body, {
          'webhook-id': String(req!.headers['webhook-id']),
          'webhook-timestamp': String(req!.headers['webhook-timestamp']),
          'webhook-signature': String(req!.headers['webhook-signature']),
        }),
      ).not.toThrow();
    } finally {
      await receiver2.close();
    }
  });

  it('signs webhook-signature with old and new secret for 24 h after a rotation', async () => {
    const receiver3 = await startReceiver();
    try {
      const hook = await server.api('/v1/webhooks', {
        body: { url: receiver3.url, events: ['call.missed'] },
      });
      const oldSecret: string = hook.body.secret;
      const rotated = await server.api(`/v1/webhooks/${hook.body.id}/secret/rotate`, { body: {} });
      expect(rotated.status).toBe(200);
      const newSecret: string = rotated.body.secret;
      expect(newSecret).not.toBe(oldSecret);
      const expires = Date.parse(rotated.body.previous_secret_expires_at);
      expect(expires - Date.now()).toBeGreaterThan(23.9 * 3600_000);
      expect((await server.api(`/v1/webhooks/${hook.body.id}/secret`)).body.secret).toBe(newSecret);

      const published = await server.api('/v1/events', {
        body: { event: 'call.missed', data: findEventType('call.missed')!.example },
      });
      expect(published.status).toBe(202);
      const [req] = await receiver3.waitFor(1);
      const signatures = String(req!.headers['webhook-signature']).split(' ');
      expect(signatures).toHaveLength(2);
      const headers = {
        'webhook-id': String(req!.headers['webhook-id']),
        'webhook-timestamp': String(req!.headers['webhook-timestamp']),
        'webhook-signature': String(req!.headers['webhook-signature']),
      };
      expect(() => new Webhook(newSecret).verify(req!.body, headers)).not.toThrow();
      expect(() => new Webhook(oldSecret).verify(req!.body, headers)).not.toThrow();
      // X-Rizler-Signature uses the new secret only.
      expect(pythonVerify(req!.body, String(req!.headers['x-rizler-signature']), newSecret)).toBe(
        'valid',
      );
    } finally {
      await receiver3.close();
    }
  });
});
