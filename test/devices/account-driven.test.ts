/**
 * Account-driven User Enrollment end to end against a listening Pippin, as an iPhone on iOS 15+
 * does it: discovery by the Managed Apple ID's domain, the device-signed enrol POST and its 401,
 * the sign-in web view's 308 with the access token, the BYOD profile (openssl and plistlib), SCEP
 * with scepclient, Authenticate and TokenUpdate carrying the token → Completed, a User Enrollment
 * device. And the refusals, each leaving nothing changed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServedTestPippin, type TestPippin } from '../support/app.js';
import { tempDir } from '../support/db.js';
import { deviceEnrolBody, hasScepClient, putCheckin, readProfile, scepEnrol, signedMessage } from '../support/device.js';

describe.skipIf(!hasScepClient)('account-driven User Enrollment', () => {
  let t: TestPippin;
  let base: string;
  let accountKey: string;
  let n = 0;
  beforeAll(async () => {
    ({ t, base } = await createServedTestPippin());
    const account = (await t.call(t.owner, 'PATCH', '/api/v1/account', { managedAppleIdDomains: ['appleid.example.com'] })).json();
    accountKey = account.key;
  });
  afterAll(() => t?.close());

  /** An employee with a MAID and a Pending User Enrollment request. */
  async function invite(extra: Record<string, unknown> = {}) {
    const u = `adue${++n}`;
    const user = (await t.call(t.owner, 'POST', '/api/v1/users', { username: u, email: `${u}@corp.example`, managedAppleId: `${u}@appleid.example.com` })).json();
    const request = (await t.call(t.owner, 'POST', '/api/v1/enrollment-requests', { userId: user.id, platform: 'ios', ownership: 'employee_owned', userEnrollment: true, notify: 'none', ...extra })).json();
    expect(request.requestType).toBe('MDM (Apple User Enrollment)');
    return { user, request, maid: user.managedAppleId as string };
  }
  const enrolPost = (body: Buffer, token?: string) =>
    fetch(`${base}/mdm/enroll`, { method: 'POST', headers: { 'content-type': 'application/pkcs7-signature', 'user-agent': 'DeviceManagementClient/1.0', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: new Uint8Array(body) });
  const signIn = (maid: string, passcode: string) =>
    fetch(`${base}/mdm/authenticate?user-identifier=${encodeURIComponent(maid)}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ passcode }).toString() });
  const status = async (id: string) => (await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${id}`)).json().status;

  it('discovers, challenges, signs in, serves the BYOD profile, and enrols with the token on every check-in', async () => {
    const dir = tempDir('pippin-adue-');
    const { user, request, maid } = await invite();
    // 1. Discovery by the MAID's domain, and by the account's own URL.
    const disc = await fetch(`${base}/.well-known/com.apple.remotemanagement?user-identifier=${encodeURIComponent(maid)}&model-family=iPhone`);
    expect(disc.status).toBe(200);
    expect(disc.headers.get('content-type')).toContain('application/json');
    expect(await disc.json()).toEqual({ Servers: [{ Version: 'mdm-byod', BaseURL: `${base}/mdm/enroll` }] });
    expect(await (await fetch(`${base}/a/${accountKey}/.well-known/com.apple.remotemanagement`)).json()).toEqual({ Servers: [{ Version: 'mdm-byod', BaseURL: `${base}/mdm/enroll` }] });
    // 2. The device's signed body, without a token: the web-authentication challenge.
    const body = deviceEnrolBody(dir);
    const challenge = await enrolPost(body);
    expect(challenge.status).toBe(401);
    expect(challenge.headers.get('www-authenticate')).toBe(`Bearer method="apple-as-web", url="${base}/mdm/authenticate"`);
    // 3. The web view: the sign-in page, then 308 to the custom scheme with the token.
    const page = await fetch(`${base}/mdm/authenticate?user-identifier=${encodeURIComponent(maid)}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(maid);
    const done = await signIn(maid, request.passcode);
    expect(done.status).toBe(308);
    const location = done.headers.get('location')!;
    expect(location).toMatch(/^apple-remotemanagement-user-login:\/\/authentication-results\?access-token=[A-Za-z0-9_-]{43}$/);
    const token = decodeURIComponent(location.split('access-token=')[1]!);
    // 4. With the token: the BYOD profile.
    const res = await enrolPost(body, token);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-apple-aspen-config');
    const { scep, mdm } = readProfile(Buffer.from(await res.arrayBuffer()), (await t.services.pki.ca()).certPem, dir);
    expect(mdm).toMatchObject({ AssignedManagedAppleID: maid, EnrollmentMode: 'BYOD', ServerURL: `${base}/mdm/connect`, CheckInURL: `${base}/mdm/checkin` });
    expect(mdm.AccessRights).toBeUndefined();
    expect(mdm.ManagedAppleID).toBeUndefined();
    // 5. SCEP, then check-ins that must carry the token.
    expect(await scepEnrol(dir, scep.URL, scep.Challenge)).toBe(true);
    const auth = signedMessage(dir, { MessageType: 'Authenticate', Topic: mdm.Topic, EnrollmentID: 'ENR-ADUE-1', OSVersion: '18.1', ProductName: 'iPhone16,2' });
    expect((await putCheckin(base, '/mdm/checkin', auth)).status).toBe(400);
    expect((await putCheckin(base, '/mdm/checkin', auth, 'not-the-token')).status).toBe(400);
    expect((await putCheckin(base, '/mdm/checkin', signedMessage(dir, { MessageType: 'Authenticate', Topic: mdm.Topic, UDID: 'NOPE', EnrollmentID: 'ENR-ADUE-1' }), token)).status).toBe(400);
    expect((await putCheckin(base, '/mdm/checkin', auth, token)).status).toBe(200);
    const update = signedMessage(dir, { MessageType: 'TokenUpdate', Topic: mdm.Topic, EnrollmentID: 'ENR-ADUE-1', Token: Buffer.from('apns'), PushMagic: 'magic' });
    expect((await putCheckin(base, '/mdm/checkin', update)).status).toBe(400);
    expect(await status(request.id)).toBe('pending');
    expect((await putCheckin(base, '/mdm/checkin', update, token)).status).toBe(200);
    expect(await status(request.id)).toBe('completed');
    const [device] = (await t.call(t.owner, 'GET', `/api/v1/devices?userId=${user.id}`)).json().items;
    expect(device).toMatchObject({ enrollmentType: 'user', enrollmentMethod: 'account_driven', enrollmentId: 'ENR-ADUE-1', udid: null, status: 'enrolled' });
    expect((await putCheckin(base, '/mdm/connect', signedMessage(dir, { Status: 'Idle', EnrollmentID: 'ENR-ADUE-1' }))).status).toBe(400);
    expect((await putCheckin(base, '/mdm/connect', signedMessage(dir, { Status: 'Idle', EnrollmentID: 'ENR-ADUE-1' }), token)).status).toBe(200);
    // Pippin ends the enrolment (the request deleted, its token revoked): the device is told it is not recognised.
    expect((await t.call(t.owner, 'DELETE', `/api/v1/enrollment-requests/${request.id}`)).statusCode).toBe(200);
    const ended = await putCheckin(base, '/mdm/connect', signedMessage(dir, { Status: 'Idle', EnrollmentID: 'ENR-ADUE-1' }), token);
    expect(ended.status).toBe(403);
    expect(await ended.json()).toEqual({ code: 'com.apple.unrecognized.device' });
    const actions = (await t.call(t.owner, 'GET', '/api/v1/audit?limit=200')).json().items.map((e: any) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['enrol.discovery', 'enrol.sign_in', 'enrol.token_issued', 'enrol.profile_served', 'scep.certificate_issued', 'checkin.authenticate', 'request.complete']));
  });

  it('refuses: a foreign domain at discovery, a wrong or spent token, a MAID without a Pending User Enrollment request, malformed bodies', async () => {
    const foreign = await fetch(`${base}/.well-known/com.apple.remotemanagement?user-identifier=someone%40elsewhere.example&model-family=iPhone`);
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toEqual({ code: 'com.apple.well-known.failed' });
    expect((await fetch(`${base}/a/no-such-account/.well-known/com.apple.remotemanagement`)).status).toBe(403);
    const dir = tempDir('pippin-adue-neg-');
    const { request, maid } = await invite();
    const body = deviceEnrolBody(dir);
    expect((await enrolPost(body, 'made-up-token')).status).toBe(401);
    // A token not used within ten minutes of sign-in has expired.
    const stale = decodeURIComponent((await signIn(maid, request.passcode)).headers.get('location')!.split('access-token=')[1]!);
    await t.db.system('operator command', (tx) => tx.updateTable('enrollment_access_tokens').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).where('request_id', '=', request.id).execute());
    expect((await enrolPost(body, stale)).status).toBe(401);
    const token = decodeURIComponent((await signIn(maid, request.passcode)).headers.get('location')!.split('access-token=')[1]!);
    expect((await enrolPost(body, token)).status).toBe(200);
    // A second device with the same token gets the challenge again, not a profile.
    expect((await enrolPost(deviceEnrolBody(tempDir('pippin-adue-2nd-')), token)).status).toBe(401);
    expect((await fetch(`${base}/mdm/enroll`, { method: 'POST', body: 'not a plist' })).status).toBe(400);
    // An account that requires genuine Apple devices refuses a body not signed by an identity chaining to Apple, and the token stays unspent.
    const { request: r2, maid: m2 } = await invite();
    const t2 = decodeURIComponent((await signIn(m2, r2.passcode)).headers.get('location')!.split('access-token=')[1]!);
    await t.call(t.owner, 'PATCH', '/api/v1/account', { requireGenuineAppleDevices: true });
    try {
      expect((await enrolPost(deviceEnrolBody(tempDir('pippin-adue-gen-')), t2)).status).toBe(400);
    } finally {
      await t.call(t.owner, 'PATCH', '/api/v1/account', { requireGenuineAppleDevices: false });
    }
    expect((await enrolPost(deviceEnrolBody(tempDir('pippin-adue-gen2-')), t2)).status).toBe(200);
    // No Pending User Enrollment request for this MAID (and a MAID nobody holds): a generic refusal.
    const { user: other } = await invite();
    await t.call(t.owner, 'DELETE', `/api/v1/enrollment-requests/${(await t.call(t.owner, 'GET', `/api/v1/enrollment-requests?userId=${other.id}`)).json().items[0].id}`);
    for (const id of [other.managedAppleId, 'nobody@appleid.example.com']) {
      const refused = await fetch(`${base}/mdm/authenticate?user-identifier=${encodeURIComponent(id)}`);
      expect(refused.status).toBe(403);
      expect(await refused.text()).toContain('There is no enrollment waiting');
      expect((await signIn(id, 'ABCDEFGH')).status).toBe(403);
    }
  });

  it("the portal link of a User Enrollment request shows the account-driven steps with the MAID first, and the iOS 13–17 profile as the employee's alternative (the User-Agent only pre-selects)", async () => {
    const { request, maid } = await invite();
    const link = new URL(request.url).pathname;
    const ios18 = await (await fetch(`${base}${link}`, { headers: { 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15' } })).text();
    expect(ios18).toContain('Sign In to Work or School Account');
    expect(ios18).toContain(`value="${maid}"`);
    expect(ios18).toContain('<details class="card"><summary><b>Older iPhone or iPad (iOS 13 to 17)?</b>');
    expect(ios18.indexOf('Sign In to Work or School Account')).toBeLessThan(ios18.indexOf('Older iPhone or iPad'));
    const ios14 = await (await fetch(`${base}${link}`, { headers: { 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 14_8_1 like Mac OS X) AppleWebKit/605.1.15' } })).text();
    expect(ios14).toContain('<details class="card" open>');
    // The alternative: the passcode, then the profile-based User Enrollment profile.
    const notice = await fetch(`${base}${link}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ passcode: request.passcode }).toString() });
    expect(notice.status).toBe(200);
    expect(await notice.text()).toContain('Download profile');
  });

  it('locks the request after five wrong passcodes on the sign-in page', async () => {
    const { request, maid } = await invite();
    for (let i = 1; i <= 4; i++) expect((await signIn(maid, 'WRONG000')).status).toBe(401);
    const fifth = await signIn(maid, 'WRONG000');
    expect(fifth.status).toBe(403);
    expect(await fifth.text()).toContain('Contact your IT team');
    expect(await status(request.id)).toBe('exceeded');
    // Locked: even the right passcode mints nothing now.
    expect((await signIn(maid, request.passcode)).status).toBe(403);
  });
});
