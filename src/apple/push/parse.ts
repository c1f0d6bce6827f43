/**
 * Reading an uploaded APNs MDM push certificate: a PEM certificate with its PEM private key, or a
 * PKCS#12 file with its password. Pure (the clock is a parameter). Every refusal is a
 * PUSH_CERTIFICATE_INVALID AppError whose message says what to do, with `details.reason`.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { AppError } from '../../errors.js';
import { readPkcs12, Pkcs12Error } from './pkcs12.js';
import { PUSH_TOPIC_PREFIX } from './model.js';

/** The subject attribute that carries the APNs topic (userid, RFC 4519). */
export const UID_OID = '0.9.2342.19200300.100.1.1';

export type PushCertificateInput = { certificatePem: string; privateKeyPem: string } | { p12: Uint8Array; password: string };

export type PushCertificateProblem = 'format' | 'password' | 'unsupported' | 'no_certificate' | 'no_key' | 'key_encrypted' | 'not_push' | 'key_mismatch' | 'expired';

export interface ParsedPushCertificate {
  topic: string;
  /** The subject as one line, e.g. `UID=com.apple.mgmt.External.…, CN=APSP:…, C=US`. */
  subject: string;
  /** The push certificate alone (no chain), PEM. */
  certificatePem: string;
  /** Its private key as unencrypted PKCS#8 PEM (the caller seals it). */
  privateKeyPem: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 fingerprint, colon-separated hex (as Node prints it). */
  fingerprint: string;
}

const invalid = (reason: PushCertificateProblem, message: string) => new AppError('PUSH_CERTIFICATE_INVALID', message, { reason });

const PORTAL = 'the Apple Push Certificates Portal (identity.apple.com)';

/** The value of the subject's UID attribute, or null when it has none. */
export function subjectUid(cert: X509Certificate): string | null {
  const parsed = asn1js.fromBER(cert.raw);
  if (parsed.offset === -1) return null;
  const c = new pkijs.Certificate({ schema: parsed.result });
  const uid = c.subject.typesAndValues.find((tv) => tv.type === UID_OID);
  const value = uid?.value as { valueBlock?: { value?: unknown } } | undefined;
  return typeof value?.valueBlock?.value === 'string' ? value.valueBlock.value : null;
}

function validity(cert: X509Certificate): { notBefore: Date; notAfter: Date } {
  const c = new pkijs.Certificate({ schema: asn1js.fromBER(cert.raw).result });
  return { notBefore: c.notBefore.value, notAfter: c.notAfter.value };
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function readPem(certificatePem: string, privateKeyPem: string): { certificates: X509Certificate[]; keys: KeyObject[] } {
  const blocks = certificatePem.match(PEM_CERT) ?? [];
  if (!blocks.length) throw invalid('no_certificate', 'The certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----)');
  const certificates = blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch {
      throw invalid('format', 'The certificate cannot be read: its PEM block is damaged');
    }
  });
  if (/ENCRYPTED/.test(privateKeyPem)) {
    throw invalid('key_encrypted', 'The private key is encrypted: give it unencrypted, or upload the certificate and key together as a .p12 file with its password');
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(privateKeyPem)) throw invalid('no_key', 'The private key is not a PEM private key (-----BEGIN PRIVATE KEY-----)');
  try {
    return { certificates, keys: [createPrivateKey(privateKeyPem)] };
  } catch {
    throw invalid('format', 'The private key cannot be read: its PEM block is damaged');
  }
}

function readP12(p12: Uint8Array, password: string): { certificates: X509Certificate[]; keys: KeyObject[] } {
  try {
    return readPkcs12(p12, password);
  } catch (e) {
    if (!(e instanceof Pkcs12Error)) throw e;
    if (e.reason === 'password') throw invalid('password', 'The password of the .p12 file is wrong');
    if (e.reason === 'unsupported') throw invalid('unsupported', `This .p12 file cannot be read: ${e.message}`);
    throw invalid('format', `This is not a .p12 (PKCS#12) file: ${e.message}`);
  }
}

const matches = (cert: X509Certificate, key: KeyObject) => {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
};

const isPush = (cert: X509Certificate) => subjectUid(cert)?.startsWith(PUSH_TOPIC_PREFIX) ?? false;

/**
 * Reads and checks an uploaded push certificate: its subject's UID is the topic and must start
 * `com.apple.mgmt.`; the key must belong to it; it must not have expired at `now`. A PEM chain or a
 * .p12 holding Apple's intermediates is fine: the certificate that the key belongs to is the one.
 */
export function parsePushCertificate(input: PushCertificateInput, now: Date): ParsedPushCertificate {
  const { certificates, keys } = 'p12' in input ? readP12(input.p12, input.password) : readPem(input.certificatePem, input.privateKeyPem);
  if (!certificates.length) throw invalid('no_certificate', 'The file holds no certificate');
  if (!keys.length) {
    throw invalid('no_key', 'The file holds no private key: export the certificate together with its private key (in Keychain Access, select both and choose Export 2 Items)');
  }
  // The certificate the key belongs to; else the push certificate among them, to say what is wrong with it.
  let pair: { cert: X509Certificate; key: KeyObject } | undefined;
  for (const c of certificates) {
    const k = keys.find((k) => matches(c, k));
    if (k) {
      pair = { cert: c, key: k };
      break;
    }
  }
  const cert = pair?.cert ?? certificates.find(isPush) ?? certificates[0]!;
  const key = pair?.key ?? keys[0]!;
  const uid = subjectUid(cert);
  if (uid === null) {
    throw invalid('not_push', `This is not an MDM push certificate: its subject has no UID (the APNs topic). Download the MDM push certificate from ${PORTAL}`);
  }
  if (!uid.startsWith(PUSH_TOPIC_PREFIX)) {
    throw invalid('not_push', `This is not an MDM push certificate: its topic ${uid} does not start with ${PUSH_TOPIC_PREFIX} (an app's push certificate cannot manage devices). Download the MDM push certificate from ${PORTAL}`);
  }
  if (!matches(cert, key)) {
    throw invalid('key_mismatch', 'The private key does not belong to this certificate: use the key whose certificate signing request was signed for this push certificate');
  }
  const { notBefore, notAfter } = validity(cert);
  if (notAfter.getTime() <= now.getTime()) {
    throw invalid('expired', `This push certificate expired on ${notAfter.toISOString().slice(0, 10)}: renew it at ${PORTAL} with the same Apple ID, then upload the renewed one`);
  }
  return {
    topic: uid,
    subject: cert.subject.split('\n').join(', '),
    certificatePem: cert.toString(),
    privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string,
    notBefore,
    notAfter,
    fingerprint: cert.fingerprint256,
  };
}
