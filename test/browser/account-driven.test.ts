/**
 * Account-driven User Enrollment with the sign-in web view in headless Chromium at a phone's
 * viewport, against a listening Pippin whose public URL is its own address. A simulated iPhone does
 * the device's half over HTTP (discovery, the device-signed enrol POST and its 401 with
 * `WWW-Authenticate: Bearer method="apple-as-web"`), then the page the 401 names opens in Chromium
 * with `?user-identifier=<MAID>` appended as iOS's web view does: a wrong passcode (attempts left),
 * the right one, and the 308 to `apple-remotemanagement-user-login://authentication-results` with the
 * access token (captured off the wire: Chromium cannot follow the custom scheme). With the token: the
 * BYOD profile, SCEP with scepclient, Authenticate and TokenUpdate carrying it → the request
 * Completed, a User Enrollment device listed, and its console page with what the organisation can
 * and cannot see, at phone width. And the refusal page for a MAID with no Pending User Enrollment
 * request. Screenshots in test-artifacts/screenshots/account-driven-*.
 */
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_DIR, createPippin, ensureFirstAccount, type Pippin } from '../../src/main.js';
import { OWNER } from '../support/app.js';
import { tempDir, testConfig } from '../support/db.js';
import { freePort } from '../setup/postgres.js';
import { deviceEnrolBody, hasScepClient, putCheckin, readProfile, scepEnrol, signedMessage } from '../support/device.js';
import { apiSession, bodyFits, CHROMIUM, expectUserEnrollmentPrivacy, launch, openPage, signIn, snap, WIDTHS } from './browser.js';

const PHONE = WIDTHS.find((w) => w.name === '390')!;
const BRAND = 'Northwind Field Services';
const AUTH_RESULT = /^apple-remotemanagement-user-login:\/\/authentication-results\?access-token=([A-Za-z0-9_%-]+)$/;

describe.skipIf(!CHROMIUM || !hasScepClient)('account-driven User Enrollment with the sign-in web view in Chromium', () => {
  let pippin: Pippin;
  let base: string;
  let browser: Browser;
  let call: Awaited<ReturnType<typeof apiSession>>;
  let n = 0;
  beforeAll(async () => {
    if (!fs.existsSync(`${CONSOLE_DIR}/index.html`)) execSync('npx vite build --config console/vite.config.ts', { stdio: 'inherit' });
    // Discovery, the 401 and the profile name PIPPIN_PUBLIC_URL: it must be where the server listens.
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const config = await testConfig('sqlite', { PIPPIN_PUBLIC_URL: base, PIPPIN_ALLOW_TEST_TOPIC: 'true' });
    pippin = await createPippin(config, { consoleDir: CONSOLE_DIR, runJobs: false });
    await ensureFirstAccount(pippin.services, config);
    await pippin.app.listen({ port, host: '127.0.0.1' });
    call = await apiSession(base, OWNER.email, OWNER.password);
    const account = await call('PATCH', '/account', { name: BRAND, managedAppleIdDomains: ['appleid.example.com'] });
    expect(account.status).toBe(200);
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await pippin?.close();
  });

  const json = async (method: string, path: string, body?: unknown) => {
    const res = await call(method, path, body);
    expect(res.status, `${method} ${path}`).toBeLessThan(300);
    return (await res.json()) as any;
  };
  /** An employee with a Managed Apple Account (and, unless told not to, a Pending User Enrollment request). */
  async function employee(withRequest = true) {
    const u = `adweb${++n}`;
    const user = await json('POST', '/users', { username: u, email: `${u}@corp.example`, fullName: `Pat Example ${n}`, managedAppleId: `${u}@appleid.example.com` });
    if (!withRequest) return { user, maid: user.managedAppleId as string, request: null };
    const request = await json('POST', '/enrollment-requests', { userId: user.id, platform: 'ios', ownership: 'employee_owned', userEnrollment: true, notify: 'none' });
    expect(request.requestType).toBe('MDM (Apple User Enrollment)');
    return { user, maid: user.managedAppleId as string, request };
  }
  const enrolPost = (body: Buffer, token?: string) =>
    fetch(`${base}/mdm/enroll`, { method: 'POST', headers: { 'content-type': 'application/pkcs7-signature', 'user-agent': 'DeviceManagementClient/1.0', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: new Uint8Array(body) });
  const phonePage = (name: string) => openPage(browser, name, PHONE.width, PHONE.height);
  async function snapPhone(page: Page, name: string) {
    await snap(page, name, PHONE.name);
    expect(await bodyFits(page), `${name} fits a phone`).toBe(true);
  }

  it('an iPhone: discovery, the 401, the sign-in web view (wrong passcode, right one, the 308 and its token), the BYOD profile, SCEP, check-ins with the token, and the device in the console', async () => {
    const dir = tempDir('pippin-adweb-');
    const { user, request, maid } = await employee();

    // 1. Discovery by the MAID's domain.
    const disc = await fetch(`${base}/.well-known/com.apple.remotemanagement?user-identifier=${encodeURIComponent(maid)}&model-family=iPhone`);
    expect(disc.status).toBe(200);
    const { Servers } = (await disc.json()) as { Servers: { Version: string; BaseURL: string }[] };
    expect(Servers).toEqual([{ Version: 'mdm-byod', BaseURL: `${base}/mdm/enroll` }]);

    // 2. The device's signed body at the BaseURL, without a token: the web-authentication challenge.
    const body = deviceEnrolBody(dir);
    const challenge = await enrolPost(body);
    expect(challenge.status).toBe(401);
    const wwwAuth = challenge.headers.get('www-authenticate')!;
    expect(wwwAuth).toBe(`Bearer method="apple-as-web", url="${base}/mdm/authenticate"`);
    const authUrl = new URL(/url="([^"]+)"/.exec(wwwAuth)![1]!);
    authUrl.searchParams.set('user-identifier', maid);

    // 3. The web view: the URL from the 401 with the MAID appended, at a phone's viewport.
    const { context, page } = await phonePage('account-driven');
    const opened = await page.goto(authUrl.toString());
    expect(opened!.status()).toBe(200);
    // The page's CSP lets its form land on the custom scheme (helmet's form-action 'self' alone makes
    // the web view block the 308 to it, and the sign-in never completes).
    expect((await opened!.allHeaders())['content-security-policy']).toContain("form-action 'self' apple-remotemanagement-user-login:");
    await page.getByRole('heading', { name: 'Sign in to enrol' }).waitFor();
    expect((await page.locator('header').textContent())?.trim()).toBe(BRAND);
    const intro = await page.locator('main').innerText();
    expect(intro).toContain(`You are enrolling this device for ${maid} with User Enrollment: ${BRAND} will manage only its work apps and data.`);
    expect(intro).toContain('Enter the passcode from your invitation email or text message.');
    await snapPhone(page, 'account-driven-sign-in');

    // A wrong passcode: the page says so, with the attempts left; the request stays Pending.
    await page.getByLabel('Passcode').fill('WRONG234');
    const [wrong] = await Promise.all([
      page.waitForResponse((r) => r.url().startsWith(`${base}/mdm/authenticate`) && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    expect(wrong.status()).toBe(401);
    await page.getByRole('alert').waitFor();
    expect((await page.getByRole('alert').textContent())?.trim()).toBe('That passcode is not right. 4 attempts left.');
    await snapPhone(page, 'account-driven-wrong-passcode');
    expect((await json('GET', `/enrollment-requests/${request!.id}`)).status).toBe('pending');

    // The right one → 308 to the custom scheme carrying the token. The browser cannot follow it, so
    // the redirect response itself is what the test reads (as iOS's web view hands it to the OS).
    await page.getByLabel('Passcode').fill(request!.passcode);
    const [done] = await Promise.all([
      page.waitForResponse((r) => r.url().startsWith(`${base}/mdm/authenticate`) && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    expect(done.status()).toBe(308);
    const location = (await done.allHeaders())['location']!;
    expect(location).toMatch(AUTH_RESULT);
    const token = decodeURIComponent(AUTH_RESULT.exec(location)![1]!);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await context.close();

    // 4. With the token, the same signed body: the BYOD profile.
    const res = await enrolPost(body, token);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-apple-aspen-config');
    const { scep, mdm } = readProfile(Buffer.from(await res.arrayBuffer()), (await pippin.services.pki.ca()).certPem, dir);
    expect(mdm).toMatchObject({ AssignedManagedAppleID: maid, EnrollmentMode: 'BYOD', ServerURL: `${base}/mdm/connect`, CheckInURL: `${base}/mdm/checkin` });
    expect(mdm.AccessRights).toBeUndefined();

    // 5. SCEP with scepclient, then Authenticate and TokenUpdate carrying the token.
    expect(await scepEnrol(dir, scep.URL, scep.Challenge)).toBe(true);
    const auth = signedMessage(dir, { MessageType: 'Authenticate', Topic: mdm.Topic, EnrollmentID: 'ENR-ADWEB-1', OSVersion: '18.1', ProductName: 'iPhone16,2' });
    expect((await putCheckin(base, '/mdm/checkin', auth, token)).status).toBe(200);
    const update = signedMessage(dir, { MessageType: 'TokenUpdate', Topic: mdm.Topic, EnrollmentID: 'ENR-ADWEB-1', Token: Buffer.from('apns-adweb'), PushMagic: 'magic-adweb' });
    expect((await putCheckin(base, '/mdm/checkin', update)).status).toBe(400);
    expect((await json('GET', `/enrollment-requests/${request!.id}`)).status).toBe('pending');
    expect((await putCheckin(base, '/mdm/checkin', update, token)).status).toBe(200);

    // 6. The request Completed; a User Enrollment device listed.
    expect((await json('GET', `/enrollment-requests/${request!.id}`)).status).toBe('completed');
    const { items } = await json('GET', `/devices?userId=${user.id}`);
    expect(items).toHaveLength(1);
    const device = items[0];
    expect(device).toMatchObject({ enrollmentType: 'user', enrollmentMethod: 'account_driven', enrollmentId: 'ENR-ADWEB-1', udid: null, status: 'enrolled' });
    const actions = (await json('GET', '/audit?limit=200')).items.filter((e: any) => e.objectId === request!.id).map((e: any) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['enrol.sign_in_failed', 'enrol.sign_in', 'enrol.token_issued', 'enrol.profile_served', 'request.complete']));

    // 7. The console, signed in as the owner, on a phone: the device's page and its privacy panel.
    const admin = await phonePage('account-driven-console');
    await signIn(admin.page, base, OWNER.email, OWNER.password);
    await admin.page.goto(`${base}/devices/${device.id}`);
    await admin.page.getByRole('heading', { name: 'iPhone16,2' }).waitFor();
    const details = admin.page.getByTestId('device-details');
    expect(await details.getByTestId('device-identifier-value').textContent()).toBe('ENR-ADWEB-1');
    expect(await details.getByTestId('device-serial').textContent()).toBe('Not visible with User Enrollment');
    expect(await details.getByTestId('device-user-link').getAttribute('href')).toBe(`/users/${user.id}`);
    await expectUserEnrollmentPrivacy(admin.page);
    const req = admin.page.getByTestId('device-request');
    expect(await req.getByTestId('device-request-type').textContent()).toBe('MDM (Apple User Enrollment)');
    expect(await req.getByTestId('device-request-status').textContent()).toBe('Completed');
    await snapPhone(admin.page, 'account-driven-console-device');
    await admin.context.close();
  });

  it('a MAID with no Pending User Enrollment request (and one nobody holds) gets the generic refusal page, naming no account', async () => {
    const { user, maid } = await employee(false);
    const { context, page } = await phonePage('account-driven-refused');
    for (const id of [maid, 'nobody@appleid.example.com']) {
      const res = await page.goto(`${base}/mdm/authenticate?user-identifier=${encodeURIComponent(id)}`);
      expect(res!.status()).toBe(403);
      await page.getByRole('heading', { name: 'You cannot enrol this device yet' }).waitFor();
      expect((await page.locator('header').textContent())?.trim()).toBe('Device enrollment');
      expect(await page.locator('main').innerText()).toContain('There is no enrollment waiting for this account. Ask your IT team to send you a User Enrollment request, then try again.');
      const html = await page.content();
      expect(html).not.toContain(BRAND);
      expect(await page.getByLabel('Passcode').count()).toBe(0);
    }
    await snapPhone(page, 'account-driven-refused');
    await context.close();
    // Nothing changed: no request, no device for them.
    expect((await json('GET', `/enrollment-requests?userId=${user.id}`)).items).toHaveLength(0);
    expect((await json('GET', `/devices?userId=${user.id}`)).items).toHaveLength(0);
  });
});
