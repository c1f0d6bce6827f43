/** The console shell in headless Chromium: sign-in, settings, admins, tokens, audit, sign-out. */
import { describe, expect, it } from 'vitest';
import { apiSession, bodyFits, choose, CHROMIUM, field, consoleFixture, openPage, signIn, snap, WIDTHS } from './browser.js';

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
    // Throttled: the server's own words, as it sends them with 429 and Retry-After (answered here,
    // so the real throttle stays clear for the other tests).
    await page.route('**/api/v1/session', (route) =>
      route.request().method() === 'POST'
        ? route.fulfill({
            status: 429,
            headers: { 'retry-after': '42' },
            contentType: 'application/json',
            body: JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'Too many failed sign-ins: try again in 42 s', details: { retryAfter: 42 } }, requestId: 'r1' }),
          })
        : route.continue(),
    );
    await page.getByLabel(/^Password/).fill('any-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'try again in 42 s' }).waitFor();
    await page.setViewportSize({ width: 390, height: 844 });
    await snap(page, 'login-rate-limited', '390');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.unroute('**/api/v1/session');
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
    await domains.fill('not a domain');
    await domains.press('Enter');
    const refused = page.waitForResponse((r) => r.url().endsWith('/api/v1/account') && r.request().method() === 'PATCH');
    await page.getByRole('button', { name: 'Save settings' }).click();
    expect((await refused).status()).toBe(400);
    // On the field itself: the input is invalid and described by the message, which names the domain.
    await expect.poll(() => domains.getAttribute('aria-invalid')).toBe('true');
    const described = (await domains.getAttribute('aria-describedby')) ?? '';
    const messages = await Promise.all(described.split(' ').filter(Boolean).map((id) => page.locator(`[id="${id}"]`).textContent()));
    expect(messages.join(' ')).toMatch(/not a domain/);
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'settings', w.name);
      expect(await bodyFits(page), `settings fits at ${w.name}`).toBe(true);
    }
    await page.setViewportSize({ width: 1280, height: 800 });

    // A domain another account holds: 409 DOMAIN_CLAIMED, shown on the domains field too.
    const otherEmail = 'owner@other.example';
    await f.server.pippin.services.accounts.createAccount({ name: 'Other Co', ownerEmail: otherEmail, ownerPassword: 'other-password-1' });
    const other = await apiSession(f.server.url, otherEmail, 'other-password-1');
    expect((await other('PATCH', '/account', { managedAppleIdDomains: ['appleid.other.example'] })).status).toBe(200);
    await page.getByRole('button', { name: 'Discard' }).click();
    await domains.fill('appleid.other.example');
    await domains.press('Enter');
    const claimed = page.waitForResponse((r) => r.url().endsWith('/api/v1/account') && r.request().method() === 'PATCH');
    await page.getByRole('button', { name: 'Save settings' }).click();
    const res = await claimed;
    expect(res.status()).toBe(409);
    expect((await res.json()).error.code).toBe('DOMAIN_CLAIMED');
    await expect.poll(() => domains.getAttribute('aria-invalid')).toBe('true');
    await page.getByText(/appleid\.other\.example belongs to another account/).first().waitFor();
    await snap(page, 'settings-domain-claimed', '1280');
    // Editing the field (Backspace takes the last domain off) clears its error.
    await domains.press('Backspace');
    await expect.poll(() => domains.getAttribute('aria-invalid')).not.toBe('true');
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
    await choose(page, dialog, /^Role/, /Helpdesk/);
    await dialog.getByLabel(/^Password/).fill('short');
    await dialog.getByRole('button', { name: 'Add admin' }).click();
    await dialog.getByText('At least 10 characters', { exact: true }).waitFor();
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'admins-add', w.name);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await dialog.getByLabel(/^Password/).fill('helen-password-1');
    await dialog.getByRole('button', { name: 'Add admin' }).click();
    const row = page.getByTestId('admin-row-helen@example.com');
    await row.waitFor();
    await expect(await field(row, 'Role of helen@example.com').inputValue()).toBe('helpdesk');

    await choose(page, row, 'Role of helen@example.com', /auditor/i);
    await expect.poll(() => field(row, 'Role of helen@example.com').inputValue()).toBe('auditor');
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'admins', w.name);
      expect(await bodyFits(page), `admins fits at ${w.name}`).toBe(true);
    }
    await page.setViewportSize({ width: 1280, height: 800 });

    // Disable, then enable again.
    await row.getByRole('button', { name: 'Actions for helen@example.com' }).click();
    await page.getByRole('menuitem', { name: 'Disable' }).click();
    await row.getByText('Disabled', { exact: true }).waitFor();
    await page.getByText('Admin disabled').waitFor();
    await row.getByRole('button', { name: 'Actions for helen@example.com' }).click();
    await page.getByRole('menuitem', { name: 'Enable' }).click();
    await row.getByText('Active', { exact: true }).waitFor();

    // Reset the password: the server's rule on the field, then a new one that signs in.
    await row.getByRole('button', { name: 'Actions for helen@example.com' }).click();
    await page.getByRole('menuitem', { name: 'Reset password' }).click();
    const reset = page.getByRole('dialog', { name: /Reset password/ });
    await reset.getByLabel(/^New password/).fill('short');
    await reset.getByRole('button', { name: 'Reset password' }).click();
    await reset.getByText('At least 10 characters', { exact: true }).waitFor();
    await reset.getByLabel(/^New password/).fill('helen-new-password-2');
    await reset.getByRole('button', { name: 'Reset password' }).click();
    await page.getByText('Password reset', { exact: true }).waitFor();
    await reset.waitFor({ state: 'detached' });
    await apiSession(f.server.url, 'helen@example.com', 'helen-new-password-2');

    // The only owner cannot delete themself: the server's LAST_OWNER message in the dialog.
    const me = page.getByTestId(`admin-row-${f.server.owner.email}`);
    await me.getByRole('button', { name: `Actions for ${f.server.owner.email}` }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('alert').filter({ hasText: 'at least one active owner' }).waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });

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
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: f.server.url });
    await page.getByRole('button', { name: 'Copy token' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'tokens-secret', w.name);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    const api = await fetch(`${f.server.url}/api/v1/account`, { headers: { authorization: `Bearer ${secret}` } });
    expect(api.status).toBe(200);
    await page.getByRole('button', { name: 'Done' }).click();
    const row = page.getByTestId('token-row-HR sync');
    await row.waitFor();
    expect(await page.content()).not.toContain(secret!);
    // The call just made with it shows as its last use ("—" before).
    await expect.poll(async () => (await row.locator('td').nth(5).textContent())?.trim()).not.toBe('—');
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
    await choose(page, page, /^Action/, /admin\.create/i);
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
    await choose(page, page, /^Action/, /user\.delete/i);
    await page.getByText('No events match these filters').waitFor();
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'audit-empty', w.name);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByTestId('audit-row').first().waitFor();

    // An update shows what changed: the role change made in the admins test.
    await choose(page, page, /^Action/, /admin\.update/i);
    await expect.poll(async () => {
      const rows = await page.getByTestId('audit-row').allTextContents();
      return rows.length >= 2 && rows.every((r) => r.includes('admin.update'));
    }).toBe(true);
    await page.getByTestId('audit-row').last().click();
    const changes = page.getByRole('dialog').getByTestId('audit-changes');
    await changes.waitFor();
    expect(await changes.textContent()).toMatch(/role.*helpdesk.*auditor/);
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'audit-changes', w.name);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Clear filters' }).click();

    // By actor: the other admin's events only.
    const helpdesk = await f.server.createAdmin('helpdesk');
    await apiSession(f.server.url, helpdesk.email, helpdesk.password);
    await page.getByLabel('Actor', { exact: true }).fill(helpdesk.email);
    await expect.poll(async () => {
      const rows = await page.getByTestId('audit-row').allTextContents();
      return rows.length > 0 && rows.every((r) => r.includes(helpdesk.email) && r.includes('session.sign_in'));
    }).toBe(true);
    await page.getByLabel('Actor', { exact: true }).fill('');

    // By date range: from next year finds nothing; a start after the end is refused on the field.
    const nextYear = new Date().getFullYear() + 1;
    await page.getByLabel('From', { exact: true }).fill(`${nextYear}-01-01T00:00`);
    await page.getByText('No events match these filters').waitFor();
    await page.getByLabel('To', { exact: true }).fill(`${nextYear - 2}-01-01T00:00`);
    await page.getByText('Must be after From').waitFor();
    await page.getByLabel('From', { exact: true }).fill(`${nextYear - 2}-01-01T00:00`);
    await page.getByLabel('To', { exact: true }).fill(`${nextYear}-01-01T00:00`);
    await page.getByTestId('audit-row').first().waitFor();

    // Load more follows nextCursor: pages of 3 (the request's limit changed on its way out).
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.route('**/api/v1/audit?*', (route) => {
      const url = new URL(route.request().url());
      url.searchParams.set('limit', '3');
      return route.continue({ url: url.toString() });
    });
    await page.reload();
    await expect.poll(() => page.getByTestId('audit-row').count()).toBe(3);
    await page.getByRole('button', { name: 'Load more' }).click();
    await expect.poll(() => page.getByTestId('audit-row').count()).toBe(6);
    expect(await page.getByRole('button', { name: 'Load more' }).isVisible()).toBe(true);
    await page.unroute('**/api/v1/audit?*');
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
    expect(await page.getByLabel(/^Account name/).isEditable()).toBe(false);
    expect(await field(page, /^Managed Apple ID domains/).isEditable()).toBe(false);
    expect(await page.getByRole('button', { name: /^Save/ }).count()).toBe(0);
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'settings-read-only', w.name);
      expect(await bodyFits(page), `read-only settings fit at ${w.name}`).toBe(true);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(await page.getByRole('link', { name: 'Admins' }).count()).toBe(0);
    await page.goto(`${f.server.url}/admins`);
    await page.getByRole('alert').filter({ hasText: 'You do not have access' }).waitFor();
    expect(await page.getByRole('button', { name: 'Add admin' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Try again' }).count()).toBe(0);
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

    // A failed load: the server's message and a retry that works once the server does.
    await page.route('**/api/v1/tokens?*', (route) =>
      route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'The database is not reachable' }, requestId: 'r2' }) }),
    );
    await page.reload();
    await page.getByRole('alert').filter({ hasText: 'The database is not reachable' }).waitFor({ timeout: 20_000 });
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'error-load', w.name);
    }
    await page.unroute('**/api/v1/tokens?*');
    await page.getByRole('button', { name: 'Try again' }).click();
    await page.getByRole('button', { name: 'Create token' }).first().waitFor();
    await page.getByRole('alert').filter({ hasText: 'The database is not reachable' }).waitFor({ state: 'detached' });

    // The session ends underneath (cookie gone): the next request's 401 leads to sign-in, and back.
    await context.clearCookies();
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.waitForURL(/\/login\?next=%2Faudit/);
    await page.getByLabel(/^Email/).fill(f.server.owner.email);
    await page.getByLabel(/^Password/).fill(f.server.owner.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/audit$/);
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login/);
    await page.goto(`${f.server.url}/settings`);
    await page.waitForURL(/\/login/);
    await context.close();
  });
});
