// Signing secrets: generated as `whsec_` + base64 of 32 random bytes (the Standard Webhooks
// form every library accepts), or the user's own of 16 to 128 characters.
import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';

/** After a rotation the old secret keeps signing `webhook-signature` this long. */
export const SECRET_OVERLAP_MS = 24 * 60 * 60 * 1000;

export const SecretField = Type.String({
  minLength: 16,
  maxLength: 128,
  pattern: '^[^\\s\\x00-\\x1f]+$',
  description: 'Your own secret, 16 to 128 characters without spaces; omit to generate one.',
});

export function generateSecret(): string {
  return 'whsec_' + randomBytes(32).toString('base64');
}
