import Fastify, { type FastifyInstance } from 'fastify';
import { createHash, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPki, type Ca } from '../../src/apple/ca.js';
import { signedData } from '../../src/apple/cms.js';
import { createScepServer } from '../../src/apple/scep.js';
import { rawQuery, scepRoutes } from '../../src/apple/scep-routes.js';
import type { Database } from '../../src/db/database.js';
import { openDatabase } from '../../src/db/open.js';
import { testConfig } from '../support/db.js';
import { MemoryRedeemer, buildScepRequest, csrFor, readCertRep, selfSigned } from '../support/scep-client.js';

let db: Database;
let ca: Ca;
let app: FastifyInstance;
let redeemer: MemoryRedeemer;

beforeAll(async () => {
  db = await openDatabase(await testConfig('sqlite'));
  const pki = createPki({ db, secretKey: Buffer.alloc(32, 3), ca: { keyBits: 2048 } });
  ca = await pki.ca();
  redeemer = new MemoryRedeemer();
  app = Fastify();
  await app.register(scepRoutes, { scep: createScepServer({ ca: pki.ca, redeemer }) });
});
afterAll(async () => {
  await app?.close();
  await db?.close();
});
beforeEach(() => {
  redeemer.issued.length = 0;
});

const post = (payload: Buffer, contentType = 'application/octet-stream') =>
  app.inject({ method: 'POST', url: '/mdm/scep?operation=PKIOperation', payload, headers: { 'content-type': contentType } });

/** A device's PKCSReq with the challenge; returns what it needs to read the reply and renew. */
async function enrol(challenge: string, opts: { cipher?: 'des' | 'aes256'; via?: 'post' | 'get-urlsafe' | 'get-plus'; contentType?: string } = {}) {
  const signer = await selfSigned();
  const req = buildScepRequest({ caCertDer: ca.identity.certDer, csrDer: await csrFor(signer.keys, challenge, 'CN=iPhone'), signer, cipher: opts.cipher });
  let res;
  if (opts.via === 'get-urlsafe' || opts.via === 'get-plus') {
    const b64 = opts.via === 'get-urlsafe' ? req.message.toString('base64url').replace(/=/g, '%3D') : req.message.toString('base64');
    res = await app.inject({ method: 'GET', url: `/mdm/scep?message=${b64}&operation=PKIOperation` });
  } else res = await post(req.message, opts.contentType);
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toBe('application/x-pki-message');
  const rep = readCertRep(res.rawPayload, { caCertDer: ca.identity.certDer, key: signer.key });
  expect(rep.transactionId).toBe(req.transactionId);
  expect(rep.recipientNonce).toEqual(req.senderNonce);
  return { rep, signer };
}

describe('SCEP server', () => {
  it('answers GetCACaps and GetCACert', async () => {
    const caps = await app.inject({ method: 'GET', url: '/mdm/scep?operation=GetCACaps' });
    expect(caps.statusCode).toBe(200);
    expect(caps.body.split('\n')).toEqual(expect.arrayContaining(['POSTPKIOperation', 'SHA-256', 'AES', 'SCEPStandard', 'Renewal']));
    const cert = await app.inject({ method: 'GET', url: '/mdm/scep?operation=GetCACert&message=pippin' });
    expect(cert.statusCode).toBe(200);
    expect(cert.headers['content-type']).toBe('application/x-x509-ca-cert');
    expect(cert.rawPayload).toEqual(ca.identity.certDer);
  });

  it('issues a certificate for a good challenge, over POST and GET, DES and AES, and the redeemer records it', async () => {
    const ways = [
      { cipher: 'des' as const, via: 'post' as const },
      { cipher: 'aes256' as const, via: 'post' as const, contentType: 'application/x-pki-message' },
      { cipher: 'aes256' as const, via: 'get-urlsafe' as const },
      { cipher: 'aes256' as const, via: 'get-plus' as const },
    ];
    for (const [i, way] of ways.entries()) {
      redeemer.add(`challenge-${i}`, `request-${i}`, { subject: `CN=Pippin request ${i}` });
      const { rep, signer } = await enrol(`challenge-${i}`, way);
      expect(rep.status, JSON.stringify(way)).toBe('SUCCESS');
      const cert = new X509Certificate(rep.certificate!);
      expect(cert.checkIssued(ca.identity.cert) && cert.verify(ca.identity.cert.publicKey)).toBe(true);
      expect(cert.subject).toBe(`CN=Pippin request ${i}`);
      expect(cert.publicKey.export({ type: 'spki', format: 'der' })).toEqual(signer.cert.publicKey.export({ type: 'spki', format: 'der' }));
      expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.2');
      expect(redeemer.issued.at(-1)).toMatchObject({ grant: { requestId: `request-${i}` }, cert: { certHash: createHash('sha256').update(rep.certificate!).digest('hex') } });
    }
    expect(redeemer.issued).toHaveLength(4);
    expect(redeemer.seen.at(-1)).toMatchObject({ subject: 'CN=iPhone' });
  });

  it('refuses a wrong, reused or expired challenge with FAILURE badRequest and issues nothing', async () => {
    const wrong = await enrol('no-such-challenge');
    expect(wrong.rep).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    redeemer.add('once', 'request-once');
    expect((await enrol('once')).rep.status).toBe('SUCCESS');
    expect((await enrol('once')).rep).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    redeemer.add('stale', 'request-stale', { ttlMs: -1 });
    expect((await enrol('stale')).rep).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    expect(redeemer.issued).toHaveLength(1);
    // No challenge at all.
    const signer = await selfSigned();
    const req = buildScepRequest({ caCertDer: ca.identity.certDer, csrDer: await csrFor(signer.keys, undefined), signer });
    const res = await post(req.message);
    expect(readCertRep(res.rawPayload, { caCertDer: ca.identity.certDer, key: signer.key })).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    expect(redeemer.issued).toHaveLength(1);
  });

  it('renews for the holder of a certificate it issued, not for a stranger or an ended enrolment', async () => {
    redeemer.add('renew-me', 'request-r');
    const first = await enrol('renew-me');
    const current = { cert: new X509Certificate(first.rep.certificate!), certDer: first.rep.certificate!, key: first.signer.key, chain: [] };
    const renewal = buildScepRequest({ caCertDer: ca.identity.certDer, csrDer: await csrFor(first.signer.keys, 'renew-me'), signer: current, messageType: '17', transactionId: 'same-transaction' });
    const again = buildScepRequest({ caCertDer: ca.identity.certDer, csrDer: await csrFor(first.signer.keys, 'renew-me'), signer: current, messageType: '17', transactionId: 'same-transaction' });
    const rep = readCertRep((await post(renewal.message)).rawPayload, { caCertDer: ca.identity.certDer, key: first.signer.key });
    expect(rep.status).toBe('SUCCESS');
    expect(redeemer.issued.at(-1)!.cert.renewalOf).toBe(createHash('sha256').update(first.rep.certificate!).digest('hex'));
    // A RenewalReq signed by a self-signed certificate is not a renewal.
    const stranger = await selfSigned();
    const forged = buildScepRequest({ caCertDer: ca.identity.certDer, csrDer: await csrFor(stranger.keys), signer: stranger, messageType: '17' });
    expect(readCertRep((await post(forged.message)).rawPayload, { caCertDer: ca.identity.certDer, key: stranger.key })).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    // Once the enrolment has ended, the same renewal is refused (the transactionID may repeat).
    redeemer.ended.add('request-r');
    expect(readCertRep((await post(again.message)).rawPayload, { caCertDer: ca.identity.certDer, key: first.signer.key })).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest' });
    expect(redeemer.issued).toHaveLength(2);
  });

  it('answers malformed input with FAILURE or 400, never a 500', async () => {
    redeemer.add('tamper', 'request-t');
    const signer = await selfSigned();
    const good = buildScepRequest({ caCertDer: ca.identity.certDer, csrDer: await csrFor(signer.keys, 'tamper'), signer });
    // A flipped byte inside the envelope breaks the signature: FAILURE badMessageCheck.
    const tampered = Buffer.from(good.message);
    tampered[200]! ^= 0x01;
    const res = await post(tampered);
    expect(res.statusCode).toBe(200);
    expect(readCertRep(res.rawPayload, { caCertDer: ca.identity.certDer, key: signer.key })).toMatchObject({ status: 'FAILURE', failInfo: 'badMessageCheck' });
    // SignedData without SCEP attributes, random bytes, an empty body, an unknown operation: 400.
    expect((await post(signedData({ content: Buffer.from('x'), signer }))).statusCode).toBe(400);
    expect((await post(Buffer.from('random bytes that are not a message'))).statusCode).toBe(400);
    expect((await post(Buffer.alloc(0))).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/mdm/scep?operation=Nope' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/mdm/scep?operation=PKIOperation&message=%%%' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/mdm/scep?operation=PKIOperation&message=not*base64' })).statusCode).toBe(400);
    expect((await post(Buffer.alloc(300 * 1024, 0x30))).statusCode).toBe(413);
    // A JSON content type is still read as bytes.
    expect((await post(Buffer.from('{"a":1}'), 'application/json')).statusCode).toBe(400);
    // Every truncation and many single-byte flips of a good message: 200 (a CertRep) or 400, nothing else.
    const statuses = new Set<number>();
    for (let n = 0; n < good.message.length; n += 7) {
      const flipped = Buffer.from(good.message);
      flipped[n]! ^= 0x5a;
      const r = await post(flipped);
      statuses.add(r.statusCode);
      statuses.add((await post(good.message.subarray(0, n + 1))).statusCode);
    }
    expect([...statuses].sort()).toEqual(expect.arrayContaining([200, 400]));
    expect([...statuses].filter((s) => s !== 200 && s !== 400)).toEqual([]);
    // A flip in a part no signature covers (the self-signed signer certificate's own signature) still
    // carries a valid request: the single-use challenge lets at most one of them through.
    expect(redeemer.issued.length).toBeLessThanOrEqual(1);
  });

  it('reads the raw query string: + stays +, %3D decodes', () => {
    expect(rawQuery('/mdm/scep?operation=PKIOperation&message=ab+c%3D')).toEqual(
      new Map([
        ['operation', 'PKIOperation'],
        ['message', 'ab+c='],
      ]),
    );
  });
});
