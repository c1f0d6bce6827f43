/**
 * Device-side material for the Apple tests: keys and PKCS#10 requests made as a device makes them,
 * and identities issued by a test CA.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';
import { newSerial, parseCertificateRequest, type Ca, type Identity } from '../../src/apple/ca.js';

const RSA = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };

/** A PKCS#10 request as a device makes one: RSA 2048, SHA-256, a challengePassword attribute when given. */
export async function makeCsr(challenge: string | undefined, subject = 'CN=device'): Promise<{ der: Buffer; key: KeyObject; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(RSA, true, ['sign', 'verify'])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subject,
    keys,
    signingAlgorithm: RSA,
    attributes: challenge === undefined ? [] : [new x509.ChallengePasswordAttribute(challenge)],
  });
  const key = createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)), format: 'der', type: 'pkcs8' });
  return { der: Buffer.from(csr.rawData), key, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** A device identity issued by the CA, as SCEP would hand it out. */
export async function deviceIdentity(ca: Ca, subject = 'CN=device'): Promise<Identity & { certPem: string; keyPem: string }> {
  const { der, key, keyPem } = await makeCsr(undefined, subject);
  const issued = await ca.issueCertificate(await parseCertificateRequest(der), { validityDays: 365, serial: newSerial() });
  return { cert: issued.cert, certDer: issued.der, key, chain: [], certPem: issued.cert.toString(), keyPem };
}
