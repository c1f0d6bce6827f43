/**
 * BAD-INPUTS rows 48, 50, 51, 54, 56 and 57 against a whole Pippin over `app.inject` (with the
 * peer address set per request): dead enrollment links (guessed, expired, used, deleted) answered
 * with one generic page, each a counted failure for the address and audited where a request is
 * known; 50 enrolments behind one NAT address in a minute; a flood of bad tokens stopped with 429 +
 * Retry-After while other addresses enrol; expired identity certificates and certificates bound to
 * another enrolment refused; a proxy's client-certificate header honoured only from the proxy; a
 * `__proto__` key in a check-in plist polluting nothing. Each negative checks that nothing changed.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateCa, newSerial, parseCertificateRequest, pemOf, type Ca, type Identity } from '../../src/apple/ca.js';
import { signedData } from '../../src/apple/cms.js';
import { toPlist } from '../../src/apple/plist.js';
import { systemClock, systemRandom } from '../../src/core/clock.js';
import { challengeHash, newChallenge } from '../../src/enrollments/challenges.js';
import { redeemChallenge } from '../../src/enrollments/challenges.js';
import { PORTAL_FAILURES_PER_MINUTE } from '../../src/enrollments/portal-routes.js';
import { createTestPippin, type TestPippin } from '../support/app.js';
import { csrFor, selfSigned } from '../support/scep-client.js';

const PROXY = '10.9.8.7';
const CERT_HEADER = 'x-client-cert';
const TOPIC = 'com.apple.mgmt.External.bad-inputs';

describe('bad inputs at the portal and the check-in endpoints (BAD-INPUTS 48–57)', () => {
  let t: TestPippin;
  let n = 0;
  beforeAll(async () => {
    t = await createTestPippin(
      'sqlite',
      { PIPPIN_PUBLIC_URL: 'http://127.0.0.1:8080', PIPPIN_ALLOW_TEST_TOPIC: 'true', PIPPIN_CLIENT_CERT_HEADER: CERT_HEADER, PIPPIN_TRUSTED_PROXIES: PROXY },
      { runJobs: false },
    );
  });
  afterAll(() => t?.close());

  // ── helpers ─────────────────────────────────────────────────────────────────────────────────
  const raw = <T>(fn: (tx: TestPippin['db']['kysely']) => Promise<T>) => t.db.system('operator command', fn as never) as Promise<T>;
  const requestRow = (id: string) => raw((tx) => tx.selectFrom('enrollment_requests').selectAll().where('id', '=', id).executeTakeFirstOrThrow());
  const devicesOf = (requestId: string) => raw((tx) => tx.selectFrom('devices').selectAll().where('request_id', '=', requestId).execute());
  const challengesOf = (requestId: string) => raw((tx) => tx.selectFrom('scep_challenges').selectAll().where('request_id', '=', requestId).execute());
  const auditFor = async (objectId: string) => (await t.call(t.owner, 'GET', `/api/v1/audit?objectId=${objectId}&limit=200`)).json().items as Array<{ action: string; ip: string | null; after: Record<string, unknown> | null }>;

  /** A user with a Pending corporate request; its link token and passcode from the create response. */
  async function invite(body: Record<string, unknown> = {}) {
    const u = `bad${++n}`;
    const user = (await t.call(t.owner, 'POST', '/api/v1/users', { username: u, email: `${u}@corp.example` })).json();
    const res = await t.call(t.owner, 'POST', '/api/v1/enrollment-requests', { userId: user.id, platform: 'ios', ownership: 'corporate_owned', notify: 'none', ...body });
    expect(res.statusCode).toBe(201);
    const request = res.json();
    return { user, request, token: new URL(request.url).pathname.split('/').pop()!, passcode: request.passcode as string };
  }

  const form = (fields: Record<string, string>) => ({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() });
  const portal = {
    open: (ip: string, token: string, headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url: `/enroll/${token}`, remoteAddress: ip, headers }),
    signIn: (ip: string, token: string, passcode: string) => t.app.inject({ method: 'POST', url: `/enroll/${token}`, remoteAddress: ip, ...form({ passcode }) }),
    profile: (ip: string, token: string, ticket: string) => t.app.inject({ method: 'POST', url: `/enroll/${token}/profile`, remoteAddress: ip, ...form({ ticket }) }),
  };
  /** The whole portal leg from one address: the page, the passcode, the profile. */
  async function enrolThroughPortal(ip: string, token: string, passcode: string) {
    const page = await portal.open(ip, token);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('name="passcode"');
    const notice = await portal.signIn(ip, token, passcode);
    expect(notice.statusCode).toBe(200);
    expect(notice.body).toContain('Before you install');
    const ticket = notice.body.match(/name="ticket" value="([^"]+)"/)![1]!;
    const profile = await portal.profile(ip, token, ticket);
    expect(profile.statusCode).toBe(200);
    expect(profile.headers['content-type']).toBe('application/x-apple-aspen-config');
    return profile.rawPayload;
  }
  const guess = () => randomBytes(32).toString('base64url');

  /**
   * A device identity for the request, as SCEP would give it: the request's single-use challenge
   * redeemed, a certificate from `ca` (Pippin's own unless given) for a fresh key, its hash recorded
   * against the challenge — the binding check-ins resolve.
   */
  async function identityFor(request: { id: string; expiresAt: string }, ca?: Ca): Promise<Identity & { sha256: string }> {
    const challenge = await t.services.uow.inAccount(t.accountId, (s) => newChallenge(s, { secretKey: t.secretKey, random: systemRandom, clock: systemClock }, request));
    expect(await redeemChallenge(t.services.uow, { secretKey: t.secretKey, clock: systemClock }, challenge)).toMatchObject({ ok: true, requestId: request.id });
    const { keys, key } = await selfSigned();
    const csr = await parseCertificateRequest(await csrFor(keys, undefined, `CN=Pippin device ${request.id}`));
    const issued = await (ca ?? (await t.services.pki.ca())).issueCertificate(csr, { validityDays: 365, serial: newSerial() });
    await t.services.uow.system('SCEP challenge', (s) => s.challengeClaims.issued(challengeHash(t.secretKey, challenge), issued.sha256, issued.serial));
    return { cert: issued.cert, certDer: issued.der, key, chain: [], sha256: issued.sha256 };
  }

  /** A check-in plist (or raw bytes) with its Mdm-Signature by `signer`, PUT from `ip`. */
  function checkin(message: Record<string, unknown> | Buffer, opts: { signer?: Identity; ip?: string; headers?: Record<string, string>; url?: string } = {}) {
    const body = Buffer.isBuffer(message) ? message : toPlist(message as never);
    const headers: Record<string, string> = { 'content-type': 'application/x-apple-aspen-mdm-checkin', ...(opts.headers ?? {}) };
    if (opts.signer) headers['mdm-signature'] = signedData({ content: body, signer: opts.signer, detached: true }).toString('base64');
    return t.app.inject({ method: 'PUT', url: opts.url ?? '/mdm/checkin', remoteAddress: opts.ip ?? '192.0.2.10', headers, payload: body });
  }
  const authenticate = (udid: string) => ({ MessageType: 'Authenticate', Topic: TOPIC, UDID: udid, OSVersion: '18.1', ProductName: 'iPhone16,2', SerialNumber: 'BADINPUT1' });
  const tokenUpdate = (udid: string, token = 'apns-token') => ({ MessageType: 'TokenUpdate', Topic: TOPIC, UDID: udid, Token: Buffer.from(token), PushMagic: 'magic' });

  // ── 48 ──────────────────────────────────────────────────────────────────────────────────────
  it('48: a guessed, expired, used or deleted link gets one generic 404 page; each try is a counted failure for the address; known requests are audited and unchanged', async () => {
    const ip = '198.51.100.48';
    // Expired: its expiry passed, not yet swept (still Pending in the table) — and one swept to Expired.
    const expired = await invite();
    await raw((tx) => tx.updateTable('enrollment_requests').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where('id', '=', expired.request.id).execute());
    const swept = await invite();
    await raw((tx) => tx.updateTable('enrollment_requests').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where('id', '=', swept.request.id).execute());
    await t.services.enrollments.sweepExpired();
    expect((await requestRow(swept.request.id)).status).toBe('expired');
    // Used: a device enrolled with it (Authenticate + TokenUpdate), so the request is Completed.
    const used = await invite();
    const usedId = await identityFor(used.request);
    expect((await checkin(authenticate('USED-48'), { signer: usedId })).statusCode).toBe(200);
    expect((await checkin(tokenUpdate('USED-48'), { signer: usedId })).statusCode).toBe(200);
    expect((await requestRow(used.request.id)).status).toBe('completed');
    // Deleted by an admin.
    const deleted = await invite();
    expect((await t.call(t.owner, 'DELETE', `/api/v1/enrollment-requests/${deleted.request.id}`)).statusCode).toBe(200);

    const known = { expired, swept, used, deleted };
    const before = new Map<string, unknown>();
    for (const k of Object.values(known)) before.set(k.request.id, { row: await requestRow(k.request.id), devices: await devicesOf(k.request.id), challenges: (await challengesOf(k.request.id)).length });

    const generic = await portal.open(ip, guess());
    expect(generic.statusCode).toBe(404);
    expect(generic.body).toContain('This link cannot be used');
    let failures = 1;
    // A malformed token, and a guessed one posted to: the same page.
    for (const res of [await portal.open(ip, 'short'), await portal.signIn(ip, guess(), 'ABCD2345'), await portal.profile(ip, guess(), `${Date.now() + 60_000}.forged`)]) {
      failures++;
      expect(res.statusCode).toBe(404);
      expect(res.body).toBe(generic.body);
    }
    for (const [name, k] of Object.entries(known)) {
      // Opening it, signing in with its right passcode, and a download with a forged ticket: the generic page every time.
      for (const res of [await portal.open(ip, k.token), await portal.signIn(ip, k.token, k.passcode), await portal.profile(ip, k.token, `${Date.now() + 60_000}.forged`)]) {
        failures++;
        expect(res.statusCode, name).toBe(404);
        expect(res.body, `${name}: the generic page, revealing nothing`).toBe(generic.body);
        expect(res.body).not.toContain(k.user.username);
        expect(res.headers['cache-control']).toBe('no-store');
      }
      // An audit event says the link of a known request was refused, and from where.
      const refused = (await auditFor(k.request.id)).filter((e) => e.action === 'portal.link_refused');
      expect(refused, `${name}: audited`).toHaveLength(3);
      expect(refused.every((e) => e.ip === ip)).toBe(true);
      // Nothing changed: no attempts counted on the request, no sign-in, no challenge, no device.
      expect({ row: await requestRow(k.request.id), devices: await devicesOf(k.request.id), challenges: (await challengesOf(k.request.id)).length }, name).toEqual(before.get(k.request.id));
      expect((await auditFor(k.request.id)).some((e) => e.action === 'portal.sign_in' || e.action === 'portal.profile_served')).toBe(false);
    }

    // Every one of those counted against the address: the limit is reached exactly at the threshold.
    expect(failures).toBeLessThan(PORTAL_FAILURES_PER_MINUTE);
    while (failures < PORTAL_FAILURES_PER_MINUTE) {
      expect((await portal.open(ip, guess())).statusCode).toBe(404);
      failures++;
    }
    const stopped = await portal.open(ip, guess());
    expect(stopped.statusCode).toBe(429);
    expect(Number(stopped.headers['retry-after'])).toBeGreaterThan(0);
  });

  // ── 50 ──────────────────────────────────────────────────────────────────────────────────────
  it('50: fifty devices behind one NAT address enrol through the portal within a minute — successes are not limited', async () => {
    const nat = '203.0.113.50';
    const invites = [];
    for (let i = 0; i < 50; i++) invites.push(await invite({ platform: i % 2 ? 'ios' : 'macos' }));
    const started = Date.now();
    for (const inv of invites) {
      const profile = await enrolThroughPortal(nat, inv.token, inv.passcode);
      expect(profile.length).toBeGreaterThan(1000);
    }
    expect(Date.now() - started).toBeLessThan(60_000);
    for (const inv of invites) {
      const events = (await auditFor(inv.request.id)).map((e) => e.action);
      expect(events).toEqual(expect.arrayContaining(['portal.sign_in', 'portal.profile_served']));
      expect((await challengesOf(inv.request.id)).length).toBe(1);
    }
    // 150 successful requests counted nothing: the address still has its whole failure allowance.
    for (let i = 0; i < PORTAL_FAILURES_PER_MINUTE; i++) expect((await portal.open(nat, guess())).statusCode).toBe(404);
    expect((await portal.open(nat, guess())).statusCode).toBe(429);
  });

  // ── 51 ──────────────────────────────────────────────────────────────────────────────────────
  it('51: a flood of invalid tokens from one address gets 429 with Retry-After past the threshold; a real link from another address still works', async () => {
    const flooder = '192.0.2.51';
    const inv = await invite();
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    const started = Date.now();
    for (let i = 0; i < 1000; i++) {
      const res = i % 3 === 0 ? await portal.open(flooder, guess()) : i % 3 === 1 ? await portal.signIn(flooder, guess(), 'ABCD2345') : await portal.profile(flooder, guess(), 'x.y');
      statuses.push(res.statusCode);
      if (res.statusCode === 429) {
        retryAfter = res.headers['retry-after'] as string;
        expect(res.body).toContain('Too many attempts');
      }
      // Halfway through the flood, an employee elsewhere enrols.
      if (i === 500) await enrolThroughPortal('198.51.100.151', inv.token, inv.passcode);
    }
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(statuses.slice(0, PORTAL_FAILURES_PER_MINUTE).every((s) => s === 404)).toBe(true);
    expect(statuses.slice(PORTAL_FAILURES_PER_MINUTE).every((s) => s === 429)).toBe(true);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    // The flooder is refused even with a real link (the limit is per address) — and that changes nothing on the request.
    const other = await invite();
    expect((await portal.signIn(flooder, other.token, other.passcode)).statusCode).toBe(429);
    expect((await requestRow(other.request.id)).failed_attempts).toBe(0);
    expect((await auditFor(other.request.id)).some((e) => e.action.startsWith('portal.'))).toBe(false);
    // The employee's request got its profile; the flood left it Pending with no attempts counted.
    expect((await requestRow(inv.request.id))).toMatchObject({ status: 'pending', failed_attempts: 0 });
    expect((await challengesOf(inv.request.id)).length).toBe(1);

    // Behind the trusted proxy, the client address (X-Forwarded-For) is what is limited, not the proxy's.
    for (let i = 0; i < PORTAL_FAILURES_PER_MINUTE; i++) expect((await portal.open(PROXY, guess(), { 'x-forwarded-for': '192.0.2.52' })).statusCode).toBe(404);
    expect((await portal.open(PROXY, guess(), { 'x-forwarded-for': '192.0.2.52' })).statusCode).toBe(429);
    expect((await portal.open(PROXY, other.token, { 'x-forwarded-for': '192.0.2.53' })).statusCode).toBe(200);
  });

  // ── 54 ──────────────────────────────────────────────────────────────────────────────────────
  it('54: an expired identity certificate, one bound to another enrolment, or one from a foreign CA → 400, nothing stored', async () => {
    // Expired: issued by Pippin's own CA (same key, same row) when the clock read 400 days ago, valid 30 days.
    const past = await loadOrCreateCa(t.db, t.secretKey, { clock: { now: () => new Date(Date.now() - 400 * 86_400_000) } });
    expect(past.fingerprint).toBe((await t.services.pki.ca()).fingerprint);
    const stale = await invite();
    const pastCa: Ca = { ...past, issueCertificate: (csr, o) => past.issueCertificate(csr, { ...o, validityDays: 30 }) };
    const staleId = await identityFor(stale.request, pastCa);
    expect(new Date(staleId.cert.validTo).getTime()).toBeLessThan(Date.now());
    expect((await checkin(authenticate('STALE-54'), { signer: staleId })).statusCode).toBe(400);
    // The same expired certificate passed on by the trusted proxy: refused too.
    const viaProxy = await checkin(authenticate('STALE-54'), { ip: PROXY, headers: { [CERT_HEADER]: encodeURIComponent(pemOf(staleId.certDer)) } });
    expect(viaProxy.statusCode).toBe(400);
    expect(viaProxy.body).toBe('');
    expect((await requestRow(stale.request.id)).status).toBe('pending');
    expect(await devicesOf(stale.request.id)).toHaveLength(0);

    // Bound to another enrolment: A's certificate is bound to A's device; it may not speak for B's.
    const a = await invite();
    const b = await invite();
    const aId = await identityFor(a.request);
    const bId = await identityFor(b.request);
    expect((await checkin(authenticate('DEVICE-A'), { signer: aId })).statusCode).toBe(200);
    expect((await checkin(tokenUpdate('DEVICE-A'), { signer: aId })).statusCode).toBe(200);
    expect((await checkin(authenticate('DEVICE-B'), { signer: bId })).statusCode).toBe(200);
    const snapshot = async () => ({ a: await requestRow(a.request.id), b: await requestRow(b.request.id), aDevices: await devicesOf(a.request.id), bDevices: await devicesOf(b.request.id) });
    const before = await snapshot();
    expect(before.b.status).toBe('pending');
    for (const message of [tokenUpdate('DEVICE-B', 'hijack'), authenticate('DEVICE-B'), { MessageType: 'CheckOut', Topic: TOPIC, UDID: 'DEVICE-B' }]) {
      const res = await checkin(message, { signer: aId });
      expect(res.statusCode, String(message.MessageType)).toBe(400);
      expect(res.body).toBe('');
    }
    expect(await snapshot()).toEqual(before);
    const spoofs = (await t.call(t.owner, 'GET', `/api/v1/audit?action=checkin.refused&limit=200`)).json().items.filter((e: any) => e.objectId === before.aDevices[0]!.id);
    expect(spoofs.length).toBe(3);

    // A foreign CA's certificate (same subject, never issued by Pippin) for the Pending request B.
    const foreign = await selfSigned(`CN=Pippin device ${b.request.id}`);
    expect((await checkin(tokenUpdate('DEVICE-B'), { signer: foreign })).statusCode).toBe(400);
    expect((await checkin(tokenUpdate('DEVICE-B'), { ip: PROXY, headers: { [CERT_HEADER]: pemOf(foreign.certDer).replace(/\n/g, ' ') } })).statusCode).toBe(400);
    expect(await snapshot()).toEqual(before);
    // B's own certificate still works afterwards.
    expect((await checkin(tokenUpdate('DEVICE-B'), { signer: bId })).statusCode).toBe(200);
    expect((await requestRow(b.request.id)).status).toBe('completed');
  });

  // ── 56 ──────────────────────────────────────────────────────────────────────────────────────
  it('56: the client-certificate header counts only from the trusted proxy; sent by anyone else it is ignored', async () => {
    const e = await invite();
    const id = await identityFor(e.request);
    const header = { [CERT_HEADER]: encodeURIComponent(pemOf(id.certDer)) };
    // Straight from a client, from an address that claims via X-Forwarded-For to be the proxy, and from an IPv6 peer.
    for (const [ip, extra] of [
      ['203.0.113.56', {}],
      ['203.0.113.56', { 'x-forwarded-for': PROXY }],
      ['10.9.8.8', {}],
      ['2001:db8::56', {}],
    ] as const) {
      for (const url of ['/mdm/checkin', '/mdm/connect']) {
        const res = await checkin(url === '/mdm/checkin' ? authenticate('PROXY-56') : { Status: 'Idle', UDID: 'PROXY-56' }, { ip, url, headers: { ...header, ...extra } });
        expect(res.statusCode, `${ip} ${url}`).toBe(400);
        expect(res.body).toBe('');
      }
    }
    expect((await requestRow(e.request.id)).status).toBe('pending');
    expect(await devicesOf(e.request.id)).toHaveLength(0);
    // From the proxy (also as an IPv4-mapped IPv6 address): honoured, and the enrolment proceeds.
    expect((await checkin(authenticate('PROXY-56'), { ip: PROXY, headers: header })).statusCode).toBe(200);
    expect((await checkin(tokenUpdate('PROXY-56'), { ip: `::ffff:${PROXY}`, headers: header })).statusCode).toBe(200);
    expect((await checkin({ Status: 'Idle', UDID: 'PROXY-56' }, { ip: PROXY, url: '/mdm/connect', headers: header })).statusCode).toBe(200);
    expect((await requestRow(e.request.id)).status).toBe('completed');
    const [device] = await devicesOf(e.request.id);
    expect(device).toMatchObject({ udid: 'PROXY-56', status: 'enrolled', cert_hash: id.sha256 });
  });

  // ── 57 ──────────────────────────────────────────────────────────────────────────────────────
  it('57: a check-in plist with __proto__ (and constructor) keys pollutes nothing; unknown keys are ignored and nothing is taken from them', async () => {
    const e = await invite();
    const id = await identityFor(e.request);
    const plist = (inner: string) =>
      Buffer.from(
        `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0"><dict>${inner}</dict></plist>`,
      );
    const proto = `<key>__proto__</key><dict><key>polluted</key><string>yes</string><key>UDID</key><string>FROM-PROTO</string><key>MessageType</key><string>TokenUpdate</string></dict>`;
    const ctor = `<key>constructor</key><dict><key>prototype</key><dict><key>polluted</key><true/></dict></dict>`;

    // No MessageType or UDID of its own: what __proto__ carries is not inherited → 400, nothing stored.
    const hollow = await checkin(plist(`${proto}${ctor}<key>Topic</key><string>${TOPIC}</string>`), { signer: id });
    expect(hollow.statusCode).toBe(400);
    expect(({} as any).polluted).toBeUndefined();
    expect((Object.prototype as any).UDID).toBeUndefined();
    expect(await devicesOf(e.request.id)).toHaveLength(0);
    const noUdid = await checkin(plist(`<key>MessageType</key><string>Authenticate</string>${proto}<key>Topic</key><string>${TOPIC}</string>`), { signer: id });
    expect(noUdid.statusCode).toBe(400);
    expect(await devicesOf(e.request.id)).toHaveLength(0);
    expect((await requestRow(e.request.id)).status).toBe('pending');

    // A real Authenticate carrying the keys besides: handled normally, the keys ignored.
    const ok = await checkin(plist(`<key>MessageType</key><string>Authenticate</string>${proto}${ctor}<key>UDID</key><string>PROTO-57</string><key>Topic</key><string>${TOPIC}</string><key>OSVersion</key><string>18.1</string>`), { signer: id });
    expect(ok.statusCode).toBe(200);
    expect(({} as any).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
    expect(typeof ({} as any).constructor.prototype.polluted).toBe('undefined');
    const [device] = await devicesOf(e.request.id);
    expect(device).toMatchObject({ udid: 'PROTO-57', os_version: '18.1', status: 'authenticated' });
    expect(device!.authenticate_plist).toContain('__proto__');
    // The device carries on: TokenUpdate completes the request.
    expect((await checkin(tokenUpdate('PROTO-57'), { signer: id })).statusCode).toBe(200);
    expect((await requestRow(e.request.id)).status).toBe('completed');
    expect(({} as any).polluted).toBeUndefined();
  });
});
