// Prefixed, time-ordered ids (`evt_…`, `dlv_…`): the prefix tells a person what an id is, and
// the leading timestamp makes ids sort by creation, so "newest first" is an index scan on id.
import { createHash, randomBytes } from 'node:crypto';
import { RandomPool } from './random-pool.js';

export type IdPrefix = 'acc' | 'wh' | 'evt' | 'dlv' | 'key' | 'aud' | 'ps';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // Crockford base32, sorts like its values

let lastMs = 0;
let counter = 0;

const pool = new RandomPool();

function randomChars(count: number): string {
  const bytes = pool.take(count);
  let out = '';
  // 256 is a multiple of 32, so `% 32` keeps every character equally likely.
  for (let i = 0; i < count; i++) out += ALPHABET[bytes[i]! % 32];
  return out;
}

function encodeTime(ms: number): string {
  let out = '';
  let value = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[value % 32]! + out;
    value = Math.floor(value / 32);
  }
  return out;
}

/**
 * `prefix_` + 10 chars of milliseconds + 4 chars of a per-millisecond counter + 12 random
 * chars. The counter keeps ids made in the same millisecond by this process in order.
 */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  if (now === lastMs) {
    counter++;
  } else {
    lastMs = now;
    counter = 0;
  }
  const rand = randomChars(12);
  let seq = '';
  let c = counter;
  for (let i = 0; i < 4; i++) {
    seq = ALPHABET[c % 32]! + seq;
    c = Math.floor(c / 32);
  }
  return `${prefix}_${encodeTime(now)}${seq}${rand}`;
}

/** A random token for secrets and keys: `prefix` + base64url of `bytes` random bytes. */
export function randomToken(prefix: string, bytes: number): string {
  return prefix + randomBytes(bytes).toString('base64url');
}

/**
 * What the store keeps of an API key or a portal token: its SHA-256, in hex. They carry 32
 * random bytes, so a fast hash is enough: there is nothing to brute-force that a slow hash
 * would protect.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The creation time (ms) encoded in an id made by `newId`, or null for anything else. */
export function idTime(id: string): number | null {
  const underscore = id.indexOf('_');
  const encoded = id.slice(underscore + 1, underscore + 11);
  if (underscore < 0 || encoded.length !== 10) return null;
  let value = 0;
  for (const ch of encoded) {
    const digit = ALPHABET.indexOf(ch);
    if (digit < 0) return null;
    value = value * 32 + digit;
  }
  return value;
}
