import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, type Ca, type Identity } from '../../src/apple/ca.js';
import { parsePlist } from '../../src/apple/plist.js';
import { ACCESS_RIGHTS_ALL, buildEnrollmentProfile, profilePlist, signProfile, type EnrollmentProfileInput } from '../../src/apple/profiles.js';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { tempDir, testConfig } from '../support/db.js';

let db: Database;
let ca: Ca;
let signer: Identity;
let dir: string;

beforeAll(async () => {
  db = await openDatabase(await testConfig('sqlite'));
  const pki = createPki({ db, secretKey: Buffer.alloc(32, 9), ca: { keyBits: 2048 } });
  ca = await pki.ca();
  signer = await pki.profileSigner();
  dir = tempDir('pippin-profile-');
  fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certPem);
});
afterAll(() => db?.close());

const input: EnrollmentProfileInput = {
  serverUrl: 'https://mdm.example.com/',
  topic: 'com.apple.mgmt.External.5d5f6b1e-0000-4000-8000-000000000001',
  scep: { url: 'https://mdm.example.com/mdm/scep', challenge: 'one-time-challenge', subject: [['O', 'Example & Co'], ['CN', 'Pippin request 0190']] },
  accessRights: ACCESS_RIGHTS_ALL,
  organisation: 'Example & Co',
  identifier: 'com.example.pippin.enroll',
};

/** plistlib's reading of the bytes, as JSON. */
function plistlib(bytes: Buffer): Record<string, unknown> {
  return JSON.parse(execFileSync('python3', ['-c', 'import sys, plistlib, json; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'], { input: bytes }).toString());
}

describe('enrolment profiles', () => {
  it('holds the SCEP payload and the MDM payload that uses it, as Apple names them', () => {
    const p = plistlib(profilePlist(buildEnrollmentProfile(input))) as any;
    expect(p).toMatchObject({ PayloadType: 'Configuration', PayloadVersion: 1, PayloadIdentifier: 'com.example.pippin.enroll', PayloadOrganization: 'Example & Co' });
    const [scep, mdm] = p.PayloadContent;
    expect(scep).toMatchObject({
      PayloadType: 'com.apple.security.scep',
      PayloadVersion: 1,
      PayloadIdentifier: 'com.example.pippin.enroll.scep',
      PayloadContent: {
        URL: 'https://mdm.example.com/mdm/scep',
        Challenge: 'one-time-challenge',
        Keysize: 2048,
        'Key Type': 'RSA',
        'Key Usage': 5,
        Subject: [[['O', 'Example & Co']], [['CN', 'Pippin request 0190']]],
      },
    });
    expect(mdm).toEqual({
      PayloadType: 'com.apple.mdm',
      PayloadVersion: 1,
      PayloadIdentifier: 'com.example.pippin.enroll.mdm',
      PayloadUUID: mdm.PayloadUUID,
      PayloadDisplayName: 'Device management',
      PayloadOrganization: 'Example & Co',
      IdentityCertificateUUID: scep.PayloadUUID,
      Topic: input.topic,
      ServerURL: 'https://mdm.example.com/mdm/connect',
      CheckInURL: 'https://mdm.example.com/mdm/checkin',
      SignMessage: true,
      CheckOutWhenRemoved: true,
      ServerCapabilities: ['com.apple.mdm.per-user-connections', 'com.apple.mdm.bootstraptoken', 'com.apple.mdm.token'],
      AccessRights: 8191,
    });
    expect(mdm.PayloadUUID).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
    expect(p.PayloadUUID).not.toBe(mdm.PayloadUUID);
  });

  it('leaves AccessRights out unless given, and carries the User Enrollment keys when given', () => {
    const byod = buildEnrollmentProfile({ ...input, accessRights: undefined, assignedManagedAppleId: 'ann@example.com', enrollmentMode: 'BYOD', serverCapabilities: ['com.apple.mdm.token'] });
    const mdm = (plistlib(profilePlist(byod)) as any).PayloadContent[1];
    expect(mdm).not.toHaveProperty('AccessRights');
    expect(mdm).not.toHaveProperty('ManagedAppleID');
    expect(mdm).toMatchObject({ AssignedManagedAppleID: 'ann@example.com', EnrollmentMode: 'BYOD', ServerCapabilities: ['com.apple.mdm.token'] });
    const legacy = (plistlib(profilePlist(buildEnrollmentProfile({ ...input, accessRights: undefined, managedAppleId: 'ann@example.com' }))) as any).PayloadContent[1];
    expect(legacy.ManagedAppleID).toBe('ann@example.com');
  });

  it('refuses a topic outside com.apple.mgmt., AccessRights 0, and capabilities Apple does not list', () => {
    expect(() => buildEnrollmentProfile({ ...input, topic: 'com.example.x' })).toThrow(/com\.apple\.mgmt\./);
    expect(() => buildEnrollmentProfile({ ...input, accessRights: 0 })).toThrow(/AccessRights/);
    expect(() => buildEnrollmentProfile({ ...input, serverCapabilities: ['com.apple.mdm.made-up' as never] })).toThrow(/capability/);
  });

  it('is signed: openssl verifies it against the CA and the content it extracts is the same plist, which plistlib reads', () => {
    const profile = buildEnrollmentProfile(input);
    const signed = signProfile(profile, signer);
    const f = (n: string) => path.join(dir, n);
    fs.writeFileSync(f('enroll.mobileconfig'), signed);
    execFileSync('openssl', ['cms', '-verify', '-inform', 'DER', '-in', f('enroll.mobileconfig'), '-CAfile', f('ca.pem'), '-purpose', 'any', '-out', f('content.plist')], { stdio: 'pipe' });
    const content = fs.readFileSync(f('content.plist'));
    expect(content).toEqual(profilePlist(profile));
    expect((plistlib(content) as any).PayloadContent[1].Topic).toBe(input.topic);
    expect((parsePlist(content) as any).PayloadContent[0].PayloadContent.Challenge).toBe('one-time-challenge');
    // A profile signed by a certificate from another CA does not verify against ours.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('other.key'), '-out', f('other.pem'), '-subj', '/CN=Other', '-days', '1'], { stdio: 'pipe' });
    expect(() => execFileSync('openssl', ['cms', '-verify', '-inform', 'DER', '-in', f('enroll.mobileconfig'), '-CAfile', f('other.pem'), '-purpose', 'any', '-out', '/dev/null'], { stdio: 'pipe' })).toThrow();
  });
});
