import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomFillSync, type KeyObject } from 'node:crypto';

/**
 * AES-256-GCM under a key derived from the secret key and a purpose label, so that what one feature
 * seals (the outbox's message inputs, the CA's private keys) cannot be opened as another's.
 */
export const OUTBOX_PURPOSE = 'pippin outbox v1';

/** Derived keys as KeyObjects, made once per secret and purpose (Bulk Add seals 100,000 notices). */
const keys = new WeakMap<Buffer, Map<string, KeyObject>>();
function key(secret: Buffer, purpose: string): KeyObject {
  let byPurpose = keys.get(secret);
  if (!byPurpose) keys.set(secret, (byPurpose = new Map()));
  let k = byPurpose.get(purpose);
  if (!k) {
    k = createSecretKey(createHash('sha256').update(purpose).update(secret).digest());
    byPurpose.set(purpose, k);
  }
  return k;
}

/** Nonces drawn from the system in 4 KiB refills; each is used once (copied out). */
const NONCES = Buffer.alloc(4096);
let nonceAt = NONCES.length;
function nonce(): Buffer {
  if (nonceAt + 12 > NONCES.length) {
    randomFillSync(NONCES);
    nonceAt = 0;
  }
  nonceAt += 12;
  return Buffer.from(NONCES.subarray(nonceAt - 12, nonceAt));
}

export function seal(secret: Buffer, value: unknown, purpose = OUTBOX_PURPOSE): string {
  return sealJson(secret, JSON.stringify(value), purpose);
}

/** `seal` of a value already in JSON. */
export function sealJson(secret: Buffer, json: string, purpose = OUTBOX_PURPOSE): string {
  const iv = nonce();
  const cipher = createCipheriv('aes-256-gcm', key(secret, purpose), iv);
  const body = Buffer.concat([cipher.update(json, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

/** Opens what `seal` sealed under the same secret and purpose; throws when either differs or the text was altered. */
export function unseal<T>(secret: Buffer, sealed: string, purpose = OUTBOX_PURPOSE): T {
  const raw = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key(secret, purpose), raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as T;
}
