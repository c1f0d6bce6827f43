/**
 * RC2 (RFC 2268) decryption in CBC mode, for one purpose: reading the certificate bag of a legacy
 * PKCS#12 file (pbeWithSHAAnd40BitRC2-CBC, what Keychain and `openssl pkcs12 -legacy` write).
 * Node 20's OpenSSL 3 keeps RC2 in its legacy provider, which Node does not load, so it is here.
 * Decryption only: Pippin never writes RC2.
 */

/** RFC 2268 §2: the "random" permutation of 0..255 derived from the digits of pi. */
const PITABLE = Uint8Array.from(
  Buffer.from(
    'd978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2' +
      '179a59f587b34f1361456d8d09817d32bd8f40eb86b77b0bf09521225c6b4e82' +
      '54d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626' +
      '6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed7' +
      '08e8eade8052eef784aa72ac354d6a2a961ad2715a1549744b9fd05e0418a4ec' +
      'c2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731' +
      '2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a9' +
      '0d38341bab33ffb0bb480c5fb9b1cd2ec5f3db47e5a59c770aa62068fe7fc1ad',
    'hex',
  ),
);

/** The 64 16-bit subkeys for a key and its effective key length in bits (RFC 2268 §2). */
export function rc2ExpandKey(key: Uint8Array, effectiveBits: number): Uint16Array {
  const t = key.length;
  if (t < 1 || t > 128) throw new RangeError('RC2 keys are 1 to 128 bytes');
  if (effectiveBits < 1 || effectiveBits > 1024) throw new RangeError('RC2 effective key bits are 1 to 1024');
  const l = new Uint8Array(128);
  l.set(key);
  for (let i = t; i < 128; i++) l[i] = PITABLE[(l[i - 1]! + l[i - t]!) & 0xff]!;
  const t8 = (effectiveBits + 7) >> 3;
  const tm = 0xff >> (8 * t8 - effectiveBits);
  l[128 - t8] = PITABLE[l[128 - t8]! & tm]!;
  for (let i = 127 - t8; i >= 0; i--) l[i] = PITABLE[l[i + 1]! ^ l[i + t8]!]!;
  const k = new Uint16Array(64);
  for (let i = 0; i < 64; i++) k[i] = l[2 * i]! | (l[2 * i + 1]! << 8);
  return k;
}

const SHIFTS = [1, 2, 3, 5] as const;
const rotr16 = (x: number, s: number) => ((x >>> s) | (x << (16 - s))) & 0xffff;

/** Decrypts one 8-byte block in place (RFC 2268 §4: five r-mixing, r-mashing, six, r-mashing, five). */
function decryptBlock(k: Uint16Array, block: Uint8Array): void {
  const r = [block[0]! | (block[1]! << 8), block[2]! | (block[3]! << 8), block[4]! | (block[5]! << 8), block[6]! | (block[7]! << 8)];
  let j = 63;
  const rmix = () => {
    for (let i = 3; i >= 0; i--) {
      r[i] = rotr16(r[i]!, SHIFTS[i]!);
      const a = r[(i + 3) & 3]!;
      const b = r[(i + 2) & 3]!;
      const c = r[(i + 1) & 3]!;
      r[i] = (r[i]! - k[j]! - (a & b) - (~a & 0xffff & c)) & 0xffff;
      j--;
    }
  };
  const rmash = () => {
    for (let i = 3; i >= 0; i--) r[i] = (r[i]! - k[r[(i + 3) & 3]! & 63]!) & 0xffff;
  };
  for (let n = 0; n < 5; n++) rmix();
  rmash();
  for (let n = 0; n < 6; n++) rmix();
  rmash();
  for (let n = 0; n < 5; n++) rmix();
  for (let i = 0; i < 4; i++) {
    block[2 * i] = r[i]! & 0xff;
    block[2 * i + 1] = r[i]! >> 8;
  }
}

/** Decrypts one ECB block (for the RFC's test vectors). */
export function rc2DecryptBlock(key: Uint8Array, effectiveBits: number, block: Uint8Array): Uint8Array {
  const out = Uint8Array.from(block);
  decryptBlock(rc2ExpandKey(key, effectiveBits), out);
  return out;
}

/**
 * RC2-CBC decryption with PKCS#7 padding removed. Throws when the length or the padding is wrong
 * (which, under a password-derived key, usually means the password is wrong).
 */
export function rc2CbcDecrypt(key: Uint8Array, effectiveBits: number, iv: Uint8Array, data: Uint8Array): Buffer {
  if (iv.length !== 8) throw new RangeError('RC2-CBC needs an 8-byte IV');
  if (data.length === 0 || data.length % 8 !== 0) throw new Error('RC2-CBC: the data is not a whole number of blocks');
  const k = rc2ExpandKey(key, effectiveBits);
  const out = Buffer.alloc(data.length);
  let prev = Uint8Array.from(iv);
  for (let off = 0; off < data.length; off += 8) {
    const c = data.subarray(off, off + 8);
    const block = Uint8Array.from(c);
    decryptBlock(k, block);
    for (let i = 0; i < 8; i++) out[off + i] = block[i]! ^ prev[i]!;
    prev = Uint8Array.from(c);
  }
  const pad = out[out.length - 1]!;
  if (pad < 1 || pad > 8 || out.subarray(out.length - pad).some((b) => b !== pad)) throw new Error('RC2-CBC: bad padding');
  return out.subarray(0, out.length - pad);
}
