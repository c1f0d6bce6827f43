import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DerError, parseDer } from '../../src/apple/der.js';
import { createPki, identityFromFiles, type Ca, type Identity } from '../../src/apple/ca.js';
import { parseSignedData, signAttached, verifyDetached } from '../../src/apple/cms.js';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { tempDir, testConfig } from '../support/db.js';
import { deviceIdentity } from '../support/apple.js';

let db: Database;
let ca: Ca;
let signer: Identity;
let dir: string;
const file = (n: string) => path.join(dir, n);

beforeAll(async () => {
  db = await openDatabase(await testConfig('sqlite'));
  const pki = createPki({ db, secretKey: Buffer.alloc(32, 1), ca: { keyBits: 2048 } });
  ca = await pki.ca();
  signer = await pki.profileSigner();
  dir = tempDir('pippin-cms-');
  fs.writeFileSync(file('ca.pem'), ca.certPem);
});
afterAll(() => db?.close());

/** `openssl cms -verify` of DER SignedData against a CA file; returns the content it extracted. */
function opensslVerify(der: Buffer, caFile = file('ca.pem'), extra: string[] = []): Buffer {
  fs.writeFileSync(file('signed.der'), der);
  execFileSync('openssl', ['cms', '-verify', '-inform', 'DER', '-in', file('signed.der'), '-CAfile', caFile, '-purpose', 'any', '-out', file('out.bin'), ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  return fs.readFileSync(file('out.bin'));
}

describe('signAttached', () => {
  it('makes SignedData with attached content that openssl verifies against the CA', () => {
    const content = Buffer.from('<?xml version="1.0"?><plist version="1.0"><dict/></plist>\n');
    const der = signAttached(content, signer);
    expect(opensslVerify(der)).toEqual(content);
    // Without -purpose any as well: the profile-signing certificate carries no EKU.
    fs.writeFileSync(file('s2.der'), der);
    execFileSync('openssl', ['cms', '-verify', '-inform', 'DER', '-in', file('s2.der'), '-CAfile', file('ca.pem'), '-out', '/dev/null'], { stdio: 'pipe' });
    const parsed = parseSignedData(der);
    expect(parsed.content).toEqual(content);
    expect(parsed.certificates).toEqual([signer.certDer, ca.identity.certDer]);
  });

  it('signs with a configured EC identity and sends its chain', () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('root.key'), '-out', file('root.pem'), '-subj', '/CN=Root', '-days', '30']);
    execFileSync('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('leaf.key'), '-out', file('leaf.csr'), '-subj', '/CN=mdm.example.com']);
    execFileSync('openssl', ['x509', '-req', '-in', file('leaf.csr'), '-CA', file('root.pem'), '-CAkey', file('root.key'), '-CAcreateserial', '-out', file('leaf.pem'), '-days', '30'], { stdio: 'pipe' });
    fs.writeFileSync(file('chain.pem'), fs.readFileSync(file('leaf.pem'), 'utf8') + fs.readFileSync(file('root.pem'), 'utf8'));
    const content = Buffer.from('payload');
    expect(opensslVerify(signAttached(content, identityFromFiles(file('chain.pem'), file('leaf.key'))), file('root.pem'))).toEqual(content);
  });
});

describe('verifyDetached', () => {
  let device: Awaited<ReturnType<typeof deviceIdentity>>;
  const body = Buffer.from('<?xml version="1.0"?><plist version="1.0"><dict><key>MessageType</key><string>TokenUpdate</string></dict></plist>');

  /** A detached signature made by openssl, as a device's Mdm-Signature header. */
  function opensslSign(content: Buffer, certPem: string, keyPem: string, extra: string[] = []): string {
    fs.writeFileSync(file('body'), content);
    fs.writeFileSync(file('dev.pem'), certPem);
    fs.writeFileSync(file('dev.key'), keyPem);
    return execFileSync('openssl', ['cms', '-sign', '-binary', '-md', 'sha256', '-outform', 'DER', '-in', file('body'), '-signer', file('dev.pem'), '-inkey', file('dev.key'), ...extra]).toString('base64');
  }

  beforeAll(async () => {
    device = await deviceIdentity(ca);
  });

  it("returns the signer certificate and its SHA-256 for a device's signature", () => {
    const sig = opensslSign(body, device.certPem, device.keyPem);
    const res = verifyDetached(body, sig, { trust: ca });
    expect(res).toMatchObject({ ok: true, certHash: createHash('sha256').update(device.certDer).digest('hex') });
    if (res.ok) expect(res.certDer).toEqual(device.certDer);
    // Without signed attributes the signature is over the body itself.
    expect(verifyDetached(body, opensslSign(body, device.certPem, device.keyPem, ['-noattr']), { trust: ca }).ok).toBe(true);
    // The SHA-1 digests older devices may use.
    expect(verifyDetached(body, opensslSign(body, device.certPem, device.keyPem, ['-md', 'sha1']), { trust: ca }).ok).toBe(true);
  });

  it('says why when the body, signature, signer or trust is wrong', () => {
    const sig = opensslSign(body, device.certPem, device.keyPem);
    expect(verifyDetached(Buffer.concat([body, Buffer.from(' ')]), sig, { trust: ca })).toEqual({ ok: false, reason: 'digest_mismatch' });
    const noattr = opensslSign(body, device.certPem, device.keyPem, ['-noattr']);
    expect(verifyDetached(Buffer.from('other'), noattr, { trust: ca })).toEqual({ ok: false, reason: 'bad_signature' });
    const raw = Buffer.from(sig, 'base64');
    raw[raw.length - 10]! ^= 0x01; // inside the signature value
    expect(verifyDetached(body, raw.toString('base64'), { trust: ca })).toEqual({ ok: false, reason: 'bad_signature' });
    // A certificate from another CA (here self-signed by the device) is not trusted.
    execFileSync('openssl', ['req', '-x509', '-key', file('dev.key'), '-out', file('self.pem'), '-subj', '/CN=device', '-days', '1']);
    const foreign = opensslSign(body, fs.readFileSync(file('self.pem'), 'utf8'), device.keyPem);
    expect(verifyDetached(body, foreign, { trust: ca })).toEqual({ ok: false, reason: 'untrusted' });
    // Nor is ours outside its validity.
    expect(verifyDetached(body, sig, { trust: ca, at: new Date(Date.now() + 400 * 86_400_000) })).toEqual({ ok: false, reason: 'untrusted' });
    expect(verifyDetached(body, 'not base64!', { trust: ca })).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyDetached(body, Buffer.from('random bytes, no ASN.1').toString('base64'), { trust: ca })).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyDetached(body, raw.subarray(0, 200).toString('base64'), { trust: ca })).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyDetached(body, 'A'.repeat(20_000), { trust: ca })).toEqual({ ok: false, reason: 'too_large' });
    // Attached content is not a detached signature.
    expect(verifyDetached(body, opensslSign(body, device.certPem, device.keyPem, ['-nodetach']), { trust: ca })).toEqual({ ok: false, reason: 'malformed' });
    // A signature with no certificates names no signer we can check.
    expect(verifyDetached(body, opensslSign(body, device.certPem, device.keyPem, ['-nocerts']), { trust: ca })).toEqual({ ok: false, reason: 'no_signer' });
  });

  it('verifies the same signer again and again from its cached certificate (the bench measures speed, no test does)', () => {
    const sig = opensslSign(body, device.certPem, device.keyPem);
    const first = verifyDetached(body, sig, { trust: ca });
    expect(first.ok).toBe(true);
    for (let i = 0; i < 200; i++) {
      const again = verifyDetached(body, sig, { trust: ca });
      expect(again.ok && first.ok && again.cert === first.cert).toBe(true);
    }
  });
});

describe('device input never throws past the parser', () => {
  it('parseDer refuses random and truncated bytes with DerError only; verifyDetached answers a reason', () => {
    const sig = signAttached(Buffer.from('x'), signer);
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.integer({ min: 0, max: sig.length - 1 }).map((n) => new Uint8Array(sig.subarray(0, n)))), (bytes) => {
        try {
          parseDer(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(DerError);
        }
        expect(verifyDetached(Buffer.from('x'), Buffer.from(bytes).toString('base64') || 'AA==', { trust: ca }).ok).toBe(false);
      }),
      { numRuns: 500 },
    );
    expect(() => parseDer(Buffer.from('3080' + '3080'.repeat(100) + '0000'.repeat(101), 'hex'))).toThrow(DerError);
  });
});
