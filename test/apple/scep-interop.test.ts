/**
 * Interoperability: Debian's `scepclient` (micromdm/scep, package `scep`) enrols against a real
 * Fastify server running the SCEP plugin, renews, and is refused with a wrong challenge. Each run
 * works in its own folder (the client reuses csr.pem/self.pem beside its key, APPLE.md §9).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, type Ca } from '../../src/apple/ca.js';
import { createScepServer } from '../../src/apple/scep.js';
import { scepRoutes } from '../../src/apple/scep-routes.js';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { tempDir, testConfig } from '../support/db.js';
import { MemoryRedeemer } from '../support/scep-client.js';

const SCEPCLIENT = '/usr/bin/scepclient';
const hasClient = fs.existsSync(SCEPCLIENT);
if (!hasClient) console.warn('\n!!! scepclient is not installed (apt-get install scep): the SCEP interoperability test is SKIPPED !!!\n');
const run = promisify(execFile);

describe.skipIf(!hasClient)('scepclient against the SCEP plugin', () => {
  let db: Database;
  let ca: Ca;
  let app: FastifyInstance;
  let url: string;
  const redeemer = new MemoryRedeemer();

  beforeAll(async () => {
    db = await openDatabase(await testConfig('sqlite'));
    const pki = createPki({ db, secretKey: Buffer.alloc(32, 5), ca: { keyBits: 2048 } });
    ca = await pki.ca();
    app = Fastify();
    await app.register(scepRoutes, { scep: createScepServer({ ca: pki.ca, redeemer }) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address() as { port: number };
    url = `http://127.0.0.1:${addr.port}/mdm/scep`;
  });
  afterAll(async () => {
    await app?.close();
    await db?.close();
  });

  async function scepclient(dir: string, challenge: string): Promise<{ ok: boolean; output: string }> {
    try {
      const r = await run(SCEPCLIENT, ['-server-url', url, '-challenge', challenge, '-private-key', path.join(dir, 'key.pem'), '-certificate', path.join(dir, 'cert.pem'), '-cn', 'scep-interop'], { cwd: dir, timeout: 20_000 });
      return { ok: true, output: r.stdout + r.stderr };
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; message: string };
      return { ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}${err.message}` };
    }
  }

  it('enrols with a good challenge, then renews with the certificate it got', async () => {
    const dir = tempDir('pippin-scep-');
    redeemer.add('interop-good', 'request-interop', { subject: 'CN=Pippin request interop' });
    const first = await scepclient(dir, 'interop-good');
    expect(first.ok, first.output).toBe(true);
    const cert = new X509Certificate(fs.readFileSync(path.join(dir, 'cert.pem')));
    expect(cert.checkIssued(ca.identity.cert) && cert.verify(ca.identity.cert.publicKey)).toBe(true);
    expect(cert.subject).toBe('CN=Pippin request interop');
    expect(redeemer.issued.map((i) => i.grant.requestId)).toEqual(['request-interop']);

    // The existing certificate turns the next run into a RenewalReq signed by it.
    const renewed = await scepclient(dir, 'interop-good');
    expect(renewed.ok, renewed.output).toBe(true);
    expect(redeemer.issued).toHaveLength(2);
    expect(redeemer.issued[1]!.cert.renewalOf).toBe(redeemer.issued[0]!.cert.certHash);
  });

  it('is refused with a wrong challenge, and nothing is issued', async () => {
    const dir = tempDir('pippin-scep-');
    const before = redeemer.issued.length;
    const res = await scepclient(dir, 'not-the-challenge');
    expect(res.ok).toBe(false);
    expect(res.output).toMatch(/FAILURE|fail|badRequest/i);
    expect(fs.existsSync(path.join(dir, 'cert.pem'))).toBe(false);
    expect(redeemer.issued).toHaveLength(before);
  });
});
