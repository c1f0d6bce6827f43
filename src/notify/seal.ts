import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM under a key derived from the secret key and a purpose label, so that what one feature
 * seals (the outbox's message inputs, the CA's private keys) cannot be opened as another's.
 */
export const OUTBOX_PURPOSE = 'pippin outbox v1';

const keys = new WeakMap<Buffer, Map<string, Buffer>>();
function key(secret: Buffer, purpose: string): Buffer {
  let byPurpose = keys.get(secret);
  if (!byPurpose) keys.set(secret, (byPurpose = new Map()));
  let k = byPurpose.get(purpose);
  if (!k) {
    k = createHash('sha256').update(purpose).update(secret).digest();
    byPurpose.set(purpose, k);
  }
  return k;
}

export function seal(secret: Buffer, value: unknown, purpose = OUTBOX_PURPOSE): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key(secret, purpose), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

/** Opens what `seal` sealed under the same secret and purpose; throws when either differs or the text was altered. */
export function unseal<T>(secret: Buffer, sealed: string, purpose = OUTBOX_PURPOSE): T {
  const raw = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key(secret, purpose), raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as T;
}
