/** The console shell in headless Chromium: sign-in, settings, admins, tokens, audit, sign-out. */
import { describe, expect, it } from 'vitest';
import { bodyFits, CHROMIUM, field, consoleFixture, openPage, signIn, snap, WIDTHS } from './browser.js';

describe.skipIf(!CHROMIUM)('console shell in Chromium', () => {
  const f = consoleFixture();

  it('refuses a wrong password with the server message, then signs in', async () => {
    const { context, page } = await openPage(f.browser, 'sign-in');
    await page.goto(`${f.server.url}/settings`);
    await page.waitForURL(/\/login\?next=/);
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'login', w.name);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByLabel(/^Email/).fill(f.server.owner.email);
    await page.getByLabel(/^Password/).fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Email or password is incorrect' }).waitFor();
    await page.getByLabel(/^Password/).fill(f.server.owner.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/settings$/);
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    await context.close();
  });

  it('changes the account name, which persists after a reload, and shows a field error from the server', async () => {
    const { context, page } = await openPage(f.browser, 'settings');
    await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
    await page.goto(`${f.server.url}/settings`);
    const name = page.getByLabel(/^Account name/);
    await name.fill('Acme Corp');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings saved').waitFor();
    await page.reload();
    await expect(await page.getByLabel(/^Account name/).inputValue()).toBe('Acme Corp');
    await page.getByTestId('account-name').filter({ hasText: 'Acme Corp' }).waitFor();

    const domains = field(page, /^Managed Apple ID domains/);
    await domains.fill('not-a-domain');
    await domains.press('Enter');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText(/not a fully qualified domain/).waitFor();
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'settings', w.name);
      expect(await bodyFits(page), `settings fits at ${w.name}`).toBe(true);
    }
    await context.close();
  });

  it('adds an admin, changes their role, and deletes them', async () => {
    const { context, page } = await openPage(f.browser, 'admins');
    await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
    await page.getByRole('link', { name: 'Admins' }).click();
    await page.getByRole('heading', { name: 'Admins' }).waitFor();
    await page.getByRole('button', { name: 'Add admin' }).first().click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel(/^Email/).fill('helen@example.com');
    await field(dialog, /^Role/).click();
    await page.getByRole('option', { name: /Helpdesk/ }).click();
    await dialog.getByLabel(/^Password/).fill('short');
    await dialog.getByRole('button', { name: 'Add admin' }).click();
    await dialog.getByText('At least 10 characters', { exact: true }).waitFor();
    await dialog.getByLabel(/^Password/).fill('helen-password-1');
    await dialog.getByRole('button', { name: 'Add admin' }).click();
    const row = page.getByTestId('admin-row-helen@example.com');
    await row.waitFor();
    await expect(await field(row, 'Role of helen@example.com').inputValue()).toBe('helpdesk');

    await field(row, 'Role of helen@example.com').click();
    await page.getByRole('option', { name: 'auditor' }).click();
    await expect.poll(() => field(row, 'Role of helen@example.com').inputValue()).toBe('auditor');
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'admins', w.name);
      expect(await bodyFits(page), `admins fits at ${w.name}`).toBe(true);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await row.getByRole('button', { name: 'Actions for helen@example.com' }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached' });
    await context.close();
  });

  it('creates an API token shown once, and revokes it', async () => {
    const { context, page } = await openPage(f.browser, 'tokens');
    await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
    await page.goto(`${f.server.url}/tokens`);
    await page.getByText('No API tokens').waitFor();
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'tokens-empty', w.name);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByRole('button', { name: 'Create token' }).first().click();
    await page.getByRole('dialog').getByLabel(/^Name/).fill('HR sync');
    await page.getByRole('dialog').getByRole('button', { name: 'Create token' }).click();
    const secret = await page.getByTestId('new-token').textContent();
    expect(secret).toMatch(/^pip_/);
    await page.getByText('will not be shown again').waitFor();
    const api = await fetch(`${f.server.url}/api/v1/account`, { headers: { authorization: `Bearer ${secret}` } });
    expect(api.status).toBe(200);
    await page.getByRole('button', { name: 'Done' }).click();
    const row = page.getByTestId('token-row-HR sync');
    await row.waitFor();
    expect(await page.content()).not.toContain(secret!);
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'tokens', w.name);
      expect(await bodyFits(page), `tokens fits at ${w.name}`).toBe(true);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await row.waitFor({ state: 'detached' });
    expect((await fetch(`${f.server.url}/api/v1/account`, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(401);
    await context.close();
  });

  it('shows the audit events just made, filters by action, and opens one', async () => {
    const { context, page } = await openPage(f.browser, 'audit');
    await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
    await page.goto(`${f.server.url}/audit`);
    await page.getByTestId('audit-row').first().waitFor();
    await field(page, /^Action/).click();
    await page.getByRole('option', { name: 'admin.create' }).click();
    await expect.poll(async () => {
      const rows = await page.getByTestId('audit-row').allTextContents();
      return rows.length > 0 && rows.every((r) => r.includes('admin.create'));
    }).toBe(true);
    await page.getByTestId('audit-row').first().click();
    const drawer = page.getByRole('dialog');
    await drawer.getByText('After').waitFor();
    await expect(await drawer.textContent()).toContain('helen@example.com');
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'audit-event', w.name);
    }
    await page.keyboard.press('Escape');
    await field(page, /^Action/).click();
    await page.getByRole('option', { name: 'user.delete' }).click();
    await page.getByText('No events match these filters').waitFor();
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'audit-empty', w.name);
    }
    await field(page, /^Action/).click();
    await page.keyboard.press('Escape');
    await context.close();
    const { context: c2, page: p2 } = await openPage(f.browser, 'audit-full');
    await signIn(p2, f.server.url, f.server.owner.email, f.server.owner.password);
    await p2.goto(`${f.server.url}/audit`);
    await p2.getByTestId('audit-row').first().waitFor();
    for (const w of WIDTHS) {
      await p2.setViewportSize(w);
      await snap(p2, 'audit', w.name);
      expect(await bodyFits(p2), `audit fits at ${w.name}`).toBe(true);
    }
    await c2.close();
  });

  it('renders the OpenAPI document at /api/docs', async () => {
    const { context, page } = await openPage(f.browser, 'api-docs');
    await page.goto(`${f.server.url}/api/docs`);
    await page.getByText('Pippin API').first().waitFor();
    await page.getByText('/api/v1/users/summary').first().waitFor();
    await snap(page, 'api-docs', '1280');
    await context.close();
  });

  it('shows a non-owner read-only settings and no Admins page', async () => {
    const admin = await f.server.createAdmin('admin');
    const { context, page } = await openPage(f.browser, 'non-owner');
    await signIn(page, f.server.url, admin.email, admin.password);
    await page.goto(`${f.server.url}/settings`);
    await page.getByText('Only owners can change the account settings').waitFor();
    expect(await page.getByLabel(/^Account name/).isDisabled()).toBe(true);
    expect(await page.getByRole('link', { name: 'Admins' }).count()).toBe(0);
    await page.goto(`${f.server.url}/admins`);
    await page.getByRole('alert').filter({ hasText: 'You do not have access' }).waitFor();
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'error-forbidden', w.name);
    }
    await context.close();
  });

  it('shows a friendly page for an unknown path, the loading state, a narrow-screen menu, and signs out', async () => {
    const { context, page } = await openPage(f.browser, 'not-found-and-sign-out', 390, 844);
    await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
    await page.goto(`${f.server.url}/no/such/page`);
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();
    await snap(page, 'not-found', '390');
    await page.setViewportSize({ width: 1280, height: 800 });
    await snap(page, 'not-found', '1280');
    // Loading: hold the audit list's answer back and look at the page meanwhile.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await page.route('**/api/v1/audit?*', async (route) => {
      await held;
      await route.continue();
    });
    await page.goto(`${f.server.url}/audit`);
    await page.getByLabel('Loading').first().waitFor();
    await snap(page, 'audit-loading', '1280');
    release();
    await page.getByTestId('audit-row').first().waitFor();
    await page.unroute('**/api/v1/audit?*');
    // Narrow screens: the navigation opens from the burger.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('button', { name: 'Toggle navigation' }).click();
    await page.getByRole('link', { name: 'API tokens' }).click();
    await page.getByRole('heading', { name: 'API tokens' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login/);
    await page.goto(`${f.server.url}/settings`);
    await page.waitForURL(/\/login/);
    await context.close();
  });
});
