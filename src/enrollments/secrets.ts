/**
 * The two secrets of a request: the URL token (192 random bits, base64url) and the passcode (the
 * account's length, from an alphabet without look-alike characters). Both are stored only as
 * HMAC-SHA-256 under the secret key: fast enough for 100,000 requests, useless without the key.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Random } from '../core/clock.js';

/** No 0/O, 1/I/L: a passcode read aloud or off a phone screen is typed right. */
export const PASSCODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
export const TOKEN_BYTES = 24;

export function newToken(random: Random): string {
  return random.bytes(TOKEN_BYTES).toString('base64url');
}

/** Uniform over the alphabet: bytes at or above the largest multiple of its size are drawn again. */
export function newPasscode(random: Random, length: number): string {
  const n = PASSCODE_ALPHABET.length;
  const below = 256 - (256 % n);
  let out = '';
  while (out.length < length) {
    for (const b of random.bytes(length * 2)) {
      if (b < below && out.length < length) out += PASSCODE_ALPHABET[b % n];
    }
  }
  return out;
}

/** The secret key as a KeyObject, made once: HMACs run per request row (100,000 in a Bulk Add). */
const keyObjects = new WeakMap<Buffer, KeyObject>();
function hmacKey(secretKey: Buffer): KeyObject {
  let k = keyObjects.get(secretKey);
  if (!k) keyObjects.set(secretKey, (k = createSecretKey(secretKey)));
  return k;
}

export function tokenHash(secretKey: Buffer, token: string): string {
  return createHmac('sha256', hmacKey(secretKey)).update('enroll-token\u0000').update(token).digest('base64url');
}

/** A passcode is bound to its request: the same passcode on two requests hashes differently. */
export function passcodeHash(secretKey: Buffer, requestId: string, passcode: string): string {
  return createHmac('sha256', hmacKey(secretKey)).update('enroll-passcode\u0000').update(requestId).update('\u0000').update(passcode.trim().toUpperCase()).digest('base64url');
}

export function passcodeMatches(secretKey: Buffer, requestId: string, passcode: string, stored: string): boolean {
  const a = Buffer.from(passcodeHash(secretKey, requestId, passcode));
  const b = Buffer.from(stored);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** An account-driven enrolment's access token, as stored (and compared on every check-in). */
export function accessTokenHash(secretKey: Buffer, token: string): string {
  return createHmac('sha256', hmacKey(secretKey)).update('enroll-access-token\u0000').update(token).digest('base64url');
}
