// verifySignature must agree with the receiver code SPEC §3 gives for X-Rizler-Signature, run
// as written by python3 on the same payloads, secrets and headers.
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rizlerSignature } from '../../src/core/signing.js';
import { verifySignature } from '../../src/receiver/index.js';

// SPEC §3, verbatim, plus a driver that reads cases as JSON on stdin.
const PYTHON = `
import hashlib, hmac, json, sys

def verify_signature(payload, signature, secret):
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={expected}", signature)

out = []
for case in json.load(sys.stdin):
    signed = "sha256=" + hmac.new(case["secret"].encode(), case["payload"].encode(), hashlib.sha256).hexdigest()
    out.append({"valid": verify_signature(case["payload"], case["signature"], case["secret"]), "signed": signed})
print(json.dumps(out))
`;

interface Case {
  payload: string;
  signature: string;
  secret: string;
}

function python(cases: Case[]): { valid: boolean; signed: string }[] {
  const stdout = execFileSync('python3', ['-c', PYTHON], {
    input: JSON.stringify(cases),
    encoding: 'utf8',
  });
  return JSON.parse(stdout) as { valid: boolean; signed: string }[];
}

const BODY =
  '{"id":"evt_2Y","event":"call.ended","timestamp":"2024-01-15T10:30:00Z",' +
  '"data":{"call_id":"call_123456","agent_id":"agent_789","duration":180,"status":"completed"}}';

describe('verifySignature and the SPEC Python snippet', () => {
  it('agree on fixed cases: valid, tampered, wrong secret, malformed headers, non-ASCII', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const good = rizlerSignature(BODY, secret);
    const cases: Case[] = [
      { payload: BODY, signature: good, secret },
      { payload: BODY.replace('180', '181'), signature: good, secret },
      { payload: BODY, signature: good, secret: 'whsec_other' },
      { payload: BODY, signature: good.toUpperCase(), secret },
      { payload: BODY, signature: good.slice('sha256='.length), secret },
      { payload: BODY, signature: `${good} `, secret },
      { payload: BODY, signature: '', secret },
      { payload: '', signature: rizlerSignature('', secret), secret },
      { payload: '{"note":"café – 日本語 🎧"}', signature: '', secret: 'clé secrète 🔑' },
    ];
    cases.at(-1)!.signature = rizlerSignature(cases.at(-1)!.payload, 'clé secrète 🔑');
    const results = python(cases);
    const ours = cases.map((c) => verifySignature(c.payload, c.signature, c.secret));
    expect(ours).toEqual(results.map((r) => r.valid));
    expect(ours).toEqual([true, false, false, false, false, false, false, true, true]);
    // Python's signature for every case is accepted by us, with a string or a Buffer body.
    cases.forEach((c, i) => {
      expect(verifySignature(Buffer.from(c.payload), results[i]!.signed, c.secret)).toBe(true);
    });
  });

  it('agree on random payloads, secrets and signatures (property, one python3 run)', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 200 });
    const cases = fc.sample(
      fc.record({ payload: text, secret: text.filter((s) => s !== '') }).chain((c) =>
        fc.record({
          payload: fc.constant(c.payload),
          secret: fc.constant(c.secret),
          signature: fc.oneof(
            fc.constant(rizlerSignature(c.payload, c.secret)),
            fc.constant(rizlerSignature(c.payload + ' ', c.secret)),
            fc.string({ unit: 'grapheme-ascii', maxLength: 80 }),
          ),
        }),
      ),
      { numRuns: 300, seed: 20240115 },
    );
    const results = python(cases);
    cases.forEach((c, i) => {
      expect(verifySignature(c.payload, c.signature, c.secret), JSON.stringify(c)).toBe(
        results[i]!.valid,
      );
      expect(rizlerSignature(c.payload, c.secret)).toBe(results[i]!.signed);
    });
    expect(results.some((r) => r.valid)).toBe(true);
    expect(results.some((r) => !r.valid)).toBe(true);
  });
});

describe('verifySignature', () => {
  const secret = 'whsec_test';
  const good = rizlerSignature(BODY, secret);

  it('answers false for an absent header rather than throwing', () => {
    expect(verifySignature(BODY, undefined, secret)).toBe(false);
    expect(verifySignature(BODY, null, secret)).toBe(false);
    expect(verifySignature(BODY, [], secret)).toBe(false);
  });

  it('takes the header as Node gives it, string or array', () => {
    expect(verifySignature(BODY, [good], secret)).toBe(true);
    expect(verifySignature(BODY, ['sha256=00', good], secret)).toBe(true);
  });
});
