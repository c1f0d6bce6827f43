/**
 * The installation's certificate authority: one self-signed RSA CA per installation, created once
 * (race-safe across nodes: every node inserts its candidate with ON CONFLICT DO NOTHING, then all use
 * whichever row won), its private key sealed under the secret key. It issues the device identities
 * SCEP hands out and the certificate that signs profiles when no PIPPIN_PROFILE_SIGNING_CERT is set.
 *
 * Certificates are built with @peculiar/x509 over Node's WebCrypto; everything else (keys, parsing,
 * verification) is node:crypto.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { X509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPair, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import type { Database } from '../db/database.js';
import { systemClock, type Clock } from '../core/clock.js';
import { seal, unseal } from '../notify/seal.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** The purpose label under which the CA's private keys are sealed. */
const KEY_PURPOSE = 'pippin pki key v1';
const CA_ROW = 'default';
const SIGNING_ROW = 'profile-signing';
const RSA_SHA256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
const CHALLENGE_PASSWORD = '1.2.840.113549.1.9.7';
/** Certificates start a little in the past, for devices whose clocks run behind. */
const BACKDATE_MS = 10 * 60_000;

/** A certificate with its private key, and the certificates to send along with its signatures. */
export interface Identity {
  cert: X509Certificate;
  certDer: Buffer;
  key: KeyObject;
  /** Issuer certificates (DER) to include beside the leaf; empty for a self-signed one. */
  chain: Buffer[];
}

/** A PKCS#10 request, parsed and checked. */
export interface CertificateRequest {
  der: Buffer;
  /** The requested subject (RFC 4514 string; empty when the device asked for none). */
  subject: string;
  /** SubjectPublicKeyInfo, DER. */
  spki: Buffer;
  /** SHA-256 of the SubjectPublicKeyInfo, hex. */
  publicKeyHash: string;
  /** The challengePassword attribute, when present. */
  challenge?: string;
  /** Whether the request's self-signature verifies with its own key (proof of possession). */
  signatureValid: boolean;
  name: x509.Name;
}

export interface IssueOptions {
  /** Replaces the requested subject (RFC 4514 string). */
  subject?: string;
  validityDays: number;
  /** Serial number, hex (see newSerial). */
  serial: string;
}

export interface IssuedCertificate {
  cert: X509Certificate;
  der: Buffer;
  /** SHA-256 of the DER, hex: what check-ins are bound by. */
  sha256: string;
  serial: string;
  subject: string;
  notAfter: Date;
}

export interface Ca {
  readonly identity: Identity;
  readonly certPem: string;
  /** SHA-256 of the CA certificate's DER, hex. */
  readonly fingerprint: string;
  /** Issues a device identity for a checked request: clientAuth, digitalSignature + keyEncipherment. */
  issueCertificate(csr: CertificateRequest, opts: IssueOptions): Promise<IssuedCertificate>;
  /** Issues an end-entity certificate for a key Pippin holds (the profile-signing identity). */
  issueForKey(publicKey: KeyObject, opts: { subject: string; validityDays: number; serial: string; usage: 'signing' }): Promise<X509Certificate>;
  /** True when this CA signed the certificate and it is within its validity at `at`. */
  issued(cert: X509Certificate, at?: Date): boolean;
}

export interface CaOptions {
  clock?: Clock;
  /** RSA modulus of a new CA key: 3072 by default. */
  keyBits?: 2048 | 3072 | 4096;
  /** Years a new CA certificate is valid: 20 by default. */
  validityYears?: number;
}

const generateRsa = promisify(generateKeyPair);

/** A positive 127-bit serial, hex. */
export function newSerial(bytes = randomBytes(16)): string {
  const b = Buffer.from(bytes);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString('hex');
}

/** A certificate's notAfter (Node 20's X509Certificate has only the string form). */
export const notAfter = (cert: X509Certificate): Date => new Date(cert.validTo);

export const sha256Hex = (der: Buffer | Uint8Array): string => createHash('sha256').update(der).digest('hex');

/** Parses a DER PKCS#10 request and checks its self-signature; throws on bytes that are no request. */
export async function parseCertificateRequest(der: Buffer): Promise<CertificateRequest> {
  const csr = new x509.Pkcs10CertificateRequest(new Uint8Array(der));
  const spki = Buffer.from(csr.publicKey.rawData);
  const attr = csr.getAttribute(CHALLENGE_PASSWORD);
  let challenge: string | undefined;
  if (attr) challenge = new x509.ChallengePasswordAttribute(attr.rawData).password;
  let signatureValid = false;
  try {
    signatureValid = await csr.verify();
  } catch {
    signatureValid = false;
  }
  return { der, subject: csr.subject, spki, publicKeyHash: sha256Hex(spki), challenge, signatureValid, name: csr.subjectName };
}

async function importSigningKey(key: KeyObject): Promise<CryptoKey> {
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  return (await webcrypto.subtle.importKey('pkcs8', pkcs8, RSA_SHA256, false, ['sign'])) as CryptoKey;
}

export function pemOf(der: Buffer, label = 'CERTIFICATE'): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

type Row = { cert_pem: string; key_sealed: string };

/** Inserts a candidate row unless one exists, then returns whichever row is there. */
async function insertOrRead(db: Database, id: string, make: () => Promise<Row>, now: Date): Promise<Row> {
  const read = () => db.system('installation CA', (tx) => tx.selectFrom('pki_ca').select(['cert_pem', 'key_sealed']).where('id', '=', id).executeTakeFirst());
  const existing = await read();
  if (existing) return existing;
  const candidate = await make();
  await db.system('installation CA', (tx) =>
    tx.insertInto('pki_ca').values({ id, ...candidate, created_at: now.toISOString() }).onConflict((oc) => oc.column('id').doNothing()).execute(),
  );
  const won = await read();
  if (!won) throw new Error(`pki_ca row ${id} vanished after insert`);
  return won;
}

function identityFromRow(row: Row, secretKey: Buffer, chain: Buffer[]): Identity {
  const cert = new X509Certificate(row.cert_pem);
  const key = createPrivateKey(unseal<string>(secretKey, row.key_sealed, KEY_PURPOSE));
  return { cert, certDer: cert.raw, key, chain };
}

/** The installation CA: read from `pki_ca`, or created there once. */
export async function loadOrCreateCa(db: Database, secretKey: Buffer, opts: CaOptions = {}): Promise<Ca> {
  const clock = opts.clock ?? systemClock;
  const now = clock.now();
  const row = await insertOrRead(
    db,
    CA_ROW,
    async () => {
      const { publicKey, privateKey } = await generateRsa('rsa', { modulusLength: opts.keyBits ?? 3072 });
      const signingKey = await importSigningKey(privateKey);
      const spki = publicKey.export({ type: 'spki', format: 'der' });
      const notAfter = new Date(now);
      notAfter.setUTCFullYear(notAfter.getUTCFullYear() + (opts.validityYears ?? 20));
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: newSerial(),
        name: `CN=Pippin Device CA ${randomBytes(4).toString('hex')}, O=Pippin`,
        notBefore: new Date(now.getTime() - BACKDATE_MS),
        notAfter,
        signingAlgorithm: RSA_SHA256,
        keys: { publicKey: await webcrypto.subtle.importKey('spki', spki, RSA_SHA256, true, ['verify']) as CryptoKey, privateKey: signingKey },
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
          await x509.SubjectKeyIdentifierExtension.create(new Uint8Array(spki)),
        ],
      });
      return { cert_pem: cert.toString('pem'), key_sealed: seal(secretKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), KEY_PURPOSE) };
    },
    now,
  );
  return caFrom(identityFromRow(row, secretKey, []), clock);
}

async function caFrom(identity: Identity, clock: Clock): Promise<Ca> {
  const signingKey = await importSigningKey(identity.key);
  const caCert = new x509.X509Certificate(new Uint8Array(identity.certDer));
  const issuer = caCert.subjectName;
  const caPublicKey = identity.cert.publicKey;
  const aki = await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey);
  const verified = new Map<string, boolean>();

  async function build(spki: Buffer, subject: x509.Name | string, days: number, serial: string, extensions: x509.Extension[]): Promise<{ cert: X509Certificate; subject: string }> {
    const now = clock.now();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject,
      issuer,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(Math.min(now.getTime() + days * DAY_MS, notAfter(identity.cert).getTime())),
      publicKey: new Uint8Array(spki),
      signingKey,
      signingAlgorithm: RSA_SHA256,
      extensions: [...extensions, aki, await x509.SubjectKeyIdentifierExtension.create(new Uint8Array(spki))],
    });
    return { cert: new X509Certificate(Buffer.from(cert.rawData)), subject: cert.subject };
  }

  return {
    identity,
    certPem: identity.cert.toString(),
    fingerprint: sha256Hex(identity.certDer),
    async issueCertificate(csr, opts) {
      const subject = opts.subject !== undefined ? new x509.Name(opts.subject) : csr.name;
      const { cert, subject: issuedSubject } = await build(csr.spki, subject, opts.validityDays, opts.serial, [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      ]);
      return { cert, der: cert.raw, sha256: sha256Hex(cert.raw), serial: cert.serialNumber, subject: issuedSubject, notAfter: notAfter(cert) };
    },
    async issueForKey(publicKey, opts) {
      const { cert } = await build(publicKey.export({ type: 'spki', format: 'der' }), opts.subject, opts.validityDays, opts.serial, [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ]);
      return cert;
    },
    issued(cert, at = clock.now()) {
      if (at < new Date(cert.validFrom) || at > notAfter(cert)) return false;
      const fp = cert.fingerprint256;
      let ok = verified.get(fp);
      if (ok === undefined) {
        ok = cert.checkIssued(identity.cert) && cert.verify(caPublicKey);
        if (verified.size > 50_000) verified.clear();
        verified.set(fp, ok);
      }
      return ok;
    },
  };
}

export interface SigningOptions {
  clock?: Clock;
  /** PIPPIN_PROFILE_SIGNING_CERT and _KEY: PEM files (the certificate file may carry its chain after the leaf). */
  certFile?: string;
  keyFile?: string;
}

/**
 * The identity that signs profiles: the configured certificate and key when given (checked to match),
 * else a certificate from the installation CA kept in `pki_ca` (created once, re-issued for the same
 * key 30 days before it expires).
 */
export async function loadProfileSigningIdentity(db: Database, secretKey: Buffer, ca: Ca, opts: SigningOptions = {}): Promise<Identity> {
  if (opts.certFile || opts.keyFile) {
    if (!opts.certFile || !opts.keyFile) throw new Error('PIPPIN_PROFILE_SIGNING_CERT and PIPPIN_PROFILE_SIGNING_KEY must be set together');
    return identityFromFiles(opts.certFile, opts.keyFile);
  }
  const clock = opts.clock ?? systemClock;
  const subject = `CN=Pippin Profile Signing, O=Pippin`;
  const issue = async (key: KeyObject) =>
    (await ca.issueForKey(createPublicKey(key), { subject, validityDays: 5 * 365, serial: newSerial(), usage: 'signing' })).toString();
  const row = await insertOrRead(
    db,
    SIGNING_ROW,
    async () => {
      const { privateKey } = await generateRsa('rsa', { modulusLength: 2048 });
      return { cert_pem: await issue(privateKey), key_sealed: seal(secretKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), KEY_PURPOSE) };
    },
    clock.now(),
  );
  let identity = identityFromRow(row, secretKey, [ca.identity.certDer]);
  if (notAfter(identity.cert).getTime() - clock.now().getTime() < 30 * DAY_MS || !identity.cert.checkIssued(ca.identity.cert)) {
    const renewed = await issue(identity.key);
    await db.system('installation CA', (tx) =>
      tx.updateTable('pki_ca').set({ cert_pem: renewed }).where('id', '=', SIGNING_ROW).where('cert_pem', '=', row.cert_pem).execute(),
    );
    const now = await db.system('installation CA', (tx) => tx.selectFrom('pki_ca').select(['cert_pem', 'key_sealed']).where('id', '=', SIGNING_ROW).executeTakeFirstOrThrow());
    identity = identityFromRow(now, secretKey, [ca.identity.certDer]);
  }
  return identity;
}

/** Reads a PEM certificate file (leaf first, then its chain) and a PEM private key file. */
export function identityFromFiles(certFile: string, keyFile: string): Identity {
  const pems = fs.readFileSync(certFile, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new Error(`${certFile} holds no PEM certificate`);
  const certs = pems.map((p) => new X509Certificate(p));
  const key = createPrivateKey(fs.readFileSync(keyFile));
  if (!certs[0]!.checkPrivateKey(key)) throw new Error(`The key in ${keyFile} does not match the first certificate in ${certFile}`);
  return { cert: certs[0]!, certDer: certs[0]!.raw, key, chain: certs.slice(1).map((c) => c.raw) };
}

/** The CA and the profile-signing identity, loaded once on first use (a failed load is retried by the next caller). */
export interface Pki {
  ca(): Promise<Ca>;
  profileSigner(): Promise<Identity>;
}

export function createPki(deps: { db: Database; secretKey: Buffer; clock?: Clock; ca?: CaOptions; signing?: Omit<SigningOptions, 'clock'> }): Pki {
  let ca: Promise<Ca> | undefined;
  let signer: Promise<Identity> | undefined;
  const once = <T>(get: () => Promise<T> | undefined, set: (p: Promise<T> | undefined) => void, load: () => Promise<T>): Promise<T> => {
    let p = get();
    if (!p) {
      p = load();
      set(p);
      p.catch(() => set(undefined));
    }
    return p;
  };
  const pki: Pki = {
    ca: () => once(() => ca, (p) => (ca = p), () => loadOrCreateCa(deps.db, deps.secretKey, { clock: deps.clock, ...deps.ca })),
    profileSigner: () =>
      once(() => signer, (p) => (signer = p), async () => loadProfileSigningIdentity(deps.db, deps.secretKey, await pki.ca(), { clock: deps.clock, ...deps.signing })),
  };
  return pki;
}

