/**
 * The check-in state machine on both engines, below the wire (signature and plist are the HTTP
 * layer's): SCEP challenges single-use and bound to their request, Authenticate binding the
 * identity certificate to a new device, TokenUpdate completing the request, CheckOut, spoofed
 * identifiers refused — and the devices API, and users with devices kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { challengeHash, newChallenge, redeemChallenge } from '../../src/enrollments/challenges.js';
import { systemClock, systemRandom } from '../../src/core/clock.js';
import { createTestPippin, type TestPippin } from '../support/app.js';
import { ENGINES } from '../support/db.js';

describe.each(ENGINES)('check-ins and devices on %s', (engine) => {
  let t: TestPippin;
  let n = 0;
  beforeAll(async () => {
    t = await createTestPippin(engine, {}, { runJobs: false });
  });
  afterAll(() => t?.close());

  /** A user with a Pending request, and a challenge for it already redeemed and a certificate "issued". */
  async function enrolling(body: Record<string, unknown> = {}) {
    const u = `dev${++n}`;
    const user = (await t.call(t.owner, 'POST', '/api/v1/users', { username: u, email: `${u}@corp.example`, managedAppleId: `${u}@appleid.example.com` })).json();
    const request = (await t.call(t.owner, 'POST', '/api/v1/enrollment-requests', { userId: user.id, platform: 'ios', ownership: 'corporate_owned', notify: 'none', ...body })).json();
    const challenge = await t.services.uow.inAccount(t.accountId, (s) => newChallenge(s, { secretKey: t.secretKey, random: systemRandom, clock: systemClock }, request));
    const redeemed = await redeemChallenge(t.services.uow, { secretKey: t.secretKey, clock: systemClock }, challenge);
    expect(redeemed).toMatchObject({ ok: true, requestId: request.id, accountId: t.accountId });
    const certHash = `cert-${u}`;
    await t.services.uow.system('SCEP challenge', (s) => s.challengeClaims.issued(challengeHash(t.secretKey, challenge), certHash, `serial-${u}`));
    return { user, request, challenge, certHash, udid: `UDID-${u}` };
  }
  const getRequest = async (id: string) => (await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${id}`)).json();
  const audit = async (action: string) => (await t.call(t.owner, 'GET', `/api/v1/audit?action=${action}&limit=200`)).json().items as any[];

  it('redeems a challenge once; a reused, expired, unknown or closed-request challenge is refused', async () => {
    const e = await enrolling();
    const deps = { secretKey: t.secretKey, clock: systemClock };
    expect(await redeemChallenge(t.services.uow, deps, e.challenge)).toEqual({ ok: false, reason: 'used' });
    expect(await redeemChallenge(t.services.uow, deps, 'not-a-challenge')).toEqual({ ok: false, reason: 'unknown' });
    const req2 = (await t.call(t.owner, 'POST', '/api/v1/enrollment-requests', { userId: e.user.id, platform: 'macos', ownership: 'corporate_owned', notify: 'none' })).json();
    const expired = await t.services.uow.inAccount(t.accountId, (s) => newChallenge(s, { secretKey: t.secretKey, random: systemRandom, clock: systemClock }, { id: req2.id, expiresAt: new Date(Date.now() - 1000).toISOString() }));
    expect(await redeemChallenge(t.services.uow, deps, expired)).toEqual({ ok: false, reason: 'expired' });
    const closed = await t.services.uow.inAccount(t.accountId, (s) => newChallenge(s, { secretKey: t.secretKey, random: systemRandom, clock: systemClock }, req2));
    await t.call(t.owner, 'DELETE', `/api/v1/enrollment-requests/${req2.id}`);
    expect(await redeemChallenge(t.services.uow, deps, closed)).toEqual({ ok: false, reason: 'request_closed' });
  });

  it('Authenticate binds the certificate to a new device; the first TokenUpdate enrols it and completes the request; CheckOut checks it out', async () => {
    const e = await enrolling();
    const auth = await t.services.checkins.checkin(e.certHash, { messageType: 'Authenticate', udid: e.udid, osVersion: '18.1', productName: 'iPhone16,2', serialNumber: 'F2LXYZ', topic: 'com.apple.mgmt.External.test' }, '<plist/>');
    expect(auth).toEqual({ status: 200 });
    expect((await t.call(t.owner, 'GET', `/api/v1/devices?userId=${e.user.id}`)).json().items).toHaveLength(0);
    expect((await getRequest(e.request.id)).status).toBe('pending');
    const token = await t.services.checkins.checkin(e.certHash, { messageType: 'TokenUpdate', udid: e.udid, token: Buffer.from('apns-token').toString('base64'), pushMagic: 'magic-1', topic: 'com.apple.mgmt.External.test' }, '<plist/>');
    expect(token).toEqual({ status: 200 });
    const [device] = (await t.call(t.owner, 'GET', `/api/v1/devices?userId=${e.user.id}`)).json().items;
    expect(device).toMatchObject({ userId: e.user.id, username: e.user.username, requestId: e.request.id, platform: 'ios', enrollmentType: 'device', enrollmentMethod: 'profile', udid: e.udid, enrollmentId: null, serialNumber: 'F2LXYZ', osVersion: '18.1', productName: 'iPhone16,2', status: 'enrolled' });
    expect(await getRequest(e.request.id)).toMatchObject({ status: 'completed', deviceId: device.id });
    expect((await t.call(t.owner, 'GET', `/api/v1/devices/${device.id}`)).json().id).toBe(device.id);
    expect((await audit('request.complete')).some((a) => a.objectId === e.request.id)).toBe(true);
    expect((await audit('checkin.authenticate')).some((a) => a.objectId === device.id)).toBe(true);
    // A second TokenUpdate (a new push token) changes no status.
    expect(await t.services.checkins.checkin(e.certHash, { messageType: 'TokenUpdate', udid: e.udid, token: 'b3RoZXI=' }, '<plist/>')).toEqual({ status: 200 });
    expect(await t.services.checkins.connect(e.certHash, 'Idle')).toEqual({ status: 200 });
    expect((await t.call(t.owner, 'GET', `/api/v1/users/${e.user.id}`)).json().devices).toBe(1);
    // A user with an enrolled device cannot be deleted.
    const del = await t.call(t.owner, 'DELETE', `/api/v1/users/${e.user.id}`);
    expect(del.statusCode).toBe(409);
    expect(del.json().error.code).toBe('USER_HAS_DEVICES');
    expect(await t.services.checkins.checkin(e.certHash, { messageType: 'CheckOut', udid: e.udid }, '<plist/>')).toEqual({ status: 200 });
    expect((await t.call(t.owner, 'GET', `/api/v1/devices/${device.id}`)).json().status).toBe('checked_out');
    expect((await t.call(t.owner, 'GET', `/api/v1/users/${e.user.id}`)).json().devices).toBe(0);
    expect((await t.call(t.owner, 'DELETE', `/api/v1/users/${e.user.id}`)).statusCode).toBe(204);
  });

  it('refuses (400) and changes nothing: an unknown certificate, a spoofed UDID, a User Enrollment Authenticate with a UDID, a device enrolment without one', async () => {
    expect(await t.services.checkins.checkin('no-such-cert', { messageType: 'Authenticate', udid: 'X' }, '')).toMatchObject({ status: 400 });
    expect(await t.services.checkins.checkin('no-such-cert', { messageType: 'TokenUpdate', udid: 'X' }, '')).toMatchObject({ status: 400 });
    expect(await t.services.checkins.connect('no-such-cert', 'Idle')).toMatchObject({ status: 400 });
    const e = await enrolling();
    expect(await t.services.checkins.checkin(e.certHash, { messageType: 'Authenticate' }, '')).toMatchObject({ status: 400 });
    await t.services.checkins.checkin(e.certHash, { messageType: 'Authenticate', udid: e.udid }, '');
    const spoof = await t.services.checkins.checkin(e.certHash, { messageType: 'TokenUpdate', udid: 'SOMEONE-ELSE', token: 'dA==' }, '');
    expect(spoof).toMatchObject({ status: 400, reason: 'the UDID differs from the one bound to this certificate' });
    expect((await getRequest(e.request.id)).status).toBe('pending');
    expect((await audit('checkin.refused')).length).toBeGreaterThanOrEqual(1);
    const ue = await enrolling({ ownership: 'employee_owned', userEnrollment: true });
    expect(await t.services.checkins.checkin(ue.certHash, { messageType: 'Authenticate', udid: 'U', enrollmentId: 'E' }, '')).toMatchObject({ status: 400 });
    expect(await t.services.checkins.checkin(ue.certHash, { messageType: 'Authenticate', enrollmentId: 'ENR-1' }, '')).toEqual({ status: 200 });
    expect(await t.services.checkins.checkin(ue.certHash, { messageType: 'TokenUpdate', enrollmentId: 'ENR-1', token: 'dA==' }, '')).toEqual({ status: 200 });
    const [device] = (await t.call(t.owner, 'GET', `/api/v1/devices?userId=${ue.user.id}`)).json().items;
    expect(device).toMatchObject({ enrollmentType: 'user', enrollmentId: 'ENR-1', udid: null, serialNumber: null });
  });

  it('serves no profile without a push certificate (and without test topics): the portal says enrolment is not available yet', async () => {
    const u = `nopush${++n}`;
    const user = (await t.call(t.owner, 'POST', '/api/v1/users', { username: u, email: `${u}@corp.example` })).json();
    const r = (await t.call(t.owner, 'POST', '/api/v1/enrollment-requests', { userId: user.id, platform: 'ios', ownership: 'corporate_owned', notify: 'none' })).json();
    const link = new URL(r.url).pathname;
    const page = await t.app.inject({ method: 'POST', url: link, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `passcode=${r.passcode}` });
    expect(page.statusCode).toBe(503);
    expect(page.body).toContain('Enrollment is not available yet');
    const profile = await t.app.inject({ method: 'POST', url: `${link}/profile`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'ticket=1.x' });
    expect(profile.headers['content-type']).not.toContain('aspen-config');
    expect((await t.call(t.owner, 'GET', '/api/v1/apple/push-certificate')).json()).toMatchObject({ configured: false, testTopic: false });
  });

  it('keeps devices to their account (404) and lets every role read them', async () => {
    const e = await enrolling();
    await t.services.checkins.checkin(e.certHash, { messageType: 'Authenticate', udid: e.udid }, '');
    await t.services.checkins.checkin(e.certHash, { messageType: 'TokenUpdate', udid: e.udid, token: 'dA==' }, '');
    const [device] = (await t.call(t.owner, 'GET', `/api/v1/devices?userId=${e.user.id}`)).json().items;
    const other = await t.otherAccount();
    expect((await t.call(other.owner, 'GET', `/api/v1/devices/${device.id}`)).statusCode).toBe(404);
    expect((await t.call(other.owner, 'GET', '/api/v1/devices')).json().items).toHaveLength(0);
    const helpdesk = await t.adminWithRole('helpdesk');
    expect((await t.call(helpdesk, 'GET', `/api/v1/devices/${device.id}`)).statusCode).toBe(200);
  });
});
