/**
 * Reads a PKCS#12 (.p12 / .pfx) file in password-integrity mode (RFC 7292): checks its MAC with the
 * password, decrypts its bags and returns the certificates and private keys it holds. pkijs and
 * asn1js read the structures; `node:crypto` (and `rc2.ts`) do the cryptography, because pkijs'
 * own PKCS#12 path supports PBES2 only and Keychain still writes the legacy algorithms.
 *
 * Supported: MAC with SHA-1/SHA-2 under the PKCS#12 key derivation; PBES2 (PBKDF2 with HMAC-SHA-1/2,
 * AES-128/192/256-CBC or 3DES-CBC) as `openssl pkcs12 -export` writes by default; the PKCS#12 PBE
 * schemes pbeWithSHAAnd3-KeyTripleDES-CBC, 2-KeyTripleDES, 128- and 40-bit RC2-CBC as Keychain and
 * `openssl pkcs12 -export -legacy` write. Not supported: public-key integrity or privacy modes, RC4.
 */
import { createDecipheriv, createHash, createHmac, createPrivateKey, pbkdf2Sync, timingSafeEqual, X509Certificate, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { rc2CbcDecrypt } from './rc2.js';

/** Why a file could not be read: `password` when the MAC or a decryption says the password is wrong. */
export class Pkcs12Error extends Error {
  constructor(
    readonly reason: 'format' | 'password' | 'unsupported',
    message: string,
  ) {
    super(message);
    this.name = 'Pkcs12Error';
  }
}

export interface Pkcs12Contents {
  certificates: X509Certificate[];
  keys: KeyObject[];
}

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
} as const;

/** Digests by OID, with their block size (the PKCS#12 KDF's `v`). */
const DIGESTS: Record<string, { name: string; block: number }> = {
  '1.3.14.3.2.26': { name: 'sha1', block: 64 },
  '2.16.840.1.101.3.4.2.4': { name: 'sha224', block: 64 },
  '2.16.840.1.101.3.4.2.1': { name: 'sha256', block: 64 },
  '2.16.840.1.101.3.4.2.2': { name: 'sha384', block: 128 },
  '2.16.840.1.101.3.4.2.3': { name: 'sha512', block: 128 },
};

/** PBKDF2 pseudo-random functions by OID. */
const PRFS: Record<string, string> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};

/** PBES2 encryption schemes by OID: cipher and key length. */
const PBES2_CIPHERS: Record<string, { cipher: string; keyLength: number }> = {
  '2.16.840.1.101.3.4.1.2': { cipher: 'aes-128-cbc', keyLength: 16 },
  '2.16.840.1.101.3.4.1.22': { cipher: 'aes-192-cbc', keyLength: 24 },
  '2.16.840.1.101.3.4.1.42': { cipher: 'aes-256-cbc', keyLength: 32 },
  '1.2.840.113549.3.7': { cipher: 'des-ede3-cbc', keyLength: 24 },
};

/** The PKCS#12 PBE schemes (RFC 7292 Appendix C), all with SHA-1 and an 8-byte IV. */
const PKCS12_PBE: Record<string, { cipher: 'des-ede3-cbc' | 'des-ede-cbc' | 'rc2'; keyLength: number }> = {
  '1.2.840.113549.1.12.1.3': { cipher: 'des-ede3-cbc', keyLength: 24 },
  '1.2.840.113549.1.12.1.4': { cipher: 'des-ede-cbc', keyLength: 16 },
  '1.2.840.113549.1.12.1.5': { cipher: 'rc2', keyLength: 16 },
  '1.2.840.113549.1.12.1.6': { cipher: 'rc2', keyLength: 5 },
};

/** The password as PKCS#12 wants it for its own KDF: UTF-16BE with a two-byte NUL terminator. */
export function bmpPassword(password: string): Buffer {
  const out = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) out.writeUInt16BE(password.charCodeAt(i), i * 2);
  return out;
}

/** RFC 7292 Appendix B.2: derives `n` bytes of purpose `id` (1 key, 2 IV, 3 MAC key). */
export function pkcs12Kdf(digest: string, blockSize: number, password: Buffer, salt: Buffer, id: 1 | 2 | 3, iterations: number, n: number): Buffer {
  const v = blockSize;
  const fill = (src: Buffer) => {
    if (!src.length) return Buffer.alloc(0);
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length]!;
    return out;
  };
  const d = Buffer.alloc(v, id);
  const i = Buffer.concat([fill(salt), fill(password)]);
  const out: Buffer[] = [];
  let have = 0;
  while (have < n) {
    let a = createHash(digest).update(d).update(i).digest();
    for (let r = 1; r < iterations; r++) a = createHash(digest).update(a).digest();
    out.push(a);
    have += a.length;
    if (have >= n) break;
    const b = Buffer.alloc(v);
    for (let k = 0; k < v; k++) b[k] = a[k % a.length]!;
    // I_j = (I_j + B + 1) mod 2^(8v), for each v-byte block of I.
    for (let off = 0; off < i.length; off += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = i[off + k]! + b[k]! + carry;
        i[off + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, n);
}

const MAX_ITERATIONS = 1_000_000;

function iterationsOf(n: unknown): number {
  const it = typeof n === 'number' ? n : 1;
  if (!Number.isSafeInteger(it) || it < 1 || it > MAX_ITERATIONS) throw new Pkcs12Error('unsupported', `An iteration count of ${String(n)} is not supported`);
  return it;
}

const bytes = (v: asn1js.OctetString | { valueBlock: { valueHexView: Uint8Array } }): Buffer =>
  v instanceof asn1js.OctetString ? Buffer.from(v.getValue()) : Buffer.from(v.valueBlock.valueHexView);

function fromDer(der: Uint8Array, what: string): asn1js.AsnType {
  const parsed = asn1js.fromBER(der);
  if (parsed.offset === -1 || parsed.offset !== der.byteLength) throw new Pkcs12Error('format', `${what} is not valid DER`);
  return parsed.result;
}

function build<T>(make: () => T, what: string): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof Pkcs12Error) throw e;
    throw new Pkcs12Error('format', `${what} is not well formed${e instanceof Error ? `: ${e.message}` : ''}`);
  }
}

function decipher(cipher: string, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  try {
    const d = createDecipheriv(cipher, key, iv);
    return Buffer.concat([d.update(data), d.final()]);
  } catch {
    throw new Pkcs12Error('password', 'The password is wrong (the content does not decrypt)');
  }
}

/** Decrypts content under a password-based algorithm (PBES2 or a PKCS#12 PBE scheme). */
function decrypt(alg: pkijs.AlgorithmIdentifier, password: string, data: Buffer): Buffer {
  if (alg.algorithmId === OID.pbes2) {
    const params = build(() => new pkijs.PBES2Params({ schema: alg.algorithmParams }), 'The PBES2 parameters');
    if (params.keyDerivationFunc.algorithmId !== OID.pbkdf2) throw new Pkcs12Error('unsupported', `Key derivation ${params.keyDerivationFunc.algorithmId} is not supported`);
    const kdf = build(() => new pkijs.PBKDF2Params({ schema: params.keyDerivationFunc.algorithmParams }), 'The PBKDF2 parameters');
    const scheme = PBES2_CIPHERS[params.encryptionScheme.algorithmId];
    if (!scheme) throw new Pkcs12Error('unsupported', `Encryption ${params.encryptionScheme.algorithmId} is not supported`);
    const prf = kdf.prf ? PRFS[kdf.prf.algorithmId] : 'sha1';
    if (!prf) throw new Pkcs12Error('unsupported', `PBKDF2 function ${kdf.prf!.algorithmId} is not supported`);
    if (!(kdf.salt instanceof asn1js.OctetString)) throw new Pkcs12Error('unsupported', 'PBKDF2 with a non-octet salt is not supported');
    const iv = params.encryptionScheme.algorithmParams;
    if (!(iv instanceof asn1js.OctetString)) throw new Pkcs12Error('format', 'The PBES2 cipher has no IV');
    const key = pbkdf2Sync(Buffer.from(password, 'utf8'), bytes(kdf.salt), iterationsOf(kdf.iterationCount), kdf.keyLength ?? scheme.keyLength, prf);
    return decipher(scheme.cipher, key, bytes(iv), data);
  }
  const pbe = PKCS12_PBE[alg.algorithmId];
  if (!pbe) throw new Pkcs12Error('unsupported', `Encryption ${alg.algorithmId} is not supported`);
  const seq = alg.algorithmParams;
  if (!(seq instanceof asn1js.Sequence) || !(seq.valueBlock.value[0] instanceof asn1js.OctetString) || !(seq.valueBlock.value[1] instanceof asn1js.Integer)) {
    throw new Pkcs12Error('format', 'The PBE parameters are not well formed');
  }
  const salt = bytes(seq.valueBlock.value[0]);
  const iterations = iterationsOf(seq.valueBlock.value[1].valueBlock.valueDec);
  const pw = bmpPassword(password);
  const key = pkcs12Kdf('sha1', 64, pw, salt, 1, iterations, pbe.keyLength);
  const iv = pkcs12Kdf('sha1', 64, pw, salt, 2, iterations, 8);
  if (pbe.cipher === 'rc2') {
    try {
      return rc2CbcDecrypt(key, pbe.keyLength * 8, iv, data);
    } catch {
      throw new Pkcs12Error('password', 'The password is wrong (the content does not decrypt)');
    }
  }
  // Two-key triple DES is three-key with K1 again as K3.
  const k = pbe.cipher === 'des-ede-cbc' ? Buffer.concat([key, key.subarray(0, 8)]) : key;
  return decipher('des-ede3-cbc', k, iv, data);
}

/** Checks the MAC; an empty password is tried both as "" and as no password at all, as OpenSSL does. */
function verifyMac(mac: pkijs.MacData, password: string, content: Buffer): void {
  const digest = DIGESTS[mac.mac.digestAlgorithm.algorithmId];
  if (!digest) throw new Pkcs12Error('unsupported', `MAC digest ${mac.mac.digestAlgorithm.algorithmId} is not supported`);
  const expected = bytes(mac.mac.digest);
  const salt = bytes(mac.macSalt);
  const iterations = iterationsOf(mac.iterations ?? 1);
  const candidates = password === '' ? [bmpPassword(''), Buffer.alloc(0)] : [bmpPassword(password)];
  for (const pw of candidates) {
    const size = createHash(digest.name).digest().length;
    const key = pkcs12Kdf(digest.name, digest.block, pw, salt, 3, iterations, size);
    const got = createHmac(digest.name, key).update(content).digest();
    if (got.length === expected.length && timingSafeEqual(got, expected)) return;
  }
  throw new Pkcs12Error('password', 'The password is wrong (the file’s integrity check fails)');
}

function readBags(safeContents: Buffer, password: string, out: Pkcs12Contents): void {
  const sc = build(() => new pkijs.SafeContents({ schema: fromDer(safeContents, 'A SafeContents') }), 'A SafeContents');
  for (const bag of sc.safeBags) {
    if (bag.bagId === OID.certBag) {
      const cb = bag.bagValue as unknown as pkijs.CertBag;
      if (cb.certId !== OID.x509Certificate) continue;
      const der = cb.certValue instanceof asn1js.OctetString ? bytes(cb.certValue) : Buffer.from((cb.certValue as pkijs.Certificate).toSchema().toBER());
      try {
        out.certificates.push(new X509Certificate(der));
      } catch {
        throw new Pkcs12Error('format', 'A certificate in the file cannot be read');
      }
    } else if (bag.bagId === OID.shroudedKeyBag || bag.bagId === OID.keyBag) {
      let der: Buffer;
      if (bag.bagId === OID.shroudedKeyBag) {
        const sk = bag.bagValue as unknown as pkijs.PKCS8ShroudedKeyBag;
        der = decrypt(sk.encryptionAlgorithm, password, bytes(sk.encryptedData));
      } else {
        der = Buffer.from((bag.bagValue as unknown as pkijs.PrivateKeyInfo).toSchema().toBER());
      }
      try {
        out.keys.push(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
      } catch {
        // A key that decrypts to garbage under the legacy schemes is a wrong password more often than a broken file.
        throw new Pkcs12Error('password', 'The password is wrong (the private key does not decrypt)');
      }
    }
    // Other bags (CRLs, secrets, nested SafeContents) carry nothing a push certificate needs.
  }
}

/**
 * The certificates and keys of a PKCS#12 file. Throws Pkcs12Error: `password` for a wrong password,
 * `format` for something that is not a PKCS#12 file, `unsupported` for a mode or algorithm above.
 */
export function readPkcs12(der: Uint8Array, password: string): Pkcs12Contents {
  const pfx = build(() => new pkijs.PFX({ schema: fromDer(der, 'The file') }), 'The file');
  if (pfx.authSafe.contentType !== OID.data) throw new Pkcs12Error('unsupported', 'Only password-protected PKCS#12 files are supported (not public-key integrity mode)');
  const content = bytes(pfx.authSafe.content as asn1js.OctetString);
  if (pfx.macData) verifyMac(pfx.macData, password, content);
  const authSafe = build(() => new pkijs.AuthenticatedSafe({ schema: fromDer(content, 'The AuthenticatedSafe') }), 'The AuthenticatedSafe');
  const out: Pkcs12Contents = { certificates: [], keys: [] };
  for (const ci of authSafe.safeContents) {
    if (ci.contentType === OID.data) {
      readBags(bytes(ci.content as asn1js.OctetString), password, out);
    } else if (ci.contentType === OID.encryptedData) {
      const ed = build(() => new pkijs.EncryptedData({ schema: ci.content }), 'An EncryptedData');
      const eci = ed.encryptedContentInfo;
      if (!eci.encryptedContent) throw new Pkcs12Error('format', 'An EncryptedData has no content');
      readBags(decrypt(eci.contentEncryptionAlgorithm, password, bytes(eci.encryptedContent)), password, out);
    } else {
      throw new Pkcs12Error('unsupported', 'Only password-protected PKCS#12 files are supported (not public-key privacy mode)');
    }
  }
  return out;
}
