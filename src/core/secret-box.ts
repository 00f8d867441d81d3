// Endpoint secrets at rest: AES-256-GCM under RIZLER_ENCRYPTION_KEY. Without a key they are
// stored as written (`plain:`), so turning a key on later still reads the old rows, and the
// next write (rotation, update) seals them.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const SEALED = 'v1:';
const PLAIN = 'plain:';

export interface SecretBox {
  seal(secret: string): string;
  open(stored: string): string;
}

/** Any passphrase works as a key: it is stretched to 32 bytes with SHA-256. */
function keyBytes(key: string): Buffer {
  if (/^[A-Za-z0-9+/]{43}=$/.test(key)) {
    const raw = Buffer.from(key, 'base64');
    if (raw.length === 32) return raw;
  }
  return createHash('sha256').update(key, 'utf8').digest();
}

export function createSecretBox(encryptionKey: string | null): SecretBox {
  const key = encryptionKey === null ? null : keyBytes(encryptionKey);
  return {
    seal(secret) {
      if (key === null) return PLAIN + secret;
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
      return SEALED + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
    },
    open(stored) {
      if (stored.startsWith(PLAIN)) return stored.slice(PLAIN.length);
      if (!stored.startsWith(SEALED)) throw new Error('unknown secret encoding');
      if (key === null) {
        throw new Error('endpoint secrets are encrypted; set RIZLER_ENCRYPTION_KEY to read them');
      }
      const raw = Buffer.from(stored.slice(SEALED.length), 'base64');
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    },
  };
}
