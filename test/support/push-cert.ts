/**
 * APNs MDM push certificates for tests, made with the openssl command line as an organisation's
 * would look: subject `UID=com.apple.mgmt.External.<uuid>, CN=APSP:<uuid>, C=US`, RSA 2048. The
 * real ones are issued by Apple; the parser checks only what Pippin relies on, so self-signed is fine.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './db.js';

export interface PemPair {
  certificatePem: string;
  privateKeyPem: string;
  topic: string;
  dir: string;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * A push certificate and its key. `uid: null` leaves the UID out; `days: -1` makes one that
 * expired yesterday; `keyFormat: 'pkcs1'` writes the key as `RSA PRIVATE KEY`.
 */
export function makePushCertificate(opts: { uid?: string | null; days?: number; keyFormat?: 'pkcs8' | 'pkcs1' } = {}): PemPair {
  const dir = tempDir('pippin-push-');
  const uuid = randomUUID().toUpperCase();
  const topic = opts.uid === undefined ? `com.apple.mgmt.External.${uuid}` : opts.uid;
  const subject = `${topic === null ? '' : `/UID=${topic}`}/CN=APSP:${uuid}/C=US`;
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'req.csr', '-subj', subject], dir);
  openssl(['x509', '-req', '-in', 'req.csr', '-signkey', 'key.pem', '-days', String(opts.days ?? 365), '-out', 'cert.pem'], dir);
  if (opts.keyFormat === 'pkcs1') openssl(['rsa', '-in', 'key.pem', '-traditional', '-out', 'key.pem'], dir);
  return {
    certificatePem: fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8'),
    privateKeyPem: fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'),
    topic: topic ?? '',
    dir,
  };
}

/**
 * The pair as a .p12 from `openssl pkcs12 -export`: PBES2/AES-256 with a SHA-256 MAC by default,
 * or with `legacy` the 3DES key bag, RC2-40 certificate bag and SHA-1 MAC that Keychain writes.
 * `noKey` exports the certificate alone.
 */
export function makeP12(pair: PemPair, password: string, opts: { legacy?: boolean; noKey?: boolean } = {}): Buffer {
  const out = `out-${randomUUID()}.p12`;
  const args = ['pkcs12', '-export', '-in', 'cert.pem', '-out', out, '-passout', `pass:${password}`];
  if (opts.noKey) args.push('-nokeys');
  else args.push('-inkey', 'key.pem');
  if (opts.legacy) args.push('-legacy');
  openssl(args, pair.dir);
  return fs.readFileSync(path.join(pair.dir, out));
}

/** The private key encrypted with a passphrase (AES-256), as PKCS#8 PEM. */
export function encryptedKey(pair: PemPair, passphrase: string): string {
  return openssl(['pkcs8', '-topk8', '-in', 'key.pem', '-v2', 'aes-256-cbc', '-passout', `pass:${passphrase}`], pair.dir).toString('utf8');
}
