// Endpoint secrets at rest: AES-256-GCM under RIZLER_ENCRYPTION_KEY. Without a key they are
// stored as written (`plain:`), so turning a key on later still reads the old rows.
//
// Key rotation: RIZLER_ENCRYPTION_KEY takes a comma-separated list, newest first. The first
// key seals; every key in the list opens what it sealed (each sealed value names its key by
// an 8-hex-digit fingerprint). `rizler-webhooks secrets reseal` rewrites every stored secret
// under the first key, after which the old keys can be dropped from the list.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const SEALED = 'v1:';
const PLAIN = 'plain:';

export interface SecretBox {
  seal(secret: string): string;
  open(stored: string): string;
  /** True when `stored` is already sealed by the current key (or plain with no key set). */
  isCurrent(stored: string): boolean;
}

interface Key {
  id: string;
  bytes: Buffer;
}

/** A 32-byte base64 key is used as it is; any other passphrase is stretched with SHA-256. */
function toKey(text: string): Key {
  let bytes: Buffer;
  if (/^[A-Za-z0-9+/]{43}=$/.test(text) && Buffer.from(text, 'base64').length === 32) {
    bytes = Buffer.from(text, 'base64');
  } else {
    bytes = createHash('sha256').update(text, 'utf8').digest();
  }
  return { id: createHash('sha256').update(bytes).digest('hex').slice(0, 8), bytes };
}

export function parseEncryptionKeys(setting: string | null): string[] {
  if (setting === null) return [];
  return setting
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
}

/**
 * Secrets opened, kept by their sealed text, at most this many (then forgotten all at once).
 * Each attempt opens its endpoint's secrets: an AES-GCM decipher is about 7 µs on the thread
 * that claims and records (measured alone), for a value that changes only with a rotation. Only
 * what the box's keys opened is kept, so a hit needs no parsing. The process holds the secrets
 * while it signs with them anyway.
 */
const OPENED_SECRETS = 10_000;

export function createSecretBox(encryptionKey: string | null): SecretBox {
  const keys = parseEncryptionKeys(encryptionKey).map(toKey);
  const current = keys[0] ?? null;
  const opened = new Map<string, string>();
  return {
    seal(secret) {
      if (current === null) return PLAIN + secret;
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current.bytes, iv);
      const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
      const sealed = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
      return `${SEALED}${current.id}:${sealed}`;
    },
    open(stored) {
      if (stored.startsWith(PLAIN)) return stored.slice(PLAIN.length);
      const known = opened.get(stored);
      if (known !== undefined) return known;
      if (!stored.startsWith(SEALED)) throw new Error('unknown secret encoding');
      const [keyId, sealed = ''] = stored.slice(SEALED.length).split(':');
      const key = keys.find((k) => k.id === keyId);
      if (!key) {
        throw new Error(
          `an endpoint secret is sealed with key ${keyId}, which RIZLER_ENCRYPTION_KEY does not list`,
        );
      }
      const raw = Buffer.from(sealed, 'base64');
      const decipher = createDecipheriv('aes-256-gcm', key.bytes, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      const secret = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString(
        'utf8',
      );
      if (opened.size >= OPENED_SECRETS) opened.clear();
      opened.set(stored, secret);
      return secret;
    },
    isCurrent(stored) {
      if (current === null) return stored.startsWith(PLAIN);
      return stored.startsWith(`${SEALED}${current.id}:`);
    },
  };
}
