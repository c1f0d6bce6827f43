/** Genuine Apple devices: a device identity must chain, through the certificates its message carries, to Apple's root. */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { appleAnchors, chainsToAnchor } from '../../src/apple/anchors.js';
import { parseSignedData, verifySigner } from '../../src/apple/cms.js';
import { tempDir } from '../support/db.js';

const openssl = (args: string[], input?: Buffer) => execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });

/** A three-level chain made with openssl, as a device's identity would be: root → intermediate → leaf. */
function chain(dir: string) {
  const f = (n: string) => path.join(dir, n);
  fs.writeFileSync(f('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('root.key'), '-out', f('root.pem'), '-subj', '/CN=Test Root', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('int.key'), '-out', f('int.csr'), '-subj', '/CN=Test Device CA']);
  openssl(['x509', '-req', '-in', f('int.csr'), '-CA', f('root.pem'), '-CAkey', f('root.key'), '-CAcreateserial', '-out', f('int.pem'), '-days', '30', '-extfile', f('ca.ext')]);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/CN=device']);
  openssl(['x509', '-req', '-in', f('leaf.csr'), '-CA', f('int.pem'), '-CAkey', f('int.key'), '-CAcreateserial', '-out', f('leaf.pem'), '-days', '30']);
  return f;
}

describe('chainsToAnchor', () => {
  it('accepts a signer that chains through the carried intermediate to the anchor, and nothing else', () => {
    const dir = tempDir('pippin-anchors-');
    const f = chain(dir);
    const content = Buffer.from('<plist version="1.0"><dict/></plist>');
    const withChain = parseSignedData(openssl(['cms', '-sign', '-nodetach', '-binary', '-signer', f('leaf.pem'), '-inkey', f('leaf.key'), '-certfile', f('int.pem'), '-outform', 'DER'], content));
    const v = verifySigner(withChain, content);
    expect(v.ok).toBe(true);
    const root = new X509Certificate(fs.readFileSync(f('root.pem')));
    expect(chainsToAnchor(v.ok ? v.signer.cert : (undefined as never), withChain, [root])).toBe(true);
    // Apple's root did not issue it.
    expect(chainsToAnchor(v.ok ? v.signer.cert : (undefined as never), withChain, appleAnchors())).toBe(false);
    // Without the intermediate in the message, the chain cannot be built.
    const bare = parseSignedData(openssl(['cms', '-sign', '-nodetach', '-binary', '-signer', f('leaf.pem'), '-inkey', f('leaf.key'), '-outform', 'DER'], content));
    const b = verifySigner(bare, content);
    expect(b.ok && chainsToAnchor(b.signer.cert, bare, [root])).toBe(false);
    // Not yet valid at the time asked about.
    expect(chainsToAnchor(v.ok ? v.signer.cert : (undefined as never), withChain, [root], new Date(Date.now() + 365 * 86_400_000))).toBe(false);
  });

  it("carries Apple's published root", () => {
    const [root] = appleAnchors();
    expect(root!.subject).toContain('CN=Apple Root CA');
    expect(root!.fingerprint256).toBe('B0:B1:73:0E:CB:C7:FF:45:05:14:2C:49:F1:29:5E:6E:DA:6B:CA:ED:7E:2C:68:C5:BE:91:B5:A1:10:01:F0:24');
  });
});
