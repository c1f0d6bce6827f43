/**
 * A simulated corporate iPhone and a Mac enrol end to end against a listening Pippin: request →
 * portal (passcode) → signed profile (openssl verifies it, python's plistlib reads it) → SCEP with
 * Debian's scepclient → Authenticate and TokenUpdate signed with the issued identity (openssl cms)
 * → the request Completed and the device listed. And what must change nothing: wrong passcodes,
 * a reused challenge, a missing or altered signature, a foreign certificate.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasScepClient, putCheckin, readProfile, scepEnrol, selfSignedIdentity, signedMessage } from '../support/device.js';
import { createServedTestPippin, type TestPippin } from '../support/app.js';
import { tempDir } from '../support/db.js';

if (!hasScepClient) console.warn('\n!!! scepclient is not installed (apt-get install scep): the end-to-end enrolment test is SKIPPED !!!\n');

describe.skipIf(!hasScepClient)('a device enrols end to end', () => {
  let t: TestPippin;
  let base: string;
  let n = 0;
  beforeAll(async () => {
    ({ t, base } = await createServedTestPippin());
  });
  afterAll(() => t?.close());

  const form = (fields: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

  /** An employee with a request; returns its link path and passcode. */
  async function invite(platform: 'ios' | 'macos', userEnrollment = false) {
    const u = `e2e${++n}`;
    const user = (await t.call(t.owner, 'POST', '/api/v1/users', { username: u, email: `${u}@corp.example`, managedAppleId: `${u}@appleid.example.com` })).json();
    const ownership = userEnrollment ? 'employee_owned' : 'corporate_owned';
    const r = (await t.call(t.owner, 'POST', '/api/v1/enrollment-requests', { userId: user.id, platform, ownership, userEnrollment, notify: 'none' })).json();
    return { user, request: r, link: new URL(r.url).pathname, passcode: r.passcode as string };
  }

  /** Signs in on the portal and downloads the profile; returns the DER and what it carries. */
  async function profileFor(link: string, passcode: string, dir: string) {
    const page = await fetch(`${base}${link}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('name="passcode"');
    const notice = await fetch(`${base}${link}`, form({ passcode: passcode.toLowerCase() }));
    expect(notice.status).toBe(200);
    const html = await notice.text();
    expect(html).toContain('Before you install');
    const ticket = html.match(/name="ticket" value="([^"]+)"/)![1]!;
    const res = await fetch(`${base}${link}/profile`, form({ ticket }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-apple-aspen-config');
    return readProfile(Buffer.from(await res.arrayBuffer()), (await t.services.pki.ca()).certPem, dir);
  }

  const scepclient = scepEnrol;
  const signed = signedMessage;
  const put = (url: string, m: { body: Buffer; signature?: string }) => putCheckin(base, url, m);

  for (const platform of ['ios', 'macos'] as const) {
    it(`${platform === 'ios' ? 'a corporate iPhone' : 'a Mac'}: portal, signed profile, SCEP with scepclient, signed Authenticate and TokenUpdate → Completed and listed`, async () => {
      const dir = tempDir('pippin-e2e-');
      const { user, request, link, passcode } = await invite(platform);
      const { profile, scep, mdm } = await profileFor(link, passcode, dir);
      expect(profile.PayloadType).toBe('Configuration');
      expect(scep).toMatchObject({ URL: `${base}/mdm/scep`, Keysize: 2048, 'Key Type': 'RSA', 'Key Usage': 5 });
      expect(mdm).toMatchObject({ ServerURL: `${base}/mdm/connect`, CheckInURL: `${base}/mdm/checkin`, SignMessage: true, CheckOutWhenRemoved: true, AccessRights: 8191 });
      expect(mdm.Topic).toMatch(/^com\.apple\.mgmt\.External\.[0-9a-f-]{36}$/);
      expect(mdm.ManagedAppleID).toBeUndefined();

      expect(await scepclient(dir, scep.URL, scep.Challenge)).toBe(true);
      // The challenge is single-use: a second device with it gets nothing.
      expect(await scepclient(tempDir('pippin-e2e-reuse-'), scep.URL, scep.Challenge)).toBe(false);

      const udid = `0000${n}-${platform.toUpperCase()}-SIMULATED`;
      const auth = await put('/mdm/checkin', signed(dir, { MessageType: 'Authenticate', Topic: mdm.Topic, UDID: udid, OSVersion: platform === 'ios' ? '18.1' : '15.1', ProductName: platform === 'ios' ? 'iPhone16,2' : 'Mac14,2', SerialNumber: 'SIM123' }));
      expect(auth.status).toBe(200);
      expect(await auth.text()).toBe('');
      const token = await put('/mdm/checkin', signed(dir, { MessageType: 'TokenUpdate', Topic: mdm.Topic, UDID: udid, Token: Buffer.from('apns-device-token'), PushMagic: 'magic' }));
      expect(token.status).toBe(200);
      const done = (await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${request.id}`)).json();
      expect(done.status).toBe('completed');
      const [device] = (await t.call(t.owner, 'GET', `/api/v1/devices?userId=${user.id}`)).json().items;
      expect(device).toMatchObject({ id: done.deviceId, platform, enrollmentType: 'device', enrollmentMethod: 'profile', udid, status: 'enrolled' });
      expect((await put('/mdm/connect', signed(dir, { Status: 'Idle', UDID: udid, CommandUUID: '' }))).status).toBe(200);
      // The link is spent: the generic page, which reveals nothing.
      const spent = await fetch(`${base}${link}`);
      expect(spent.status).toBe(404);
      expect(await spent.text()).toContain('This link cannot be used');
      const actions = (await t.call(t.owner, 'GET', '/api/v1/audit?limit=200')).json().items.filter((e: any) => e.objectId === request.id || e.objectId === device.id).map((e: any) => e.action);
      expect(actions).toEqual(expect.arrayContaining(['portal.sign_in', 'portal.profile_served', 'scep.certificate_issued', 'checkin.authenticate', 'checkin.token_update', 'request.complete']));
    });
  }

  it('an employee-owned iPhone with profile-based User Enrollment (iOS 13.1–17): ManagedAppleID and no AccessRights in the profile; EnrollmentID, no UDID', async () => {
    const dir = tempDir('pippin-e2e-ue-');
    const { user, request, link, passcode } = await invite('ios', true);
    const { scep, mdm } = await profileFor(link, passcode, dir);
    expect(mdm.ManagedAppleID).toBe(user.managedAppleId);
    expect(mdm.AccessRights).toBeUndefined();
    expect(await scepclient(dir, scep.URL, scep.Challenge)).toBe(true);
    expect((await put('/mdm/checkin', signed(dir, { MessageType: 'Authenticate', Topic: mdm.Topic, UDID: 'MUST-NOT-BE-SENT' }))).status).toBe(400);
    expect((await put('/mdm/checkin', signed(dir, { MessageType: 'Authenticate', Topic: mdm.Topic, EnrollmentID: 'ENR-E2E', OSVersion: '17.5', ProductName: 'iPhone15,3' }))).status).toBe(200);
    expect((await put('/mdm/checkin', signed(dir, { MessageType: 'TokenUpdate', Topic: mdm.Topic, EnrollmentID: 'ENR-E2E', Token: Buffer.from('t'), PushMagic: 'm' }))).status).toBe(200);
    const [device] = (await t.call(t.owner, 'GET', `/api/v1/devices?userId=${user.id}`)).json().items;
    expect(device).toMatchObject({ enrollmentType: 'user', enrollmentMethod: 'profile', enrollmentId: 'ENR-E2E', udid: null, serialNumber: null, status: 'enrolled' });
    expect((await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${request.id}`)).json()).toMatchObject({ status: 'completed', requestType: 'MDM (Apple User Enrollment)' });
  });

  it('refuses with 400 and changes nothing: no signature, an altered body, a foreign certificate, a DOCTYPE with an entity, an oversized body', async () => {
    const dir = tempDir('pippin-e2e-neg-');
    const { request, link, passcode } = await invite('ios');
    const { scep, mdm } = await profileFor(link, passcode, dir);
    expect(await scepclient(dir, scep.URL, scep.Challenge)).toBe(true);
    const message = { MessageType: 'Authenticate', Topic: mdm.Topic, UDID: 'NEG-1' };
    const good = signed(dir, message);
    expect((await put('/mdm/checkin', { body: good.body })).status).toBe(400);
    const altered = Buffer.from(good.body);
    altered[altered.indexOf('NEG-1')] = 'M'.charCodeAt(0);
    expect((await put('/mdm/checkin', { body: altered, signature: good.signature })).status).toBe(400);
    expect((await put('/mdm/checkin', signed(dir, message, selfSignedIdentity(dir, 'foreign')))).status).toBe(400);
    const evil = Buffer.from('<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY x "y">]><plist version="1.0"><dict><key>MessageType</key><string>&x;</string></dict></plist>');
    const evilSig = execFileSync('openssl', ['cms', '-sign', '-binary', '-signer', path.join(dir, 'cert.pem'), '-inkey', path.join(dir, 'key.pem'), '-outform', 'DER'], { input: evil });
    expect((await put('/mdm/checkin', { body: evil, signature: evilSig.toString('base64') })).status).toBe(400);
    expect((await put('/mdm/checkin', { body: Buffer.alloc(1024 * 1024 + 10, 0x20), signature: good.signature })).status).toBe(400);
    expect((await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${request.id}`)).json().status).toBe('pending');
    // The good one still works afterwards.
    expect((await put('/mdm/checkin', good)).status).toBe(200);
  });

  it('locks a request after five wrong passcodes (Exceeded), and the page says to contact IT', async () => {
    const { request, link } = await invite('ios');
    for (let i = 1; i <= 4; i++) {
      const res = await fetch(`${base}${link}`, form({ passcode: 'WRONG000' }));
      expect(res.status).toBe(401);
      expect(await res.text()).toContain(`${5 - i} attempt`);
    }
    const fifth = await fetch(`${base}${link}`, form({ passcode: 'WRONG000' }));
    expect(fifth.status).toBe(403);
    expect(await fifth.text()).toContain('Contact your IT team');
    expect((await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${request.id}`)).json().status).toBe('exceeded');
    expect((await fetch(`${base}${link}`)).status).toBe(403);
  });
});
