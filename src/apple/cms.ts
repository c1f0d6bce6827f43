/**
 * CMS SignedData (RFC 5652) for Apple's protocol: signing profiles (attached content) and SCEP
 * replies, and verifying what devices sign (the detached `Mdm-Signature` over a check-in body, SCEP
 * requests). Structures are read once with asn1js; every signature and digest is node:crypto (pkijs'
 * WebCrypto verify costs ~7 ms, a native RSA verify tens of microseconds; APPLE.md §9). Parsed
 * certificates are cached by their SHA-256.
 */
import { X509Certificate, createHash, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { Ca, Identity } from './ca.js';
import { DerError, algorithm, ctx, integer, isContext, issuerAndSerial, kids, octetString, octets, oid, oidOf, parseDer, raw, seq, set, setOf, time, type Block } from './der.js';

export const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

const DIGESTS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
/** Signature algorithms accepted from devices: RSA PKCS#1 v1.5 and ECDSA, with the digest they imply (if any). */
const SIGNATURES: Record<string, { key: 'rsa' | 'ec'; digest?: string }> = {
  '1.2.840.113549.1.1.1': { key: 'rsa' },
  '1.2.840.113549.1.1.5': { key: 'rsa', digest: 'sha1' },
  '1.2.840.113549.1.1.11': { key: 'rsa', digest: 'sha256' },
  '1.2.840.113549.1.1.12': { key: 'rsa', digest: 'sha384' },
  '1.2.840.113549.1.1.13': { key: 'rsa', digest: 'sha512' },
  '1.2.840.10045.4.1': { key: 'ec', digest: 'sha1' },
  '1.2.840.10045.4.3.2': { key: 'ec', digest: 'sha256' },
  '1.2.840.10045.4.3.3': { key: 'ec', digest: 'sha384' },
  '1.2.840.10045.4.3.4': { key: 'ec', digest: 'sha512' },
};

// ---- signing ----

/** A signed attribute: its type and the DER of each value. */
export type SignedAttribute = [type: string, values: Buffer[]];

export interface SignOptions {
  /** The encapsulated content; absent for a SignedData without content (a SCEP failure reply). */
  content?: Buffer;
  contentType?: string;
  signer: Identity;
  /** Attributes beyond contentType, messageDigest and signingTime. */
  attributes?: SignedAttribute[];
  signingTime?: Date;
  /** Certificates to include; by default the signer's and its chain. */
  certificates?: Buffer[];
  /** Leave the content out (a detached signature, as a device's Mdm-Signature); it is still what is signed. */
  detached?: boolean;
}

const sidCache = new WeakMap<Buffer, Buffer>();
function sidOf(certDer: Buffer): Buffer {
  let sid = sidCache.get(certDer);
  if (!sid) sidCache.set(certDer, (sid = issuerAndSerial(certDer).der));
  return sid;
}

/** CMS SignedData (DER ContentInfo), SHA-256, signed attributes sorted by their encodings. */
export function signedData(opts: SignOptions): Buffer {
  const contentType = opts.contentType ?? OID.data;
  const { signer } = opts;
  const digest = createHash('sha256').update(opts.content ?? Buffer.alloc(0)).digest();
  const attrs = [
    seq(oid(OID.contentType), set(oid(contentType))),
    seq(oid(OID.signingTime), set(time(opts.signingTime ?? new Date()))),
    seq(oid(OID.messageDigest), set(octetString(digest))),
    ...(opts.attributes ?? []).map(([type, values]) => seq(oid(type), setOf(values))),
  ];
  const signedAttrs = setOf(attrs);
  const isEc = signer.key.asymmetricKeyType === 'ec';
  const signature = cryptoSign('sha256', signedAttrs, signer.key);
  const signerInfo = seq(
    integer(1),
    sidOf(signer.certDer),
    algorithm(OID.sha256),
    Buffer.concat([Buffer.from([0xa0]), signedAttrs.subarray(1)]),
    isEc ? algorithm(OID.ecdsaSha256, null) : algorithm(OID.rsaEncryption),
    octetString(signature),
  );
  const certs = opts.certificates ?? [signer.certDer, ...signer.chain];
  const body = seq(
    integer(1),
    set(algorithm(OID.sha256)),
    seq(oid(contentType), ...(opts.content && !opts.detached ? [ctx(0, octetString(opts.content))] : [])),
    ...(certs.length ? [ctx(0, Buffer.concat(certs))] : []),
    set(signerInfo),
  );
  return seq(oid(OID.signedData), ctx(0, body));
}

/** Signs content with attached data (profiles: `application/x-apple-aspen-config`). */
export function signAttached(content: Buffer, identity: Identity): Buffer {
  return signedData({ content, signer: identity });
}

/** A certs-only ("degenerate") SignedData carrying certificates and no signer. */
export function certsOnly(certs: Buffer[]): Buffer {
  return seq(oid(OID.signedData), ctx(0, seq(integer(1), set(), seq(oid(OID.data)), ctx(0, Buffer.concat(certs)), set())));
}

// ---- reading and verifying ----

export interface ParsedSigner {
  /** The raw sid: IssuerAndSerialNumber SEQUENCE, or [0] SubjectKeyIdentifier. */
  sid: Buffer;
  digest: string;
  signatureAlgorithm: string;
  signature: Buffer;
  /** The signed attributes as signed (DER SET OF, tag 0x31), when present. */
  signedAttrs?: Buffer;
  /** Signed attribute values by type. */
  attributes: Map<string, Block[]>;
}

export interface ParsedSignedData {
  contentType: string;
  /** The encapsulated content, when attached. */
  content?: Buffer;
  /** Certificates in the message (DER). */
  certificates: Buffer[];
  signers: ParsedSigner[];
}

/** Reads a DER ContentInfo holding SignedData; throws DerError on anything else. */
export function parseSignedData(der: Uint8Array): ParsedSignedData {
  const ci = kids(parseDer(der), 'ContentInfo');
  if (oidOf(ci[0], 'contentType') !== OID.signedData || !isContext(ci[1], 0)) throw new DerError('Not a CMS SignedData');
  const sd = kids(kids(ci[1], '[0]')[0], 'SignedData');
  const eci = kids(sd[2], 'EncapsulatedContentInfo');
  const contentType = oidOf(eci[0], 'eContentType');
  const content = eci[1] ? octets(kids(eci[1], 'eContent')[0], 'eContent') : undefined;
  let i = 3;
  const certificates: Buffer[] = [];
  if (isContext(sd[i], 0)) certificates.push(...kids(sd[i++], 'certificates').map(raw));
  if (isContext(sd[i], 1)) i++;
  const signers = kids(sd[i], 'signerInfos').map(parseSigner);
  return { contentType, content, certificates, signers };
}

function parseSigner(block: Block): ParsedSigner {
  const f = kids(block, 'SignerInfo');
  const digest = DIGESTS[oidOf(kids(f[2], 'digestAlgorithm')[0], 'digestAlgorithm')];
  if (!digest) throw new DerError('Unsupported digest algorithm');
  let i = 3;
  let signedAttrs: Buffer | undefined;
  const attributes = new Map<string, Block[]>();
  if (isContext(f[i], 0)) {
    const attrsBlock = f[i++]!;
    signedAttrs = raw(attrsBlock);
    signedAttrs[0] = 0x31;
    for (const a of kids(attrsBlock, 'signedAttrs')) {
      const [type, values] = kids(a, 'Attribute');
      attributes.set(oidOf(type, 'attribute type'), kids(values, 'attribute values'));
    }
  }
  const signatureAlgorithm = oidOf(kids(f[i++], 'signatureAlgorithm')[0], 'signatureAlgorithm');
  const signature = octets(f[i], 'signature');
  return { sid: raw(f[1]!), digest, signatureAlgorithm, signature, signedAttrs, attributes };
}

export interface CachedCert {
  cert: X509Certificate;
  der: Buffer;
  hash: string;
  publicKey: KeyObject;
  sid: Buffer;
}
const certCache = new Map<string, CachedCert>();
const CERT_CACHE_MAX = 20_000;

/** A parsed certificate, from the cache when its SHA-256 was seen before. */
export function cachedCert(der: Buffer): CachedCert {
  const hash = createHash('sha256').update(der).digest('hex');
  let c = certCache.get(hash);
  if (!c) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(der);
      c = { cert, der, hash, publicKey: cert.publicKey, sid: issuerAndSerial(der).der };
    } catch (e) {
      throw e instanceof DerError ? e : new DerError(`Unreadable certificate: ${(e as Error).message}`);
    }
    if (certCache.size >= CERT_CACHE_MAX) certCache.delete(certCache.keys().next().value!);
    certCache.set(hash, c);
  }
  return c;
}

export type SignatureFailure = 'malformed' | 'no_signer' | 'unsupported_algorithm' | 'digest_mismatch' | 'bad_signature' | 'untrusted';

/**
 * Checks one signer of a parsed SignedData over `content`: finds its certificate in the message,
 * compares the messageDigest attribute and verifies the signature natively. Returns the signer's
 * certificate or why not. Does not judge whom to trust.
 */
export function verifySigner(parsed: ParsedSignedData, content: Buffer): { ok: true; signer: CachedCert; info: ParsedSigner } | { ok: false; reason: SignatureFailure } {
  if (parsed.signers.length !== 1) return { ok: false, reason: 'no_signer' };
  const info = parsed.signers[0]!;
  const certs = parsed.certificates.map(cachedCert);
  const signer = certs.find((c) => c.sid.equals(info.sid)) ?? (isSkiSid(info.sid) && certs.length === 1 ? certs[0] : undefined);
  if (!signer) return { ok: false, reason: 'no_signer' };
  const alg = SIGNATURES[info.signatureAlgorithm];
  if (!alg || alg.key !== signer.publicKey.asymmetricKeyType || (alg.digest && alg.digest !== info.digest)) return { ok: false, reason: 'unsupported_algorithm' };
  const digest = createHash(info.digest).update(content).digest();
  let signed: Buffer = content;
  if (info.signedAttrs) {
    const ct = info.attributes.get(OID.contentType);
    if (ct && (ct.length !== 1 || oidOf(ct[0]) !== parsed.contentType)) return { ok: false, reason: 'malformed' };
    const md = info.attributes.get(OID.messageDigest);
    if (!md || md.length !== 1 || !octets(md[0]).equals(digest)) return { ok: false, reason: 'digest_mismatch' };
    signed = info.signedAttrs;
  }
  let good = false;
  try {
    good = cryptoVerify(info.digest, signed, signer.publicKey, info.signature);
  } catch {
    good = false;
  }
  return good ? { ok: true, signer, info } : { ok: false, reason: 'bad_signature' };
}

const isSkiSid = (sid: Buffer) => sid[0] === 0x80;

export type DetachedVerification =
  | { ok: true; cert: X509Certificate; certDer: Buffer; /** SHA-256 of certDer, hex. */ certHash: string }
  | { ok: false; reason: SignatureFailure | 'too_large' };

export interface VerifyDetachedOptions {
  /** Judges the signer: our CA's `issued` (signature by the CA, within validity). */
  trust: Pick<Ca, 'issued'>;
  at?: Date;
  /** Base64 header length limit; 16 KB by default (a device's is about 2 KB). */
  maxHeaderBytes?: number;
}

/**
 * Verifies the `Mdm-Signature` header: a base64 detached CMS SignedData over the request body, by a
 * certificate the trusted CA issued. Never throws on device input.
 */
export function verifyDetached(body: Buffer, signatureB64: string, opts: VerifyDetachedOptions): DetachedVerification {
  if (signatureB64.length > (opts.maxHeaderBytes ?? 16 * 1024)) return { ok: false, reason: 'too_large' };
  if (!/^[A-Za-z0-9+/=\s]+$/.test(signatureB64)) return { ok: false, reason: 'malformed' };
  let parsed: ParsedSignedData;
  try {
    parsed = parseSignedData(Buffer.from(signatureB64, 'base64'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (parsed.content !== undefined) return { ok: false, reason: 'malformed' };
  let result: ReturnType<typeof verifySigner>;
  try {
    result = verifySigner(parsed, body);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (!result.ok) return result;
  const { signer } = result;
  if (!opts.trust.issued(signer.cert, opts.at)) return { ok: false, reason: 'untrusted' };
  return { ok: true, cert: signer.cert, certDer: signer.der, certHash: signer.hash };
}
