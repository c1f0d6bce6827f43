/** Settings ▸ Apple in headless Chromium: the push certificate's upload and status, and the test-topic banner. */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer } from '../support/server.js';
import { makeP12, makePushCertificate } from '../support/push-cert.js';
import { bodyFits, CHROMIUM, consoleFixture, launch, openPage, signIn, snap, WIDTHS } from './browser.js';

describe.skipIf(!CHROMIUM)('Settings ▸ Apple in Chromium', () => {
  const f = consoleFixture();

  it('uploads a .p12 (a wrong password first), shows its topic, subject and expiry; warns 30 days ahead and in red once expired', async () => {
    const pair = makePushCertificate();
    const { context, page } = await openPage(f.browser, 'apple-push-certificate');
    await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
    // No test topic here: no banner.
    await page.getByTestId('account-name').waitFor();
    expect(await page.getByTestId('test-topic-banner').count()).toBe(0);

    await page.goto(`${f.server.url}/settings`);
    const card = page.getByTestId('apple-setup-card');
    await card.getByText('No push certificate').waitFor();
    await card.getByRole('link', { name: 'Apple setup' }).click();
    await page.waitForURL(/\/settings\/apple$/);
    await page.getByText('No push certificate is uploaded: Pippin serves no enrollment profiles').waitFor();

    const p12 = makeP12(pair, 'Keychain pw', { legacy: true });
    await page.getByTestId('push-p12-file').setInputFiles({ name: 'MDM_Pippin_Certificate.p12', mimeType: 'application/x-pkcs12', buffer: p12 });
    await page.getByLabel('Password', { exact: true }).fill('not it');
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await expect.poll(() => page.getByTestId('push-upload-error').textContent()).toBe('The password of the .p12 file is wrong');

    await page.getByLabel('Password', { exact: true }).fill('Keychain pw');
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.getByTestId('push-topic').getByText(pair.topic).waitFor();
    expect(await page.getByTestId('push-subject').textContent()).toContain(`UID=${pair.topic}`);
    expect(await page.getByTestId('push-expiry-badge').textContent()).toMatch(/^Valid, 36[45] days left$/);
    expect(await page.getByTestId('push-upload-error').count()).toBe(0);
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'settings-apple', w.name);
      expect(await bodyFits(page), `Settings ▸ Apple fits at ${w.name}`).toBe(true);
    }
    await page.setViewportSize({ width: 1280, height: 800 });

    // A renewal as PEM files, ten days from expiry: the yellow warning.
    const renewal = makePushCertificate({ uid: pair.topic, days: 10 });
    await page.getByText('PEM certificate and key').click();
    await page.getByTestId('push-cert-file').setInputFiles({ name: 'MDM_Pippin_Certificate.pem', mimeType: 'application/x-pem-file', buffer: Buffer.from(renewal.certificatePem) });
    // A key of another certificate first: refused, the message shown.
    await page.getByTestId('push-key-file').setInputFiles({ name: 'other.key', mimeType: 'application/x-pem-file', buffer: Buffer.from(makePushCertificate().privateKeyPem) });
    await page.getByRole('button', { name: 'Upload renewal' }).click();
    await page.getByTestId('push-upload-error').getByText(/does not belong to this certificate/).waitFor();
    await page.getByTestId('push-key-file').setInputFiles({ name: 'push.key', mimeType: 'application/x-pem-file', buffer: Buffer.from(renewal.privateKeyPem) });
    await page.getByRole('button', { name: 'Upload renewal' }).click();
    await page.getByTestId('push-expiry-warning').waitFor();
    expect(await page.getByTestId('push-expiry-badge').textContent()).toMatch(/^Expires in (9|10) days$/);
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'settings-apple-expiring', w.name);
    }
    await page.setViewportSize({ width: 1280, height: 800 });

    // Once past its expiry (moved there in the database): red.
    await f.server.pippin.db.system('operator command', (tx) => tx.updateTable('push_certificates').set({ not_after: new Date(Date.now() - 86_400_000).toISOString() }).execute());
    await page.reload();
    await expect.poll(() => page.getByTestId('push-expiry-badge').textContent()).toBe('Expired');
    await page.getByRole('alert').getByText(/This certificate expired on/).waitFor();
    await snap(page, 'settings-apple-expired', '1280');
    await context.close();
  });

  it('shows an admin the status without the upload form', async () => {
    const admin = await f.server.createAdmin('admin');
    const { context, page } = await openPage(f.browser, 'apple-admin');
    await signIn(page, f.server.url, admin.email, admin.password);
    await page.goto(`${f.server.url}/settings/apple`);
    await page.getByTestId('push-status').waitFor();
    await page.getByText('Only owners can upload or renew the push certificate. You can read it.').waitFor();
    expect(await page.getByTestId('push-p12-file').count()).toBe(0);
    await context.close();
  });
});

describe.skipIf(!CHROMIUM)('the test-topic banner in Chromium (PIPPIN_ALLOW_TEST_TOPIC=true)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let browser: Browser;
  beforeAll(async () => {
    server = await startTestServer({ env: { PIPPIN_ALLOW_TEST_TOPIC: 'true' } });
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('says in red across every page that profiles use a test topic, until a certificate is uploaded', async () => {
    const { context, page } = await openPage(browser, 'apple-test-topic');
    await signIn(page, server.url, server.owner.email, server.owner.password);
    const banner = page.getByTestId('test-topic-banner');
    await banner.waitFor();
    expect(await banner.textContent()).toMatch(/Test push topic in use.*real devices cannot be reached/);
    expect(await banner.textContent()).toMatch(/com\.apple\.mgmt\.External\.[0-9a-f-]{36}/);
    expect(await banner.evaluate((el) => getComputedStyle(el).backgroundColor)).toMatch(/^rgb\((2[0-9]{2}), (\d+), (\d+)\)$/);
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'test-topic-banner', w.name);
      expect(await bodyFits(page), `the banner fits at ${w.name}`).toBe(true);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${server.url}/enrollments`);
    await banner.waitFor();

    await banner.getByRole('link', { name: 'Upload the push certificate' }).click();
    await page.waitForURL(/\/settings\/apple$/);
    const pair = makePushCertificate();
    await page.getByTestId('push-p12-file').setInputFiles({ name: 'push.p12', mimeType: 'application/x-pkcs12', buffer: makeP12(pair, '') });
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.getByTestId('push-topic').getByText(pair.topic).waitFor();
    await banner.waitFor({ state: 'detached' });
    await context.close();
  });
});
