/**
 * The Apple protocol's crypto core, in process on SQLite (issue 6 performance): enrolment profiles
 * built and signed per second; SCEP PKIOperation enrolments per second (pre-built PKCSReqs, each
 * with its own single-use challenge, through the server's codec: verify, decrypt, check the request,
 * redeem, issue, envelope, sign); `Mdm-Signature` verifications per second (a device's detached
 * signature over a TokenUpdate body, certificate cached as in production). Sequential, one core.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createPki } from '../src/apple/ca.js';
import { signedData, verifyDetached } from '../src/apple/cms.js';
import { ACCESS_RIGHTS_ALL, buildEnrollmentProfile, signProfile } from '../src/apple/profiles.js';
import { createScepServer } from '../src/apple/scep.js';
import { openDatabase } from '../src/db/open.js';
import { loadConfig } from '../src/config.js';
import { MemoryRedeemer, buildScepRequest, csrFor, readCertRep, selfSigned } from '../test/support/scep-client.js';

const PROFILES = Number(process.env.BENCH_APPLE_PROFILES ?? 2000);
const ENROLMENTS = Number(process.env.BENCH_APPLE_ENROLMENTS ?? 200);
const VERIFIES = Number(process.env.BENCH_APPLE_VERIFIES ?? 20000);

function rate(n: number, ms: number): number {
  return Math.round((n / ms) * 1000);
}

export async function benchApple(): Promise<object> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pippin-bench-apple-'));
  const db = await openDatabase(loadConfig({ PIPPIN_DATA_DIR: dir }));
  try {
    const pki = createPki({ db, secretKey: Buffer.alloc(32, 1) });
    let t = performance.now();
    const ca = await pki.ca();
    const signer = await pki.profileSigner();
    const caCreateMs = Math.round(performance.now() - t);

    // Profiles: build, serialise, sign.
    t = performance.now();
    let bytes = 0;
    for (let i = 0; i < PROFILES; i++) {
      const profile = buildEnrollmentProfile({
        serverUrl: 'https://mdm.example.com',
        topic: 'com.apple.mgmt.External.5d5f6b1e-0000-4000-8000-000000000001',
        scep: { url: 'https://mdm.example.com/mdm/scep', challenge: `challenge-${i}`, subject: [['O', 'Example'], ['CN', `Pippin request ${i}`]] },
        accessRights: ACCESS_RIGHTS_ALL,
        organisation: 'Example',
        identifier: 'com.example.pippin.enroll',
      });
      bytes += signProfile(profile, signer).length;
    }
    const profilesPerSecond = rate(PROFILES, performance.now() - t);
    console.log(`profiles built + signed: ${profilesPerSecond}/s (${PROFILES}, ${Math.round(bytes / PROFILES)} bytes each)`);

    // SCEP: pre-built requests (device keys made beforehand), then the server's PKIOperation only.
    const redeemer = new MemoryRedeemer();
    const scep = createScepServer({ ca: pki.ca, redeemer });
    const requests: Array<{ device: Awaited<ReturnType<typeof selfSigned>>; message: Buffer }> = [];
    for (let i = 0; i < ENROLMENTS; i++) {
      const device = await selfSigned();
      redeemer.add(`c-${i}`, `request-${i}`, { ttlMs: 3_600_000 });
      requests.push({ device, message: buildScepRequest({ caCertDer: ca.identity.certDer, csrDer: await csrFor(device.keys, `c-${i}`), signer: device }).message });
    }
    const times: number[] = [];
    t = performance.now();
    const replies: Buffer[] = [];
    for (const r of requests) {
      const s = performance.now();
      replies.push((await scep.pkiOperation(r.message)).reply);
      times.push(performance.now() - s);
    }
    const enrolmentsPerSecond = rate(ENROLMENTS, performance.now() - t);
    times.sort((a, b) => a - b);
    const scepMedianMs = Number(times[Math.floor(times.length / 2)]!.toFixed(2));
    const ok = replies.filter((rep, i) => readCertRep(rep, { caCertDer: ca.identity.certDer, key: requests[i]!.device.key }).status === 'SUCCESS').length;
    if (ok !== ENROLMENTS) throw new Error(`only ${ok} of ${ENROLMENTS} enrolments succeeded`);
    console.log(`SCEP PKIOperation enrolments: ${enrolmentsPerSecond}/s (median ${scepMedianMs} ms, ${ENROLMENTS} issued)`);

    // Mdm-Signature: a device identity from the CA signs a TokenUpdate body (detached); verify it again and again.
    const device = requests[0]!.device;
    const certDer = readCertRep(replies[0]!, { caCertDer: ca.identity.certDer, key: device.key }).certificate!;
    const identity = { cert: new X509Certificate(certDer), certDer, key: device.key, chain: [] };
    const body = Buffer.from(
      '<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>MessageType</key><string>TokenUpdate</string><key>Topic</key><string>com.apple.mgmt.External.x</string><key>UDID</key><string>0000</string><key>Token</key><data>AAECAwQ=</data></dict></plist>',
    );
    const header = signedData({ content: body, signer: identity, detached: true }).toString('base64');
    t = performance.now();
    for (let i = 0; i < VERIFIES; i++) if (!verifyDetached(body, header, { trust: ca }).ok) throw new Error('verification failed');
    const verifiesPerSecond = rate(VERIFIES, performance.now() - t);
    console.log(`Mdm-Signature verifications: ${verifiesPerSecond}/s (${VERIFIES})`);
    console.log(`(CA and profile-signing identity created in ${caCreateMs} ms)`);
    return { profilesPerSecond, enrolmentsPerSecond, scepMedianMs, verifiesPerSecond, caCreateMs, profileBytes: Math.round(bytes / PROFILES) };
  } finally {
    await db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

