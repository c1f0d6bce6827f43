/**
 * Check-ins over HTTP on loopback (issue 6 performance; DESIGN.md "Budgets": ≥ 1,500 signed
 * TokenUpdates a second). The real server (`pippin serve`, compiled, SQLite, PIPPIN_ALLOW_TEST_TOPIC)
 * runs as its own process; N simulated devices enrol through the real path — requests made with the
 * API, the portal's passcode form, the signed profile, SCEP PKIOperation over HTTP (the test
 * client's codec, as a device would send it), a signed Authenticate and a first TokenUpdate (the
 * request Completed). Then M TokenUpdates per device, pre-signed by the bench client (detached CMS
 * with each device's own identity, as its Mdm-Signature), are fired at `PUT /mdm/checkin` by
 * autocannon for a few seconds. Beside it, in the same run, the floor: a bare Fastify process
 * answering the same PUTs (same bodies and headers) with an empty 200, so the figure reads against
 * raw HTTP throughput on this machine. Also reported: profiles served (built + signed) and SCEP
 * enrolments a second over HTTP.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import type { Identity } from '../src/apple/ca.js';
import { parseSignedData, signedData } from '../src/apple/cms.js';
import { parsePlist, toPlist, type PlistDict } from '../src/apple/plist.js';
import { buildScepRequest, csrFor, readCertRep, selfSigned } from '../test/support/scep-client.js';
import { freePort, startServer } from './server.js';

const DEVICES = Number(process.env.BENCH_CHECKIN_DEVICES ?? 200);
const PER_DEVICE = Number(process.env.BENCH_CHECKIN_MESSAGES ?? 5);
const SECONDS = Number(process.env.BENCH_CHECKIN_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CHECKIN_CONNECTIONS ?? 32);
/** How many devices walk the portal and SCEP at once. */
const PARALLEL = Number(process.env.BENCH_CHECKIN_PARALLEL ?? 4);
const CHECKIN_TYPE = 'application/x-apple-aspen-mdm-checkin';

type Message = { body: Buffer; signature: string };

/** Runs `fn` over `items`, `n` at a time; resolves to the results in order. */
async function pool<T, R>(items: T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
/** CPU seconds a process (all its threads) has used so far, from /proc (Linux). */
const cpuSeconds = (pid: number) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ ticks
};
const sign = (message: PlistDict, identity: Identity): Message => {
  const body = toPlist(message);
  return { body, signature: signedData({ content: body, signer: identity, detached: true }).toString('base64') };
};

/** A bare Fastify process answering every PUT with an empty 200 after reading the body, as the check-in route reads it. */
async function startFloor(): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const script = `
    import Fastify from 'fastify';
    const app = Fastify({ logger: false });
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_req, body, done) => done(null, body));
    app.put('/mdm/checkin', async (_request, reply) => reply.status(200).send());
    await app.listen({ port: ${port}, host: '127.0.0.1' });
    console.log('floor ready');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`floor server exited with ${code}`)));
    child.stdout!.on('data', (b: Buffer) => b.toString().includes('floor ready') && resolve());
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Fires the messages (cycling) at PUT /mdm/checkin for SECONDS. */
async function fire(url: string, pid: number, messages: Message[], seconds = SECONDS) {
  let i = 0;
  const cpu0 = cpuSeconds(pid);
  const result = await autocannon({
    url: `${url}/mdm/checkin`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        setupRequest: (req: any) => {
          const m = messages[i++ % messages.length]!;
          return { ...req, method: 'PUT', path: '/mdm/checkin', body: m.body, headers: { 'content-type': CHECKIN_TYPE, 'mdm-signature': m.signature } };
        },
      },
    ],
  });
  const cpu = cpuSeconds(pid) - cpu0;
  return {
    perSecond: Math.round(result.requests.total / (result.duration || seconds)),
    /** The server's CPU time per request (all threads), in ms: what a request costs apart from waiting. */
    serverCpuMsPerRequest: Number(((cpu * 1000) / Math.max(1, result.requests.total)).toFixed(3)),
    serverCpuShare: Number((cpu / (result.duration || seconds)).toFixed(2)),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

export async function benchCheckins(): Promise<object> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pippin-bench-checkins-'));
  const server = await startServer(dir, { PIPPIN_ALLOW_TEST_TOPIC: 'true' });
  const { url } = server;
  const api = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${url}${p}`, { method, headers: { authorization: `Bearer ${server.token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<any>;
  };
  const form = (fields: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  const put = (p: string, m: Message) => fetch(`${url}${p}`, { method: 'PUT', headers: { 'content-type': CHECKIN_TYPE, 'mdm-signature': m.signature }, body: new Uint8Array(m.body) });
  try {
    const caCertDer = Buffer.from(await (await fetch(`${url}/mdm/scep?operation=GetCACert`)).arrayBuffer());

    // Device keys (RSA 2048, as the profile's SCEP payload asks), made on the thread pool.
    let t = performance.now();
    const keys = await pool(Array.from({ length: DEVICES }), 8, () => selfSigned());
    console.log(`${DEVICES} device keys in ${Math.round(performance.now() - t)} ms`);

    // Requests through the API, and the portal's passcode step (each device gets its download ticket).
    t = performance.now();
    const devices = await pool(keys, PARALLEL, async (key, i) => {
      const user = await api('POST', '/api/v1/users', { username: `bench${i}`, email: `bench${i}@corp.example` });
      const request = await api('POST', '/api/v1/enrollment-requests', { userId: user.id, platform: i % 2 ? 'macos' : 'ios', ownership: 'corporate_owned', notify: 'none' });
      const link = new URL(request.url).pathname;
      const page = await fetch(`${url}${link}`, form({ passcode: request.passcode }));
      const ticket = (await page.text()).match(/name="ticket" value="([^"]+)"/)?.[1];
      if (page.status !== 200 || !ticket) throw new Error(`portal sign-in: ${page.status}`);
      return { key, requestId: request.id as string, link, ticket, udid: `BENCH-${String(i).padStart(6, '0')}-${i % 2 ? 'MAC' : 'IPHONE'}` };
    });
    console.log(`${DEVICES} requests made and signed in on the portal in ${Math.round(performance.now() - t)} ms`);

    // Profiles: the portal builds, serialises and signs one per device (a fresh SCEP challenge each).
    t = performance.now();
    const profiles = await pool(devices, PARALLEL, async (d) => {
      const res = await fetch(`${url}${d.link}/profile`, form({ ticket: d.ticket }));
      if (res.status !== 200) throw new Error(`profile: ${res.status}`);
      return Buffer.from(await res.arrayBuffer());
    });
    const profilesPerSecond = rate(DEVICES, performance.now() - t);
    console.log(`profiles served (built + signed) over HTTP: ${profilesPerSecond}/s (${DEVICES}, ${PARALLEL} at a time)`);
    const profileFacts = profiles.map((der) => {
      const content = parsePlist(parseSignedData(der).content!) as any;
      const scep = content.PayloadContent.find((p: any) => p.PayloadType === 'com.apple.security.scep').PayloadContent;
      const mdm = content.PayloadContent.find((p: any) => p.PayloadType === 'com.apple.mdm');
      return { challenge: scep.Challenge as string, topic: mdm.Topic as string };
    });

    // SCEP: PKCSReqs built beforehand (the device's side), then PKIOperation POSTs over HTTP, timed.
    const scepMessages = await pool(devices, 8, async (d, i) => buildScepRequest({ caCertDer, csrDer: await csrFor(d.key.keys, profileFacts[i]!.challenge), signer: d.key }).message);
    t = performance.now();
    const replies = await pool(scepMessages, PARALLEL, async (message) => {
      const res = await fetch(`${url}/mdm/scep?operation=PKIOperation`, { method: 'POST', headers: { 'content-type': 'application/x-pki-message' }, body: new Uint8Array(message) });
      if (res.status !== 200) throw new Error(`SCEP: ${res.status}`);
      return Buffer.from(await res.arrayBuffer());
    });
    const scepPerSecond = rate(DEVICES, performance.now() - t);
    const identities: Identity[] = replies.map((reply, i) => {
      const rep = readCertRep(reply, { caCertDer, key: devices[i]!.key.key });
      if (rep.status !== 'SUCCESS') throw new Error(`SCEP ${rep.status} ${rep.failInfo ?? ''}`);
      return { cert: new X509Certificate(rep.certificate!), certDer: rep.certificate!, key: devices[i]!.key.key, chain: [] };
    });
    console.log(`SCEP enrolments over HTTP: ${scepPerSecond}/s (${DEVICES} issued, ${PARALLEL} at a time)`);

    // Authenticate, then the first TokenUpdate (the request Completed), each device with its own identity.
    await pool(devices, PARALLEL, async (d, i) => {
      const topic = profileFacts[i]!.topic;
      const auth = await put('/mdm/checkin', sign({ MessageType: 'Authenticate', Topic: topic, UDID: d.udid, OSVersion: '18.1', ProductName: i % 2 ? 'Mac14,2' : 'iPhone16,2', SerialNumber: `SIM${i}` }, identities[i]!));
      const first = await put('/mdm/checkin', sign({ MessageType: 'TokenUpdate', Topic: topic, UDID: d.udid, Token: Buffer.alloc(32, i % 256), PushMagic: `magic-${i}`, AwaitingConfiguration: false }, identities[i]!));
      if (auth.status !== 200 || first.status !== 200) throw new Error(`check-in: Authenticate ${auth.status}, TokenUpdate ${first.status}`);
    });
    const completed = (await api('GET', `/api/v1/enrollment-requests/${devices[DEVICES - 1]!.requestId}`)).status;
    if (completed !== 'completed') throw new Error(`the last request is ${completed}, not completed`);

    // The TokenUpdates to fire: M per device, each a new push token, signed by the device beforehand.
    t = performance.now();
    const messages: Message[] = [];
    for (let m = 0; m < PER_DEVICE; m++) {
      devices.forEach((d, i) => {
        const token = Buffer.alloc(32);
        token.writeUInt32BE(i, 0);
        token.writeUInt32BE(m + 1, 4);
        messages.push(sign({ MessageType: 'TokenUpdate', Topic: profileFacts[i]!.topic, UDID: d.udid, Token: token, PushMagic: `magic-${i}-${m}`, AwaitingConfiguration: false }, identities[i]!));
      });
    }
    console.log(`${messages.length} TokenUpdates pre-signed in ${Math.round(performance.now() - t)} ms (${messages[0]!.body.length} bytes, Mdm-Signature ${messages[0]!.signature.length} characters)`);

    await fire(url, server.pid, messages, 2); // warm-up
    const checkins = await fire(url, server.pid, messages);
    console.log(`signed TokenUpdate check-ins: ${checkins.perSecond}/s, p50 ${checkins.p50Ms} ms, p99 ${checkins.p99Ms} ms (${checkins.requests} requests, ${CONNECTIONS} connections; non-2xx ${checkins.non2xx}, errors ${checkins.errors}); server CPU ${checkins.serverCpuMsPerRequest} ms a check-in, ${checkins.serverCpuShare} cores busy`);

    const floorServer = await startFloor();
    let floor: Awaited<ReturnType<typeof fire>>;
    try {
      await fire(floorServer.url, floorServer.pid, messages, 2);
      floor = await fire(floorServer.url, floorServer.pid, messages);
    } finally {
      await floorServer.stop();
    }
    console.log(`floor (bare Fastify, empty 200 for the same PUTs): ${floor.perSecond}/s, p50 ${floor.p50Ms} ms, p99 ${floor.p99Ms} ms (server CPU ${floor.serverCpuMsPerRequest} ms a request) — check-ins at ${((checkins.perSecond / floor.perSecond) * 100).toFixed(0)}% of it`);
    if (checkins.non2xx || checkins.errors || checkins.timeouts) throw new Error(`check-ins answered other than 200: non-2xx ${checkins.non2xx}, errors ${checkins.errors}, timeouts ${checkins.timeouts}`);

    return {
      devices: DEVICES,
      messagesPerDevice: PER_DEVICE,
      seconds: SECONDS,
      connections: CONNECTIONS,
      checkinsPerSecond: checkins.perSecond,
      checkinP50Ms: checkins.p50Ms,
      checkinP99Ms: checkins.p99Ms,
      checkinRequests: checkins.requests,
      checkinNon2xx: checkins.non2xx,
      checkinErrors: checkins.errors,
      serverCpuMsPerCheckin: checkins.serverCpuMsPerRequest,
      serverCoresBusy: checkins.serverCpuShare,
      floorPerSecond: floor.perSecond,
      floorP50Ms: floor.p50Ms,
      floorP99Ms: floor.p99Ms,
      floorCpuMsPerRequest: floor.serverCpuMsPerRequest,
      ratioToFloor: Number((checkins.perSecond / floor.perSecond).toFixed(2)),
      profilesPerSecondHttp: profilesPerSecond,
      scepEnrolmentsPerSecondHttp: scepPerSecond,
      budgetCheckinsPerSecond: 1500,
    };
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
