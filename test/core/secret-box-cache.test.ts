// The secret box opens each sealed secret once: attempts open their endpoint's secrets every
// time, and a decipher costs more than the rest of what the box does.
import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof crypto>();
  return { ...actual, createDecipheriv: vi.fn(actual.createDecipheriv) };
});

const { createSecretBox } = await import('../../src/core/secret-box.js');

describe('secret box', () => {
  it('deciphers a sealed secret once, and each other one once', () => {
    const box = createSecretBox('a passphrase of the operator');
    const first = box.seal('whsec_first');
    const second = box.seal('whsec_second');
    const decipher = vi.mocked(crypto.createDecipheriv);
    decipher.mockClear();
    for (let i = 0; i < 5; i++) {
      expect(box.open(first)).toBe('whsec_first');
      expect(box.open(second)).toBe('whsec_second');
    }
    expect(decipher).toHaveBeenCalledTimes(2);
  });

  it('still refuses a secret sealed under a key it does not have', () => {
    const sealed = createSecretBox('the old key').seal('whsec_x');
    const box = createSecretBox('the new key');
    expect(() => box.open(sealed)).toThrow(/RIZLER_ENCRYPTION_KEY does not list/);
  });
});
