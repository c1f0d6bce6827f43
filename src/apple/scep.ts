/**
 * The SCEP server (RFC 8894) that gives devices their identity certificates, framework-free: the
 * routes in scep-routes.ts only move bytes. Facts and pitfalls from real clients: APPLE.md §9.
 *
 * PKIOperation: the request is SignedData (verified natively) around EnvelopedData to the CA (key
 * transport RSAES-PKCS1-v1_5, decrypted without padding and unpadded with implicit rejection, so the
 * CA key is no padding oracle; DES, 3DES or AES-CBC content) around a PKCS#10 request. PKCSReq (19)
 * is authorised by its single-use challenge, RenewalReq (17) by the certificate we issued that signs
 * it; both through a ChallengeRedeemer. Every answer a client can read is a CertRep: SUCCESS with the
 * certificate enveloped to the requester, or FAILURE with failInfo; only input too broken to answer
 * (no SignedData, no transactionID or senderNonce) is a ScepBadRequest.
 */
import { createCipheriv, createDecipheriv, createHmac, createPublicKey, privateDecrypt, publicEncrypt, randomBytes, constants, type KeyObject } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';
import { newSerial, parseCertificateRequest, type Ca, type CertificateRequest, type IssuedCertificate } from './ca.js';
import { OID, certsOnly, parseSignedData, signedData, verifySigner, type CachedCert, type ParsedSignedData, type SignedAttribute } from './cms.js';
import { DerError, algorithm, ctx, integer, isContext, issuerAndSerial, kids, octetString, octets, oid, oidOf, parseDer, printable, raw, seq, set, textOf } from './der.js';

export const SCEP_OID = {
  messageType: '2.16.840.1.113733.1.9.2',
  pkiStatus: '2.16.840.1.113733.1.9.3',
  failInfo: '2.16.840.1.113733.1.9.4',
  senderNonce: '2.16.840.1.113733.1.9.5',
  recipientNonce: '2.16.840.1.113733.1.9.6',
  transactionID: '2.16.840.1.113733.1.9.7',
} as const;

export const MESSAGE_TYPE = { CertRep: '3', RenewalReq: '17', PKCSReq: '19' } as const;
export const PKI_STATUS = { SUCCESS: '0', FAILURE: '2', PENDING: '3' } as const;
export const FAIL_INFO = { badAlg: '0', badMessageCheck: '1', badRequest: '2', badTime: '3', badCertId: '4' } as const;
export type ScepFailInfo = keyof typeof FAIL_INFO;

/** What GetCACaps answers. SCEPStandard implies AES, POSTPKIOperation and SHA-256 (RFC 8894 §3.5.2). */
export const SCEP_CAPABILITIES = ['AES', 'DES3', 'POSTPKIOperation', 'Renewal', 'SCEPStandard', 'SHA-1', 'SHA-256', 'SHA-512'] as const;

/** What the redeemer may judge a request by. */
export interface CsrFacts {
  /** The requested subject, RFC 4514 (may be empty: the challenge, not the subject, is the binding). */
  subject: string;
  /** SHA-256 of the request's SubjectPublicKeyInfo, hex. */
  publicKeyHash: string;
  /** SCEP transactionID (repeats on renewal). */
  transactionId: string;
}

/** An authorised issuance: whose it is, and optionally the subject to issue instead of the requested one. */
export interface ScepGrant {
  ok: true;
  accountId: string;
  requestId: string;
  /** RFC 4514 subject for the certificate (e.g. naming the request); the requested subject when absent. */
  subject?: string;
}
export interface ScepRefusal {
  ok: false;
  failInfo: ScepFailInfo;
  /** For logs and audit; never sent to the device. */
  reason: string;
}

/** The certificate issued under a grant, for the redeemer to record (and bind to its request). */
export interface IssuedFacts {
  serial: string;
  /** SHA-256 of the certificate's DER, hex: what check-ins are bound by. */
  certHash: string;
  subject: string;
  notAfter: Date;
  /** For a renewal: the SHA-256 of the certificate that signed the RenewalReq. */
  renewalOf?: string;
}

/**
 * Decides who gets a certificate. The real one lives with enrolment requests (hashed single-use
 * challenges that expire with their request); tests use an in-memory one.
 */
export interface ChallengeRedeemer {
  /**
   * PKCSReq: consumes the challenge if it is valid, unused and unexpired, and says for which request.
   * A challenge is spent by a successful redeem even if issuing then fails. Unknown, reused or expired
   * challenges are refusals (failInfo badRequest), not errors.
   */
  redeem(challenge: string, csr: CsrFacts): Promise<ScepGrant | ScepRefusal>;
  /**
   * RenewalReq signed by a certificate this CA issued (already verified, within validity): whether
   * its holder may have a new one (e.g. refused once the enrolment has ended).
   */
  renew(previous: { certHash: string; serial: string; subject: string }, csr: CsrFacts): Promise<ScepGrant | ScepRefusal>;
  /** Records the certificate issued under a grant. Called once per issued certificate, before the reply is sent. */
  recordIssued(grant: ScepGrant, cert: IssuedFacts): Promise<void>;
}

/** Input too broken to answer with a CertRep (the route answers 400). */
export class ScepBadRequest extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScepBadRequest';
  }
}

export interface ScepOutcome {
  status: 'SUCCESS' | 'FAILURE';
  messageType?: string;
  transactionId: string;
  failInfo?: ScepFailInfo;
  reason?: string;
  issued?: IssuedCertificate;
}

export interface ScepServer {
  /** The GetCACaps body. */
  caps(): string;
  /** The GetCACert reply: the CA certificate, DER. */
  caCert(): Promise<{ contentType: string; body: Buffer }>;
  /** A PKIOperation: the CertRep to send (DER), and what happened. Throws ScepBadRequest only. */
  pkiOperation(message: Buffer): Promise<{ reply: Buffer; outcome: ScepOutcome }>;
}

export interface ScepDeps {
  ca: () => Promise<Ca>;
  redeemer: ChallengeRedeemer;
  clock?: Clock;
  /** Days an issued device identity is valid: 365 by default. */
  validityDays?: number;
  /** Minimum RSA modulus accepted in a request: 2048 by default. */
  minRsaBits?: number;
}

const CIPHERS: Record<string, { name: string; keyLength: number; des?: true }> = {
  '1.3.14.3.2.7': { name: 'des-ede3-cbc', keyLength: 8, des: true }, // single DES = 3DES with K‖K‖K (Node 20's default provider has no DES)
  '1.2.840.113549.3.7': { name: 'des-ede3-cbc', keyLength: 24 },
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyLength: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyLength: 24 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyLength: 32 },
};
const RSA_OAEP = '1.2.840.113549.1.1.7';
const AES256_CBC = '2.16.840.1.101.3.4.1.42';

class Fail extends Error {
  constructor(
    readonly failInfo: ScepFailInfo,
    message: string,
  ) {
    super(message);
  }
}

export function createScepServer(deps: ScepDeps): ScepServer {
  const clock = deps.clock ?? systemClock;
  const minRsaBits = deps.minRsaBits ?? 2048;
  const rejectionKeys = new WeakMap<KeyObject, Buffer>();

  /** RSAES-PKCS1-v1_5 decryption with implicit rejection: bad padding yields a key derived from the ciphertext, never an error. */
  function unwrapKey(ca: Ca, encryptedKey: Buffer, keyLength: number): Buffer {
    const key = ca.identity.key;
    let kdk = rejectionKeys.get(key);
    if (!kdk) rejectionKeys.set(key, (kdk = createHmac('sha256', 'pippin scep implicit rejection').update(key.export({ type: 'pkcs8', format: 'der' })).digest()));
    const fake = createHmac('sha256', kdk).update(encryptedKey).digest().subarray(0, keyLength);
    let em: Buffer;
    try {
      em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, encryptedKey);
    } catch {
      return fake;
    }
    // EM = 0x00 ‖ 0x02 ‖ PS (≥ 8 non-zero bytes) ‖ 0x00 ‖ M
    let sep = 0;
    for (let i = 2; i < em.length; i++) if (sep === 0 && em[i] === 0) sep = i;
    const good = em[0] === 0 && em[1] === 2 && sep >= 10 && em.length - sep - 1 === keyLength;
    return good ? em.subarray(sep + 1) : fake;
  }

  function decryptEnvelope(ca: Ca, der: Buffer): Buffer {
    let env = parseDer(der);
    let f = kids(env, 'ContentInfo');
    if (f[0] && oidOf(f[0], 'contentType') === OID.envelopedData) {
      env = kids(f[1], '[0]')[0]!;
      f = kids(env, 'EnvelopedData');
    }
    let i = 1;
    if (isContext(f[i], 0)) i++; // originatorInfo
    const recipients = kids(f[i++], 'recipientInfos');
    const eci = kids(f[i], 'EncryptedContentInfo');
    const ours = issuerAndSerial(ca.identity.certDer).der;
    const ktri = recipients.map((r) => kids(r, 'RecipientInfo')).find((r) => r[1] && raw(r[1]).equals(ours)) ?? (recipients.length === 1 ? kids(recipients[0], 'RecipientInfo') : undefined);
    if (!ktri) throw new Fail('badMessageCheck', 'The request is not encrypted to this CA');
    const keyAlg = oidOf(kids(ktri[2], 'keyEncryptionAlgorithm')[0]);
    const encryptedKey = octets(ktri[3], 'encryptedKey');
    const [, algBlock, contentBlock] = eci;
    const algFields = kids(algBlock, 'contentEncryptionAlgorithm');
    const cipher = CIPHERS[oidOf(algFields[0])];
    if (!cipher) throw new Fail('badAlg', 'Unsupported content encryption');
    if (!contentBlock || !isContext(contentBlock, 0)) throw new Fail('badRequest', 'No encrypted content');
    const iv = octets(algFields[1], 'IV');
    let key: Buffer;
    if (keyAlg === OID.rsaEncryption) key = unwrapKey(ca, encryptedKey, cipher.keyLength);
    else if (keyAlg === RSA_OAEP && !algFields[2]) key = privateDecrypt({ key: ca.identity.key, padding: constants.RSA_PKCS1_OAEP_PADDING }, encryptedKey);
    else throw new Fail('badAlg', 'Unsupported key transport');
    if (key.length !== cipher.keyLength) throw new Fail('badMessageCheck', 'Wrong content key length');
    if (cipher.des) key = Buffer.concat([key, key, key]);
    const ciphertext = contentBlock.constructed ? Buffer.concat(contentBlock.children.map((c) => octets(c))) : contentBlock.content;
    try {
      const d = createDecipheriv(cipher.name, key, iv);
      return Buffer.concat([d.update(ciphertext), d.final()]);
    } catch {
      throw new Fail('badMessageCheck', 'The request does not decrypt');
    }
  }

  /** EnvelopedData (as ContentInfo) to the requester's RSA certificate: AES-256-CBC, key by RSAES-PKCS1-v1_5. */
  function envelope(content: Buffer, recipientDer: Buffer, recipientKey: KeyObject): Buffer {
    const cek = randomBytes(32);
    const iv = randomBytes(16);
    const c = createCipheriv('aes-256-cbc', cek, iv);
    const encrypted = Buffer.concat([c.update(content), c.final()]);
    const encryptedKey = publicEncrypt({ key: recipientKey, padding: constants.RSA_PKCS1_PADDING }, cek);
    const ktri = seq(integer(0), issuerAndSerial(recipientDer).der, algorithm(OID.rsaEncryption), octetString(encryptedKey));
    const eci = seq(oid(OID.data), algorithm(AES256_CBC, octetString(iv)), ctx(0, encrypted, false));
    return seq(oid(OID.envelopedData), ctx(0, seq(integer(0), set(ktri), eci)));
  }

  async function handle(ca: Ca, parsed: ParsedSignedData, csrFacts: (csr: CertificateRequest) => CsrFacts, messageType: string): Promise<{ issued: IssuedCertificate; requester: CachedCert }> {
    let verified: ReturnType<typeof verifySigner>;
    try {
      verified = verifySigner(parsed, parsed.content ?? Buffer.alloc(0));
    } catch {
      throw new Fail('badMessageCheck', 'Request signature: unreadable signer');
    }
    if (!verified.ok) throw new Fail('badMessageCheck', `Request signature: ${verified.reason}`);
    if (verified.signer.publicKey.asymmetricKeyType !== 'rsa') throw new Fail('badAlg', 'The reply can only be encrypted to an RSA signer');
    if (messageType !== MESSAGE_TYPE.PKCSReq && messageType !== MESSAGE_TYPE.RenewalReq) throw new Fail('badRequest', `Unsupported messageType ${messageType}`);
    if (!parsed.content) throw new Fail('badRequest', 'No pkcsPKIEnvelope');
    let csr: CertificateRequest;
    try {
      csr = await parseCertificateRequest(decryptEnvelope(ca, parsed.content));
    } catch (e) {
      if (e instanceof Fail) throw e;
      throw new Fail('badMessageCheck', 'The envelope holds no readable certificate request');
    }
    if (!csr.signatureValid) throw new Fail('badMessageCheck', 'The certificate request signature does not verify');
    const pub = createPublicKey({ key: csr.spki, format: 'der', type: 'spki' });
    if (pub.asymmetricKeyType !== 'rsa' || (pub.asymmetricKeyDetails?.modulusLength ?? 0) < minRsaBits) throw new Fail('badAlg', `Only RSA keys of ${minRsaBits} bits or more`);
    const facts = csrFacts(csr);
    let grant: ScepGrant | ScepRefusal;
    let renewalOf: string | undefined;
    if (messageType === MESSAGE_TYPE.PKCSReq) {
      if (!csr.challenge) throw new Fail('badRequest', 'No challengePassword');
      grant = await deps.redeemer.redeem(csr.challenge, facts);
    } else {
      const prev = verified.signer;
      if (!ca.issued(prev.cert, clock.now())) throw new Fail('badRequest', 'A renewal must be signed by a valid certificate from this CA');
      renewalOf = prev.hash;
      grant = await deps.redeemer.renew({ certHash: prev.hash, serial: prev.cert.serialNumber, subject: prev.cert.subject }, facts);
    }
    if (!grant.ok) throw new Fail(grant.failInfo, grant.reason);
    const issued = await ca.issueCertificate(csr, { subject: grant.subject, validityDays: deps.validityDays ?? 365, serial: newSerial() });
    await deps.redeemer.recordIssued(grant, { serial: issued.serial, certHash: issued.sha256, subject: issued.subject, notAfter: issued.notAfter, renewalOf });
    return { issued, requester: verified.signer };
  }

  return {
    caps: () => SCEP_CAPABILITIES.join('\n') + '\n',
    async caCert() {
      return { contentType: 'application/x-x509-ca-cert', body: (await deps.ca()).identity.certDer };
    },
    async pkiOperation(message) {
      let parsed: ParsedSignedData;
      let transactionId: string;
      let senderNonce: Buffer;
      let messageType: string;
      try {
        parsed = parseSignedData(message);
        const attrs = parsed.signers[0]?.attributes;
        const one = (type: string) => {
          const v = attrs?.get(type);
          if (!v || v.length !== 1) throw new ScepBadRequest(`Missing SCEP attribute ${type}`);
          return v[0]!;
        };
        transactionId = textOf(one(SCEP_OID.transactionID), 'transactionID');
        senderNonce = octets(one(SCEP_OID.senderNonce), 'senderNonce');
        messageType = textOf(one(SCEP_OID.messageType), 'messageType');
        if (!transactionId || transactionId.length > 256 || senderNonce.length === 0 || senderNonce.length > 64) throw new ScepBadRequest('Bad transactionID or senderNonce');
      } catch (e) {
        if (e instanceof ScepBadRequest) throw e;
        if (e instanceof DerError) throw new ScepBadRequest(`Not a SCEP message: ${e.message}`);
        throw e;
      }
      const ca = await deps.ca();
      const attributes = (status: string, failInfo?: ScepFailInfo): SignedAttribute[] => [
        [SCEP_OID.messageType, [printable(MESSAGE_TYPE.CertRep)]],
        [SCEP_OID.pkiStatus, [printable(status)]],
        ...(failInfo ? [[SCEP_OID.failInfo, [printable(FAIL_INFO[failInfo])]] as SignedAttribute] : []),
        [SCEP_OID.transactionID, [printable(transactionId)]],
        [SCEP_OID.recipientNonce, [octetString(senderNonce)]],
        [SCEP_OID.senderNonce, [octetString(randomBytes(16))]],
      ];
      const signingTime = clock.now();
      try {
        const { issued, requester } = await handle(ca, parsed, (csr) => ({ subject: csr.subject, publicKeyHash: csr.publicKeyHash, transactionId }), messageType);
        const content = envelope(certsOnly([issued.der]), requester.der, requester.publicKey);
        const reply = signedData({ content, signer: ca.identity, attributes: attributes(PKI_STATUS.SUCCESS), signingTime });
        return { reply, outcome: { status: 'SUCCESS', messageType, transactionId, issued } };
      } catch (e) {
        let fail: Fail;
        if (e instanceof Fail) fail = e;
        else if (e instanceof DerError) fail = new Fail('badRequest', `Malformed request: ${e.message}`);
        else throw e;
        const reply = signedData({ signer: ca.identity, attributes: attributes(PKI_STATUS.FAILURE, fail.failInfo), signingTime });
        return { reply, outcome: { status: 'FAILURE', messageType, transactionId, failInfo: fail.failInfo, reason: fail.message } };
      }
    },
  };
}
