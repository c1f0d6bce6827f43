/**
 * Devices ▸ Devices in headless Chromium. Devices are made without an iPhone: the server's own
 * check-in service receives Authenticate and TokenUpdate for a certificate bound to a redeemed SCEP
 * challenge, as a device would send them (test/devices/checkin.test.ts covers the state machine;
 * the signed wire format is the HTTP layer's). Then: the empty state, the list and its filters,
 * a User Enrollment device page with its privacy panel, a device enrolment page, the user's page
 * listing their devices, a Completed request linking to its device, keyset paging.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { challengeHash, newChallenge, redeemChallenge } from '../../src/enrollments/challenges.js';
import { systemClock, systemRandom } from '../../src/core/clock.js';
import { apiSession, bodyFits, choose, CHROMIUM, consoleFixture, expectUserEnrollmentPrivacy, openPage, signIn, snap, WIDTHS } from './browser.js';

/** Snaps the page at every width and checks nothing spills sideways, then goes back to the desktop width. */
async function snapAll(page: Page, name: string) {
  for (const w of WIDTHS) {
    await page.setViewportSize(w);
    await snap(page, name, w.name);
    expect(await bodyFits(page), `${name} fits at ${w.name}`).toBe(true);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

describe.skipIf(!CHROMIUM)('Devices ▸ Devices in Chromium', () => {
  const f = consoleFixture();
  let n = 0;

  /**
   * A device for a request, the way a real one arrives: the portal's single-use challenge redeemed by
   * SCEP and a certificate recorded against it, then Authenticate (a UDID for device enrolment, an
   * EnrollmentID and no UDID for User Enrollment) and the first TokenUpdate, which enrols the device
   * and completes the request.
   */
  async function enrol(accountId: string, request: { id: string; expiresAt: string }, device: { udid?: string; enrollmentId?: string; osVersion: string; productName: string; serialNumber?: string }) {
    const { services, secretKey } = f.server.pippin;
    const challenge = await services.uow.inAccount(accountId, (s) => newChallenge(s, { secretKey, random: systemRandom, clock: systemClock }, request));
    expect(await redeemChallenge(services.uow, { secretKey, clock: systemClock }, challenge)).toMatchObject({ ok: true, requestId: request.id });
    const certHash = `browser-cert-${++n}`;
    await services.uow.system('SCEP challenge', (s) => s.challengeClaims.issued(challengeHash(secretKey, challenge), certHash, `serial-${n}`));
    const ids = device.udid ? { udid: device.udid } : { enrollmentId: device.enrollmentId };
    const topic = 'com.apple.mgmt.External.test';
    expect(await services.checkins.checkin(certHash, { messageType: 'Authenticate', ...ids, osVersion: device.osVersion, productName: device.productName, serialNumber: device.serialNumber, topic }, '<plist/>')).toEqual({ status: 200 });
    expect(await services.checkins.checkin(certHash, { messageType: 'TokenUpdate', ...ids, token: Buffer.from(`apns-${n}`).toString('base64'), pushMagic: `magic-${n}`, topic }, '<plist/>')).toEqual({ status: 200 });
    return certHash;
  }

  it('lists devices with filters, opens a User Enrollment and a device enrolment page, links users and requests to them', async () => {
    const call = await apiSession(f.server.url, f.server.owner.email, f.server.owner.password);
    const { account } = (await (await call('GET', '/session')).json()) as { account: { id: string } };
    const ids: Record<string, string> = {};
    for (const [username, maid] of [
      ['alice', 'alice@appleid.example.com'],
      ['bob', null],
      ['carol', null],
      ['dave', null],
    ] as const) {
      const res = await call('POST', '/users', { username, email: `${username}@corp.example`, fullName: `${username[0]!.toUpperCase()}${username.slice(1)} Example`, ...(maid ? { managedAppleId: maid } : {}) });
      expect(res.status, `create ${username}`).toBe(201);
      ids[username] = ((await res.json()) as { id: string }).id;
    }
    const request = async (body: Record<string, unknown>) => {
      const res = await call('POST', '/enrollment-requests', { notify: 'none', ...body });
      expect(res.status).toBe(201);
      return (await res.json()) as { id: string; expiresAt: string };
    };
    const aliceReq = await request({ username: 'alice', platform: 'ios', ownership: 'employee_owned', userEnrollment: true });
    const bobReq = await request({ username: 'bob', platform: 'ios', ownership: 'corporate_owned' });
    const carolReq = await request({ username: 'carol', platform: 'macos', ownership: 'corporate_owned' });
    const daveReq = await request({ username: 'dave', platform: 'ios', ownership: 'corporate_owned' });

    // ── Before any device: the empty state says how devices arrive ────────────────────────────
    const { context, page } = await openPage(f.browser, 'devices');
    await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
    await page.getByRole('navigation', { name: 'Main navigation' }).getByRole('link', { name: 'Devices', exact: true }).click();
    await page.waitForURL(/\/devices$/);
    await page.getByRole('heading', { name: 'Devices' }).waitFor();
    await page.getByText('No devices yet').waitFor();
    await page.getByText(/Devices appear here once an enrollment request is used on a device/).waitFor();
    await snapAll(page, 'devices-empty');

    // ── Four devices check in: one User Enrollment, three device enrolments, one of them checked out ──
    await enrol(account.id, aliceReq, { enrollmentId: 'ENR-ALICE-0001', osVersion: '18.2', productName: 'iPhone16,2' });
    await enrol(account.id, bobReq, { udid: '00008110-000A1B2C3D4E5F60', osVersion: '18.1', productName: 'iPhone15,3', serialNumber: 'F2LBOB12345' });
    await enrol(account.id, carolReq, { udid: 'C0FFEE00-1111-2222-3333-444455556666', osVersion: '15.2', productName: 'Mac14,2', serialNumber: 'C02CAROL999' });
    const daveCert = await enrol(account.id, daveReq, { udid: 'DAVE-UDID-0001', osVersion: '17.6', productName: 'iPhone14,5', serialNumber: 'DAVESERIAL1' });
    expect(await f.server.pippin.services.checkins.checkin(daveCert, { messageType: 'CheckOut', udid: 'DAVE-UDID-0001' }, '<plist/>')).toEqual({ status: 200 });
    const listed = (await (await call('GET', '/devices')).json()) as { items: { id: string; username: string }[] };
    const deviceOf = Object.fromEntries(listed.items.map((d) => [d.username, d.id]));
    expect(Object.keys(deviceOf).sort()).toEqual(['alice', 'bob', 'carol', 'dave']);

    await page.reload();
    const alice = page.getByTestId('device-row-alice-ios');
    await alice.waitFor();
    await expect.poll(() => page.getByTestId('devices-range').textContent()).toBe('1–4 of 4');
    // User Enrollment: the EnrollmentID, labelled so; device enrolment: the UDID.
    expect(await alice.getByTestId('device-enrollment-type').textContent()).toBe('User Enrollment');
    expect(await alice.getByTestId('device-enrollment-method').textContent()).toBe('Profile');
    expect(await alice.getByTestId('device-identifier-label').textContent()).toBe('EnrollmentID');
    await alice.getByText('ENR-ALICE-0001').waitFor();
    await alice.getByText('18.2', { exact: true }).waitFor();
    await alice.getByRole('link', { name: 'alice', exact: true }).waitFor();
    const bob = page.getByTestId('device-row-bob-ios');
    expect(await bob.getByTestId('device-enrollment-type').textContent()).toBe('Device enrollment');
    expect(await bob.getByTestId('device-identifier-label').textContent()).toBe('UDID');
    await bob.getByText('00008110-000A1B2C3D4E5F60').waitFor();
    expect(await page.getByTestId('device-row-dave-ios').getByTestId('device-status').textContent()).toBe('Checked out');
    expect(await alice.getByTestId('device-status').textContent()).toBe('Enrolled');
    await snapAll(page, 'devices');
    // On a phone: cards, each with its identifier labelled.
    await page.setViewportSize({ width: 390, height: 844 });
    const card = page.getByTestId('devices-cards').getByTestId('device-row-alice-ios');
    expect(await card.getByTestId('device-identifier-label').textContent()).toBe('EnrollmentID');
    await page.setViewportSize({ width: 1280, height: 800 });

    // ── Filters ───────────────────────────────────────────────────────────────────────────────
    await choose(page, page, 'Status', 'Checked out');
    await page.waitForURL(/status=checked_out/);
    await expect.poll(() => page.getByTestId('devices-range').textContent()).toBe('1–1 of 1');
    await page.getByTestId('device-row-dave-ios').waitFor();
    await choose(page, page, 'Status', 'Enrolled');
    await choose(page, page, 'Platform', 'macOS');
    await page.waitForURL(/platform=macos/);
    await expect.poll(() => page.getByTestId('devices-range').textContent()).toBe('1–1 of 1');
    await page.getByTestId('device-row-carol-macos').waitFor();
    await choose(page, page, 'Status', 'Checked out');
    await page.getByText('No devices match').waitFor();
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await expect.poll(() => page.getByTestId('devices-range').textContent()).toBe('1–4 of 4');

    // ── A User Enrollment device: its details, what the organisation can and cannot see, its request ──
    await alice.getByRole('link', { name: /^Device details: iPhone16,2/ }).click();
    await page.waitForURL(new RegExp(`/devices/${deviceOf.alice}$`));
    await page.getByRole('heading', { name: 'iPhone16,2' }).waitFor();
    const details = page.getByTestId('device-details');
    expect(await details.getByTestId('device-identifier-value').textContent()).toBe('ENR-ALICE-0001');
    await details.getByText('EnrollmentID', { exact: true }).waitFor();
    expect(await details.getByTestId('device-serial').textContent()).toBe('Not visible with User Enrollment');
    expect(await details.getByTestId('device-user-link').getAttribute('href')).toBe(`/users/${ids.alice}`);
    await expectUserEnrollmentPrivacy(page);
    const req = page.getByTestId('device-request');
    expect(await req.getByTestId('device-request-type').textContent()).toBe('MDM (Apple User Enrollment)');
    expect(await req.getByTestId('device-request-status').textContent()).toBe('Completed');
    expect(await req.getByTestId('device-request-link').getAttribute('href')).toBe('/enrollments?q=alice&status=completed');
    await snapAll(page, 'device-user-enrollment');

    // ── A device enrolment: the serial number and UDID, and what IT can see and do ───────────────
    await page.goto(`${f.server.url}/devices/${deviceOf.bob}`);
    await page.getByRole('heading', { name: 'iPhone15,3' }).waitFor();
    expect(await page.getByTestId('device-serial').textContent()).toBe('F2LBOB12345');
    expect(await page.getByTestId('device-identifier-value').textContent()).toBe('00008110-000A1B2C3D4E5F60');
    const itPanel = page.getByTestId('device-privacy');
    expect(await itPanel.getAttribute('data-kind')).toBe('device-enrollment');
    await itPanel.getByRole('heading', { name: 'What IT can see and do' }).waitFor();
    expect(await itPanel.getByTestId('privacy-can-do').textContent()).toContain('Erase the device');
    await snapAll(page, 'device-enrollment');
    // A checked-out device says so.
    await page.goto(`${f.server.url}/devices/${deviceOf.dave}`);
    await page.getByTestId('device-checked-out').waitFor();
    // An unknown device is a plain "could not be loaded".
    await page.goto(`${f.server.url}/devices/01900000-0000-7000-8000-000000000000`);
    await page.getByRole('alert').getByText('This could not be loaded').waitFor();

    // ── The user's page lists their devices ──────────────────────────────────────────────────
    await page.goto(`${f.server.url}/users/${ids.alice}`);
    const mine = page.getByTestId('user-devices');
    const row = mine.getByTestId('device-row-alice-ios');
    await row.getByText('ENR-ALICE-0001').waitFor();
    expect(await row.getByRole('link', { name: /^Device details/ }).getAttribute('href')).toBe(`/devices/${deviceOf.alice}`);
    await snapAll(page, 'user-devices');
    await page.goto(`${f.server.url}/users/${ids.dave}`);
    await page.getByTestId('user-devices').getByTestId('device-row-dave-ios').getByText('Checked out').waitFor();

    // ── A Completed request links to its device (table and cards) ────────────────────────────
    await page.goto(`${f.server.url}/enrollments`);
    const aliceRequest = page.getByTestId('request-row-alice-ios');
    await aliceRequest.getByTestId('request-status').filter({ hasText: 'Completed' }).waitFor();
    await aliceRequest.getByTestId('request-device-link').click();
    await page.waitForURL(new RegExp(`/devices/${deviceOf.alice}$`));
    await page.getByTestId('device-privacy').waitFor();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${f.server.url}/enrollments?status=completed`);
    const carolCard = page.getByTestId('requests-cards').getByTestId('request-row-carol-macos');
    expect(await carolCard.getByTestId('request-device-link').getAttribute('href')).toBe(`/devices/${deviceOf.carol}`);
    await snap(page, 'enrollments-completed', '390');
    await context.close();
  });

  it('pages through more than 50 devices, and every role reads them', async () => {
    const call = await apiSession(f.server.url, f.server.owner.email, f.server.owner.password);
    const { account } = (await (await call('GET', '/session')).json()) as { account: { id: string } };
    expect((await call('POST', '/users', { username: 'paula', email: 'paula@corp.example' })).status).toBe(201);
    // One user, one Mac after another: each Completed request leaves room for the next.
    for (let i = 1; i <= 50; i++) {
      const res = await call('POST', '/enrollment-requests', { username: 'paula', platform: 'macos', ownership: 'corporate_owned', notify: 'none' });
      expect(res.status).toBe(201);
      await enrol(account.id, (await res.json()) as { id: string; expiresAt: string }, { udid: `PAULA-MAC-${String(i).padStart(2, '0')}`, osVersion: '15.1', productName: 'Mac15,3', serialNumber: `PAULA${i}` });
    }
    const total = ((await (await call('GET', '/devices?limit=1')).json()) as { total: number }).total;
    expect(total).toBe(54);

    const auditor = await f.server.createAdmin('auditor');
    const { context, page } = await openPage(f.browser, 'devices-paging');
    await signIn(page, f.server.url, auditor.email, auditor.password);
    await page.goto(`${f.server.url}/devices`);
    await expect.poll(() => page.getByTestId('devices-range').textContent()).toBe('1–50 of 54');
    // Newest first: the last Mac heads the list.
    await page.getByTestId('devices-table').locator('tbody tr').first().getByText('PAULA-MAC-50').waitFor();
    await page.getByRole('button', { name: 'Next' }).click();
    await expect.poll(() => page.getByTestId('devices-range').textContent()).toBe('51–54 of 54');
    await page.getByTestId('device-row-alice-ios').waitFor();
    expect(await page.getByRole('button', { name: 'Next' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Previous' }).click();
    await expect.poll(() => page.getByTestId('devices-range').textContent()).toBe('1–50 of 54');
    await context.close();

    const helpdesk = await f.server.createAdmin('helpdesk');
    {
      const { context, page } = await openPage(f.browser, 'devices-helpdesk', 390, 844);
      await signIn(page, f.server.url, helpdesk.email, helpdesk.password);
      await page.goto(`${f.server.url}/devices?platform=ios`);
      await page.getByTestId('devices-cards').getByTestId('device-row-alice-ios').getByRole('link', { name: /^Device details/ }).click();
      await page.getByTestId('device-privacy').waitFor();
      await context.close();
    }
  });
});
