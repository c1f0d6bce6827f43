/**
 * The employee portal (`/enroll/:token`) in headless Chromium at a phone's viewport, against a
 * listening Pippin whose public URL is its own address: a corporate iPhone request's sign-in page
 * branded with the account's name, a wrong passcode (attempts left), the right one, the ownership
 * and privacy notice, "Download profile" → a CMS-signed `application/x-apple-aspen-config` that
 * openssl verifies against Pippin's CA; a request signed into with the user's directory password
 * (auth mode local); a seamless request straight to the notice; an unknown link's generic page; a
 * Mac's System Settings steps. Screenshots in test-artifacts/screenshots/portal-*.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServedTestPippin, type TestPippin } from '../support/app.js';
import { tempDir } from '../support/db.js';
import { bodyFits, CHROMIUM, launch, openPage, snap, WIDTHS } from './browser.js';

const PHONE = WIDTHS.find((w) => w.name === '390')!;
const DESKTOP = WIDTHS.find((w) => w.name === '1280')!;
const BRAND = 'Northwind Field Services';

describe.skipIf(!CHROMIUM)('the employee portal in Chromium', () => {
  let t: TestPippin;
  let base: string;
  let browser: Browser;
  let n = 0;
  beforeAll(async () => {
    ({ t, base } = await createServedTestPippin());
    expect((await t.call(t.owner, 'PATCH', '/api/v1/account', { name: BRAND })).statusCode).toBe(200);
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  /** An employee and a request for them (notify none, so the response carries the link and passcode). */
  async function invite(body: Record<string, unknown> = {}, user: Record<string, unknown> = {}) {
    const u = `portal${++n}`;
    const created = await t.call(t.owner, 'POST', '/api/v1/users', { username: u, email: `${u}@corp.example`, fullName: `Pat Example ${n}`, ...user });
    expect(created.statusCode).toBe(201);
    const res = await t.call(t.owner, 'POST', '/api/v1/enrollment-requests', { userId: created.json().id, platform: 'ios', ownership: 'corporate_owned', notify: 'none', ...body });
    expect(res.statusCode, res.body).toBe(201);
    const request = res.json();
    expect(new URL(request.url).origin).toBe(base);
    return { user: created.json(), request, url: request.url as string, passcode: request.passcode as string };
  }
  const status = async (id: string) => (await t.call(t.owner, 'GET', `/api/v1/enrollment-requests/${id}`)).json().status;
  const phonePage = () => openPage(browser, 'portal', PHONE.width, PHONE.height);
  async function snapPhone(page: Page, name: string) {
    await snap(page, name, PHONE.name);
    expect(await bodyFits(page), `${name} fits a phone`).toBe(true);
  }

  /** Clicks Download profile; returns the response's content type and the downloaded bytes. */
  async function download(page: Page) {
    const [dl, res] = await Promise.all([
      page.waitForEvent('download'),
      page.waitForResponse((r) => r.url().endsWith('/profile') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Download profile' }).click(),
    ]);
    expect(res.status()).toBe(200);
    const file = await dl.path();
    return { contentType: res.headers()['content-type'], fileName: dl.suggestedFilename(), bytes: fs.readFileSync(file!) };
  }

  it('a corporate iPhone: branded sign-in, a wrong passcode, the right one, the notice, a signed profile that openssl verifies', async () => {
    const { request, url, passcode } = await invite();
    const { context, page } = await phonePage();
    const res = await page.goto(url);
    expect(res!.status()).toBe(200);
    expect((await page.locator('header').textContent())?.trim()).toBe(BRAND);
    await page.getByRole('heading', { name: 'Enroll your iPhone or iPad' }).waitFor();
    expect(await page.locator('main').innerText()).toContain(`Hello Pat Example ${n}. ${BRAND} has invited you`);
    await snapPhone(page, 'portal-sign-in');
    // The same page at the desktop width, once.
    await page.setViewportSize({ width: DESKTOP.width, height: DESKTOP.height });
    await snap(page, 'portal-sign-in', DESKTOP.name);
    await page.setViewportSize({ width: PHONE.width, height: PHONE.height });

    // A wrong passcode: the page says so and how many attempts are left.
    await page.getByLabel('Passcode').fill('WRONG234');
    await page.getByRole('button', { name: 'Continue' }).click();
    expect((await page.getByRole('alert').textContent())?.trim()).toBe('That passcode is not right. 4 attempts left.');
    await snapPhone(page, 'portal-wrong-passcode');
    expect(await status(request.id)).toBe('pending');

    // The right one (typed as a person might, in lower case) → the ownership and privacy notice.
    await page.getByLabel('Passcode').fill(passcode.toLowerCase());
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Before you install' }).waitFor();
    const notice = await page.locator('main').innerText();
    expect(notice).toContain(`This iPhone or iPad belongs to ${BRAND}, which will manage it`);
    expect(notice).toContain('it cannot read your personal email, messages or photos');
    expect(notice).toContain('Profile Downloaded');
    expect(notice).toContain('VPN & Device Management');
    await snapPhone(page, 'portal-notice-iphone');

    const profile = await download(page);
    expect(profile.contentType).toBe('application/x-apple-aspen-config');
    expect(profile.fileName).toBe('Northwind-Field-Services-enrollment.mobileconfig');
    const dir = tempDir('pippin-portal-');
    fs.writeFileSync(path.join(dir, 'profile.mobileconfig'), profile.bytes);
    fs.writeFileSync(path.join(dir, 'ca.pem'), (await t.services.pki.ca()).certPem);
    const plist = execFileSync('openssl', ['cms', '-verify', '-inform', 'DER', '-in', path.join(dir, 'profile.mobileconfig'), '-CAfile', path.join(dir, 'ca.pem'), '-purpose', 'any'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString('utf8');
    expect(plist).toContain('<string>com.apple.mdm</string>');
    expect(plist).toContain(`<string>${base}/mdm/checkin</string>`);
    expect(plist).toContain('<string>com.apple.security.scep</string>');
    // The page stays on the notice (a download is no navigation), and the request waits for its device.
    await page.getByRole('heading', { name: 'Before you install' }).waitFor();
    expect(await status(request.id)).toBe('pending');
    const actions = (await t.call(t.owner, 'GET', '/api/v1/audit?limit=200')).json().items.filter((e: any) => e.objectId === request.id).map((e: any) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['portal.sign_in_failed', 'portal.sign_in', 'portal.profile_served']));
    await context.close();
  });

  it('auth mode local: the employee signs in with their username and directory password', async () => {
    const { user, request, url } = await invite({ authMode: 'local' });
    expect(request.authMode).toBe('local');
    expect(request.authModeOverridden).toBe(true);
    expect((await t.call(t.owner, 'PATCH', `/api/v1/users/${user.id}`, { password: 'Directory-Pass-42' })).statusCode).toBe(200);
    const { context, page } = await phonePage();
    await page.goto(url);
    await page.getByLabel('Username').waitFor();
    expect(await page.getByLabel('Password').getAttribute('type')).toBe('password');
    expect(await page.getByLabel('Passcode').count()).toBe(0);
    expect(await page.locator('main').innerText()).toContain('Sign in with your username and directory password.');
    await snapPhone(page, 'portal-sign-in-local');
    // The right password for another name is refused like a wrong one.
    await page.getByLabel('Username').fill('someone-else');
    await page.getByLabel('Password').fill('Directory-Pass-42');
    await page.getByRole('button', { name: 'Continue' }).click();
    expect((await page.getByRole('alert').textContent())?.trim()).toBe('That username or password is not right. 4 attempts left.');
    await page.getByLabel('Username').fill(user.username.toUpperCase());
    await page.getByLabel('Password').fill('Directory-Pass-42');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Before you install' }).waitFor();
    const profile = await download(page);
    expect(profile.contentType).toBe('application/x-apple-aspen-config');
    await context.close();
  });

  it('a seamless request opens straight on the notice; an unknown link shows the generic page', async () => {
    const { url } = await invite({ seamless: true });
    const { context, page } = await phonePage();
    await page.goto(url);
    await page.getByRole('heading', { name: 'Before you install' }).waitFor();
    expect(await page.getByLabel('Passcode').count()).toBe(0);
    expect((await page.locator('header').textContent())?.trim()).toBe(BRAND);
    await snapPhone(page, 'portal-seamless');
    expect((await download(page)).contentType).toBe('application/x-apple-aspen-config');

    const unknown = await page.goto(`${base}/enroll/${'x'.repeat(43)}`);
    expect(unknown!.status()).toBe(404);
    await page.getByRole('heading', { name: 'This link cannot be used' }).waitFor();
    // It names no account, no user, nothing of any request.
    expect((await page.locator('header').textContent())?.trim()).toBe('Device enrollment');
    expect(await page.content()).not.toContain(BRAND);
    await snapPhone(page, 'portal-invalid-link');
    await context.close();
  });

  it('a Mac gets the steps for System Settings', async () => {
    const { url, passcode } = await invite({ platform: 'macos' });
    const { context, page } = await phonePage();
    await page.goto(url);
    await page.getByRole('heading', { name: 'Enroll your Mac' }).waitFor();
    await page.getByLabel('Passcode').fill(passcode);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Before you install' }).waitFor();
    const text = await page.locator('main').innerText();
    expect(text).toContain(`This Mac belongs to ${BRAND}`);
    expect(text).toContain('System Settings ▸ General ▸ Device Management');
    expect(text).toContain('enter your Mac\'s password');
    expect(text).not.toContain('Profile Downloaded');
    await snapPhone(page, 'portal-notice-mac');
    expect((await download(page)).contentType).toBe('application/x-apple-aspen-config');
    await context.close();
  });
});
