/**
 * A simulated Apple device for end-to-end tests against a listening Pippin: it reads and verifies
 * profiles as a device (and openssl, and python's plistlib) would, enrols over SCEP with Debian's
 * scepclient, and sends check-ins signed with its identity (openssl cms, detached).
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { toPlist } from '../../src/apple/plist.js';

export const SCEPCLIENT = '/usr/bin/scepclient';
export const hasScepClient = fs.existsSync(SCEPCLIENT);
const run = promisify(execFile);

/** Verifies a signed profile against the CA, reads it with plistlib, and returns its SCEP and MDM payloads. */
export function readProfile(der: Buffer, caPem: string, dir: string) {
  const signed = path.join(dir, 'profile.mobileconfig');
  fs.writeFileSync(signed, der);
  fs.writeFileSync(path.join(dir, 'ca.pem'), caPem);
  execFileSync('openssl', ['cms', '-verify', '-inform', 'DER', '-in', signed, '-CAfile', path.join(dir, 'ca.pem'), '-purpose', 'any', '-out', path.join(dir, 'profile.plist')], { stdio: 'pipe' });
  const json = execFileSync('python3', ['-c', 'import plistlib,json,sys; p=plistlib.load(open(sys.argv[1],"rb")); print(json.dumps(p, default=str))', path.join(dir, 'profile.plist')], { encoding: 'utf8' });
  const profile = JSON.parse(json);
  const scep = profile.PayloadContent.find((p: any) => p.PayloadType === 'com.apple.security.scep').PayloadContent;
  const mdm = profile.PayloadContent.find((p: any) => p.PayloadType === 'com.apple.mdm');
  return { profile, scep, mdm };
}

/** Runs scepclient in `dir` (its key and certificate land there). True when it got a certificate. */
export async function scepEnrol(dir: string, url: string, challenge: string): Promise<boolean> {
  try {
    await run(SCEPCLIENT, ['-server-url', url, '-challenge', challenge, '-private-key', path.join(dir, 'key.pem'), '-certificate', path.join(dir, 'cert.pem'), '-cn', 'device'], { cwd: dir, timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** A check-in as a device sends it: the plist, and Mdm-Signature (detached CMS) by the identity in `dir` (or another). */
export function signedMessage(dir: string, message: Record<string, unknown>, opts: { cert?: string; key?: string } = {}) {
  const body = toPlist(message as never);
  const sig = execFileSync('openssl', ['cms', '-sign', '-binary', '-signer', opts.cert ?? path.join(dir, 'cert.pem'), '-inkey', opts.key ?? path.join(dir, 'key.pem'), '-outform', 'DER'], { input: body, stdio: ['pipe', 'pipe', 'pipe'] });
  return { body, signature: sig.toString('base64') };
}

/** A self-signed certificate and key in `dir` (a foreign identity, or the stand-in for a device's built-in Apple identity). */
export function selfSignedIdentity(dir: string, name: string) {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${name}`, '-days', '1'], { stdio: 'pipe' });
  return { cert, key };
}

/** The body a device POSTs to /mdm/enroll: its plist, CMS-signed with attached content by its built-in identity. */
export function deviceEnrolBody(dir: string, info: Record<string, string> = { LANGUAGE: 'en-GB', PRODUCT: 'iPhone16,2', VERSION: '22B83' }): Buffer {
  const id = selfSignedIdentity(dir, 'apple-device');
  return execFileSync('openssl', ['cms', '-sign', '-nodetach', '-binary', '-signer', id.cert, '-inkey', id.key, '-outform', 'DER'], { input: toPlist(info as never), stdio: ['pipe', 'pipe', 'pipe'] });
}

/** PUTs a (signed) check-in to the server, with the access token of an account-driven enrolment when given. */
export function putCheckin(base: string, url: string, m: { body: Buffer; signature?: string }, bearer?: string) {
  return fetch(`${base}${url}`, {
    method: 'PUT',
    headers: {
      'content-type': 'application/x-apple-aspen-mdm-checkin',
      ...(m.signature ? { 'mdm-signature': m.signature } : {}),
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
    },
    body: new Uint8Array(m.body),
  });
}
