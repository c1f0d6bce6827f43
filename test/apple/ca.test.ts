import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createPki, identityFromFiles, loadOrCreateCa, loadProfileSigningIdentity, newSerial, notAfter, parseCertificateRequest } from '../../src/apple/ca.js';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { ENGINES, tempDir, testConfig } from '../support/db.js';
import { makeCsr } from '../support/apple.js';

const SECRET = Buffer.alloc(32, 7);
const opened: Database[] = [];
afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
});

/** Two handles on the same database, as two Pippin nodes would hold. */
async function twoNodes(engine: (typeof ENGINES)[number]): Promise<[Database, Database]> {
  const config = await testConfig(engine);
  const a = await openDatabase(config);
  const b = await openDatabase(config);
  opened.push(a, b);
  return [a, b];
}

describe.each(ENGINES)('installation CA on %s', (engine) => {
  it('is created once when two nodes start together, and both use the row that won', async () => {
    const [a, b] = await twoNodes(engine);
    const [ca1, ca2] = await Promise.all([loadOrCreateCa(a, SECRET, { keyBits: 2048 }), loadOrCreateCa(b, SECRET, { keyBits: 2048 })]);
    expect(ca1.fingerprint).toBe(ca2.fingerprint);
    expect(ca1.identity.cert.checkPrivateKey(ca2.identity.key)).toBe(true);
    const rows = await a.system('installation CA', (tx) => tx.selectFrom('pki_ca').selectAll().where('id', '=', 'default').execute());
    expect(rows).toHaveLength(1);
    // Not the key in clear: no PEM, and not base64 DER, which starts "MII" (ciphertext may hold "MII" anywhere).
    expect(rows[0]!.key_sealed).not.toMatch(/PRIVATE KEY|^MII/);
    // A later start reads the same CA; a different secret key cannot open it.
    expect((await loadOrCreateCa(a, SECRET)).fingerprint).toBe(ca1.fingerprint);
    await expect(loadOrCreateCa(a, Buffer.alloc(32, 8))).rejects.toThrow();
    const ca = ca1.identity.cert;
    expect(ca.ca).toBe(true);
    expect(ca.checkIssued(ca)).toBe(true);
    expect(notAfter(ca).getUTCFullYear() - new Date().getUTCFullYear()).toBeGreaterThanOrEqual(19);

    // The profile-signing identity is also made once, issued by the CA.
    const [s1, s2] = await Promise.all([loadProfileSigningIdentity(a, SECRET, ca1), loadProfileSigningIdentity(b, SECRET, ca2)]);
    expect(s1.cert.fingerprint256).toBe(s2.cert.fingerprint256);
    expect(s1.cert.checkIssued(ca)).toBe(true);
    expect(s1.cert.verify(ca.publicKey)).toBe(true);
    expect(s1.chain).toEqual([ca1.identity.certDer]);
  });
});

describe('issuing', () => {
  it('issues a clientAuth device identity from a request, which openssl verifies against the CA', async () => {
    const [db] = await twoNodes('sqlite');
    const pki = createPki({ db, secretKey: SECRET, ca: { keyBits: 2048 } });
    const ca = await pki.ca();
    expect(await pki.ca()).toBe(ca);
    const { der } = await makeCsr('s3cret', 'CN=iPhone,O=Example');
    const csr = await parseCertificateRequest(der);
    expect(csr.challenge).toBe('s3cret');
    expect(csr.signatureValid).toBe(true);
    expect(csr.subject).toBe('CN=iPhone, O=Example');
    const serial = newSerial();
    const issued = await ca.issueCertificate(csr, { subject: 'CN=Pippin request 42', validityDays: 365, serial });
    expect(issued.serial.toLowerCase()).toBe(serial);
    expect(issued.subject).toBe('CN=Pippin request 42');
    expect(issued.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(ca.issued(issued.cert)).toBe(true);
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: issued.cert.toString() }).toString();
    expect(text).toMatch(/TLS Web Client Authentication/);
    expect(text).toMatch(/Digital Signature, Key Encipherment/);
    expect(text).toMatch(/CA:FALSE/);
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certPem);
    fs.writeFileSync(path.join(dir, 'dev.pem'), issued.cert.toString());
    expect(execFileSync('openssl', ['verify', '-CAfile', path.join(dir, 'ca.pem'), '-purpose', 'sslclient', path.join(dir, 'dev.pem')]).toString()).toMatch(/OK/);

    // Keeps the requested subject when none is given; a self-signed certificate is not ours.
    const kept = await ca.issueCertificate(csr, { validityDays: 1, serial: newSerial() });
    expect(kept.subject).toBe('CN=iPhone, O=Example');
    expect(ca.issued(new X509Certificate(execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=x', '-days', '1'])))).toBe(false);
    // A request whose signature does not verify is reported as such.
    const tampered = Buffer.from(der);
    tampered[tampered.length - 5]! ^= 0xff;
    expect((await parseCertificateRequest(tampered)).signatureValid).toBe(false);
  });

  it('uses PIPPIN_PROFILE_SIGNING_CERT/_KEY when configured, with their chain, and refuses a key that does not match', async () => {
    const dir = tempDir();
    const file = (n: string) => path.join(dir, n);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('root.key'), '-out', file('root.pem'), '-subj', '/CN=Root', '-days', '30']);
    execFileSync('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('leaf.key'), '-out', file('leaf.csr'), '-subj', '/CN=mdm.example.com']);
    execFileSync('openssl', ['x509', '-req', '-in', file('leaf.csr'), '-CA', file('root.pem'), '-CAkey', file('root.key'), '-CAcreateserial', '-out', file('leaf.pem'), '-days', '30']);
    fs.writeFileSync(file('chain.pem'), fs.readFileSync(file('leaf.pem'), 'utf8') + fs.readFileSync(file('root.pem'), 'utf8'));
    const id = identityFromFiles(file('chain.pem'), file('leaf.key'));
    expect(id.cert.subject).toBe('CN=mdm.example.com');
    expect(id.chain).toHaveLength(1);
    expect(id.key.asymmetricKeyType).toBe('ec');
    expect(() => identityFromFiles(file('chain.pem'), file('root.key'))).toThrow(/does not match/);
    const [db] = await twoNodes('sqlite');
    const pki = createPki({ db, secretKey: SECRET, ca: { keyBits: 2048 }, signing: { certFile: file('chain.pem'), keyFile: file('leaf.key') } });
    expect((await pki.profileSigner()).cert.subject).toBe('CN=mdm.example.com');
    // No profile-signing row is made for a configured identity (the CA itself still is: SCEP needs it).
    const rows = await db.system('installation CA', (tx) => tx.selectFrom('pki_ca').select('id').execute());
    expect(rows.map((r) => r.id)).toEqual(['default']);
  });
});
