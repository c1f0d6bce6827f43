import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { parsePushCertificate, type PushCertificateInput } from '../../src/apple/push/parse.js';
import { readPkcs12 } from '../../src/apple/push/pkcs12.js';
import { rc2CbcDecrypt, rc2DecryptBlock } from '../../src/apple/push/rc2.js';
import { pushStatus } from '../../src/apple/push/model.js';
import { testTopicFor } from '../../src/apple/push/test-topic.js';
import { encryptedKey, makeP12, makePushCertificate } from '../support/push-cert.js';

const now = () => new Date();

function refusal(input: PushCertificateInput, at = now()): AppError {
  try {
    parsePushCertificate(input, at);
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe('PUSH_CERTIFICATE_INVALID');
    return e as AppError;
  }
  throw new Error('expected a refusal');
}

describe('RC2 (RFC 2268), for legacy .p12 files', () => {
  it('decrypts the RFC test vectors', () => {
    const vectors: [string, number, string, string][] = [
      ['0000000000000000', 63, '0000000000000000', 'ebb773f993278eff'],
      ['ffffffffffffffff', 64, 'ffffffffffffffff', '278b27e42e2f0d49'],
      ['3000000000000000', 64, '1000000000000001', '30649edf9be7d2c2'],
      ['88', 64, '0000000000000000', '61a8a244adacccf0'],
    ];
    for (const [key, bits, plain, cipher] of vectors) {
      expect(Buffer.from(rc2DecryptBlock(Buffer.from(key, 'hex'), bits, Buffer.from(cipher, 'hex'))).toString('hex')).toBe(plain);
    }
  });

  it.each([
    ['rc2-40-cbc', 5],
    ['rc2-cbc', 16],
  ])('decrypts what openssl enc -%s encrypts', (alg, keyLength) => {
    const key = randomBytes(keyLength);
    const iv = randomBytes(8);
    const plain = randomBytes(61);
    const cipher = execFileSync('openssl', ['enc', `-${alg}`, '-provider', 'legacy', '-provider', 'default', '-K', key.toString('hex'), '-iv', iv.toString('hex')], { input: plain });
    expect(rc2CbcDecrypt(key, keyLength * 8, iv, cipher).equals(plain)).toBe(true);
  });
});

describe('parsePushCertificate', () => {
  const pair = makePushCertificate();

  it('reads a PEM certificate and key: topic from the UID, subject, validity, fingerprint', () => {
    const p = parsePushCertificate(pair, now());
    expect(p.topic).toBe(pair.topic);
    expect(p.topic).toMatch(/^com\.apple\.mgmt\.External\.[0-9A-F-]{36}$/);
    expect(p.subject).toBe(`UID=${pair.topic}, CN=APSP:${pair.topic.slice('com.apple.mgmt.External.'.length)}, C=US`);
    expect(p.notAfter.getTime() - p.notBefore.getTime()).toBe(365 * 86_400_000);
    expect(p.fingerprint).toBe(new X509Certificate(pair.certificatePem).fingerprint256);
    expect(p.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(new X509Certificate(p.certificatePem).raw.equals(new X509Certificate(pair.certificatePem).raw)).toBe(true);
  });

  it('takes a PKCS#1 key, and a chain whose push certificate is not first', () => {
    const pkcs1 = makePushCertificate({ keyFormat: 'pkcs1' });
    expect(pkcs1.privateKeyPem).toMatch(/BEGIN RSA PRIVATE KEY/);
    expect(parsePushCertificate(pkcs1, now()).topic).toBe(pkcs1.topic);
    const other = makePushCertificate({ uid: null });
    const chain = { certificatePem: other.certificatePem + pair.certificatePem, privateKeyPem: pair.privateKeyPem };
    expect(parsePushCertificate(chain, now()).topic).toBe(pair.topic);
  });

  it.each([
    ['modern (PBES2, AES-256-CBC, SHA-256 MAC)', false],
    ['legacy (3DES key, RC2-40 certificates, SHA-1 MAC)', true],
  ])('reads a .p12: %s', (_, legacy) => {
    for (const password of ['s3cret', '', 'pässwörd ✓']) {
      const p = parsePushCertificate({ p12: makeP12(pair, password, { legacy }), password }, now());
      expect(p.topic).toBe(pair.topic);
      expect(p.fingerprint).toBe(new X509Certificate(pair.certificatePem).fingerprint256);
    }
  });

  it.each([false, true])('refuses a wrong .p12 password (legacy %s)', (legacy) => {
    const p12 = makeP12(pair, 'right', { legacy });
    for (const password of ['wrong', '', 'Right']) {
      const e = refusal({ p12, password });
      expect(e.details).toEqual({ reason: 'password' });
      expect(e.message).toBe('The password of the .p12 file is wrong');
    }
  });

  it('refuses a key that does not belong to the certificate', () => {
    const other = makePushCertificate();
    const e = refusal({ certificatePem: pair.certificatePem, privateKeyPem: other.privateKeyPem });
    expect(e.details).toEqual({ reason: 'key_mismatch' });
    expect(e.message).toMatch(/does not belong to this certificate/);
  });

  it('refuses an expired certificate, saying when it expired and how to renew', () => {
    const expired = makePushCertificate({ days: -1 });
    const e = refusal(expired);
    expect(e.details).toEqual({ reason: 'expired' });
    expect(e.message).toMatch(/^This push certificate expired on \d{4}-\d\d-\d\d: renew it at the Apple Push Certificates Portal/);
    // A valid one is refused once the clock passes its expiry.
    expect(refusal(pair, new Date(Date.now() + 400 * 86_400_000)).details).toEqual({ reason: 'expired' });
  });

  it('refuses a certificate that is not an MDM push certificate', () => {
    const noUid = refusal(makePushCertificate({ uid: null }));
    expect(noUid.details).toEqual({ reason: 'not_push' });
    expect(noUid.message).toMatch(/its subject has no UID/);
    const app = refusal(makePushCertificate({ uid: 'com.example.app.voip' }));
    expect(app.details).toEqual({ reason: 'not_push' });
    expect(app.message).toMatch(/its topic com\.example\.app\.voip does not start with com\.apple\.mgmt\./);
  });

  it('refuses a .p12 without a key, an encrypted PEM key, and things that are not certificates at all', () => {
    expect(refusal({ p12: makeP12(pair, 'x', { noKey: true }), password: 'x' }).details).toEqual({ reason: 'no_key' });
    expect(refusal({ certificatePem: pair.certificatePem, privateKeyPem: encryptedKey(pair, 'pw') }).details).toEqual({ reason: 'key_encrypted' });
    expect(refusal({ p12: Buffer.from(pair.certificatePem), password: 'x' }).details).toEqual({ reason: 'format' });
    expect(refusal({ p12: randomBytes(2000), password: 'x' }).details).toEqual({ reason: 'format' });
    expect(refusal({ p12: Buffer.alloc(0), password: '' }).details).toEqual({ reason: 'format' });
    expect(refusal({ certificatePem: 'hello', privateKeyPem: pair.privateKeyPem }).details).toEqual({ reason: 'no_certificate' });
    expect(refusal({ certificatePem: pair.certificatePem, privateKeyPem: pair.certificatePem }).details).toEqual({ reason: 'no_key' });
    const damaged = pair.certificatePem.replace(/\n[A-Za-z0-9+/]{20}/, '\n' + 'A'.repeat(20));
    expect(refusal({ certificatePem: damaged, privateKeyPem: pair.privateKeyPem }).details).toEqual({ reason: 'format' });
  });

  it('reads the certificates and keys of a .p12 whatever else it holds', () => {
    const c = readPkcs12(makeP12(pair, 'pw', { legacy: true }), 'pw');
    expect(c.certificates).toHaveLength(1);
    expect(c.keys).toHaveLength(1);
    expect(c.certificates[0]!.checkPrivateKey(c.keys[0]!)).toBe(true);
  });
});

describe('the push status model', () => {
  it('derives a stable test topic of the real form per account', () => {
    const a = testTopicFor('0190d0c4-0000-7000-8000-000000000001');
    expect(a).toMatch(/^com\.apple\.mgmt\.External\.[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(testTopicFor('0190d0c4-0000-7000-8000-000000000001')).toBe(a);
    expect(testTopicFor('0190d0c4-0000-7000-8000-000000000002')).not.toBe(a);
  });

  it('warns 30 days ahead and says when it has expired', () => {
    const at = new Date('2026-01-01T00:00:00Z');
    const cert = (notAfter: string) => ({ topic: 't', subject: 's', certificatePem: '', notBefore: '2025-01-01T00:00:00Z', notAfter, uploadedBy: 'o', uploadedAt: '2025-01-01T00:00:00Z' });
    expect(pushStatus(cert('2026-01-31T00:00:01Z'), at, null)).toMatchObject({ expiresInDays: 30, expiringSoon: false, expired: false });
    expect(pushStatus(cert('2026-01-31T00:00:00Z'), at, null)).toMatchObject({ expiresInDays: 30, expiringSoon: true, expired: false });
    expect(pushStatus(cert('2025-12-31T00:00:00Z'), at, null)).toMatchObject({ expiresInDays: -1, expiringSoon: true, expired: true });
    expect(pushStatus(null, at, 'com.apple.mgmt.External.x')).toMatchObject({ configured: false, topic: 'com.apple.mgmt.External.x', testTopic: true });
    expect(pushStatus(null, at, null)).toMatchObject({ configured: false, topic: null, testTopic: false });
  });
});
