/**
 * A SCEP client codec for tests and the bench, written from RFC 8894 as a device would behave:
 * PKCSReq/RenewalReq built as SignedData around EnvelopedData to the CA, CertRep read back. Also an
 * in-memory ChallengeRedeemer (single-use challenges) standing in for the enrolment store.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createCipheriv, createDecipheriv, createPrivateKey, privateDecrypt, publicEncrypt, randomBytes, constants, webcrypto, X509Certificate, type KeyObject } from 'node:crypto';
import type { Identity } from '../../src/apple/ca.js';
import { OID, parseSignedData, signedData, verifySigner } from '../../src/apple/cms.js';
import { algorithm, ctx, integer, issuerAndSerial, kids, octetString, octets, oid, oidOf, parseDer, printable, seq, set, textOf } from '../../src/apple/der.js';
import { FAIL_INFO, MESSAGE_TYPE, SCEP_OID, type ChallengeRedeemer, type CsrFacts, type IssuedFacts, type ScepFailInfo, type ScepGrant } from '../../src/apple/scep.js';

const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };

/** A device key and the short-lived self-signed certificate a PKCSReq is signed with (as scepclient does). */
export async function selfSigned(subject = 'CN=SCEP SIGNER'): Promise<Identity & { keys: CryptoKeyPair }> {
  const keys = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ name: subject, keys, signingAlgorithm: RSA, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000) });
  const key = createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), format: 'der', type: 'pkcs8' });
  const der = Buffer.from(cert.rawData);
  return { cert: new X509Certificate(der), certDer: der, key, chain: [], keys };
}

/** A PKCS#10 request for the key pair, with a challengePassword when given. */
export async function csrFor(keys: CryptoKeyPair, challenge?: string, subject = 'CN=device'): Promise<Buffer> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subject,
    keys,
    signingAlgorithm: RSA,
    attributes: challenge === undefined ? [] : [new x509.ChallengePasswordAttribute(challenge)],
  });
  return Buffer.from(csr.rawData);
}

export interface BuildRequest {
  caCertDer: Buffer;
  csrDer: Buffer;
  /** Signs the request: a self-signed identity for PKCSReq, the current certificate for RenewalReq. */
  signer: Identity;
  messageType?: '19' | '17';
  /** 'des' is what scepclient sends (single DES-CBC); 'aes256' what SCEPStandard clients send. */
  cipher?: 'des' | 'aes256';
  transactionId?: string;
}

/** A PKIOperation message (DER). */
export function buildScepRequest(r: BuildRequest): { message: Buffer; senderNonce: Buffer; transactionId: string } {
  const des = r.cipher === 'des';
  const cek = randomBytes(des ? 8 : 32);
  const iv = randomBytes(des ? 8 : 16);
  const c = createCipheriv(des ? 'des-ede3-cbc' : 'aes-256-cbc', des ? Buffer.concat([cek, cek, cek]) : cek, iv);
  const encrypted = Buffer.concat([c.update(r.csrDer), c.final()]);
  const ca = new X509Certificate(r.caCertDer);
  const ek = publicEncrypt({ key: ca.publicKey, padding: constants.RSA_PKCS1_PADDING }, cek);
  const envelope = seq(
    oid(OID.envelopedData),
    ctx(0, seq(integer(0), set(seq(integer(0), issuerAndSerial(r.caCertDer).der, algorithm(OID.rsaEncryption), octetString(ek))), seq(oid(OID.data), algorithm(des ? '1.3.14.3.2.7' : '2.16.840.1.101.3.4.1.42', octetString(iv)), ctx(0, encrypted, false)))),
  );
  const senderNonce = randomBytes(16);
  const transactionId = r.transactionId ?? randomBytes(20).toString('base64');
  const message = signedData({
    content: envelope,
    signer: r.signer,
    attributes: [
      [SCEP_OID.messageType, [printable(r.messageType ?? MESSAGE_TYPE.PKCSReq)]],
      [SCEP_OID.transactionID, [printable(transactionId)]],
      [SCEP_OID.senderNonce, [octetString(senderNonce)]],
    ],
  });
  return { message, senderNonce, transactionId };
}

export interface CertRep {
  status: 'SUCCESS' | 'FAILURE' | 'PENDING';
  failInfo?: ScepFailInfo;
  transactionId: string;
  recipientNonce: Buffer;
  /** The issued certificate (DER) on SUCCESS. */
  certificate?: Buffer;
}

/** Reads a CertRep: checks the CA's signature, decrypts the certificate with the requester's key. */
export function readCertRep(reply: Buffer, opts: { caCertDer: Buffer; key: KeyObject }): CertRep {
  const parsed = parseSignedData(reply);
  const v = verifySigner(parsed, parsed.content ?? Buffer.alloc(0));
  if (!v.ok) throw new Error(`CertRep signature: ${v.reason}`);
  if (!v.signer.der.equals(opts.caCertDer)) throw new Error('CertRep not signed by the CA');
  const attr = (t: string) => v.info.attributes.get(t)?.[0];
  if (textOf(attr(SCEP_OID.messageType)) !== MESSAGE_TYPE.CertRep) throw new Error('Not a CertRep');
  const status = ({ '0': 'SUCCESS', '2': 'FAILURE', '3': 'PENDING' } as const)[textOf(attr(SCEP_OID.pkiStatus)) as '0' | '2' | '3'];
  const fi = attr(SCEP_OID.failInfo);
  const failInfo = fi ? (Object.entries(FAIL_INFO).find(([, code]) => code === textOf(fi))?.[0] as ScepFailInfo) : undefined;
  const out: CertRep = { status, failInfo, transactionId: textOf(attr(SCEP_OID.transactionID)), recipientNonce: octets(attr(SCEP_OID.recipientNonce)) };
  if (status === 'SUCCESS') {
    const env = kids(kids(kids(parseDer(parsed.content!))[1])[0]);
    const ktri = kids(kids(env[1])[0]);
    const cek = rsaPkcs1Decrypt(opts.key, octets(ktri[3]));
    const eci = kids(env[2]);
    const alg = kids(eci[1]);
    if (oidOf(alg[0]) !== '2.16.840.1.101.3.4.1.42') throw new Error('Unexpected reply cipher');
    const d = createDecipheriv('aes-256-cbc', cek, octets(alg[1]));
    const certsOnly = parseSignedData(Buffer.concat([d.update(eci[2]!.content), d.final()]));
    out.certificate = certsOnly.certificates[0];
  }
  return out;
}

/** RSAES-PKCS1-v1_5 decryption for the test client (Node 20 refuses RSA_PKCS1_PADDING in privateDecrypt). */
function rsaPkcs1Decrypt(key: KeyObject, c: Buffer): Buffer {
  const em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, c);
  const sep = em.indexOf(0, 2);
  if (em[0] !== 0 || em[1] !== 2 || sep < 10) throw new Error('Bad PKCS#1 padding');
  return em.subarray(sep + 1);
}

/** Single-use challenges in memory, each for a request; renewals allowed unless the request is ended. */
export class MemoryRedeemer implements ChallengeRedeemer {
  readonly challenges = new Map<string, { accountId: string; requestId: string; expiresAt: number; subject?: string }>();
  readonly issued: Array<{ grant: ScepGrant; cert: IssuedFacts }> = [];
  readonly ended = new Set<string>();
  readonly seen: CsrFacts[] = [];
  constructor(private now: () => number = Date.now) {}

  add(challenge: string, requestId: string, opts: { ttlMs?: number; subject?: string } = {}): void {
    this.challenges.set(challenge, { accountId: 'acct-1', requestId, expiresAt: this.now() + (opts.ttlMs ?? 60_000), subject: opts.subject });
  }

  async redeem(challenge: string, csr: CsrFacts) {
    this.seen.push(csr);
    const c = this.challenges.get(challenge);
    this.challenges.delete(challenge);
    if (!c) return { ok: false as const, failInfo: 'badRequest' as const, reason: 'unknown or used challenge' };
    if (c.expiresAt < this.now()) return { ok: false as const, failInfo: 'badRequest' as const, reason: 'expired challenge' };
    return { ok: true as const, accountId: c.accountId, requestId: c.requestId, subject: c.subject };
  }

  async renew(previous: { certHash: string }) {
    const was = this.issued.find((i) => i.cert.certHash === previous.certHash);
    if (!was || this.ended.has(was.grant.requestId)) return { ok: false as const, failInfo: 'badRequest' as const, reason: 'no enrolment for this certificate' };
    return { ...was.grant };
  }

  async recordIssued(grant: ScepGrant, cert: IssuedFacts) {
    this.issued.push({ grant, cert });
  }
}
