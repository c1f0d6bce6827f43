/**
 * Devices ▸ Enrollments in headless Chromium: Bulk Add with good and bad rows, the Request Type
 * "MDM (Apple User Enrollment)" in the list, one request by hand (URL, passcode and QR code shown
 * once), each broken User Enrollment rule listed in the form, resend, delete, a user's requests.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { decodeQr } from '../support/qr.js';
import { apiSession, bodyFits, choose, CHROMIUM, consoleFixture, field, openPage, signIn, snap, WIDTHS } from './browser.js';

/** Snaps the page at every width and checks nothing spills sideways, then goes back to the desktop width. */
async function snapAll(page: Page, name: string, checkFit = true) {
  for (const w of WIDTHS) {
    await page.setViewportSize(w);
    await snap(page, name, w.name);
    if (checkFit) expect(await bodyFits(page), `${name} fits at ${w.name}`).toBe(true);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

/** Picks a user in the form's searchable user field. */
async function pickUser(page: Page, username: string) {
  const dialog = page.getByRole('dialog');
  const input = field(dialog, /^User/);
  await input.fill(username);
  await page.getByRole('option', { name: new RegExp(`^${username}@`) }).click();
}

describe.skipIf(!CHROMIUM)('Devices ▸ Enrollments in Chromium', () => {
  const f = consoleFixture();

  it('Bulk Adds good and bad rows, creates a request by hand, lists broken rules, resends and deletes', async () => {
    const call = await apiSession(f.server.url, f.server.owner.email, f.server.owner.password);
    const ids: Record<string, string> = {};
    for (const [username, maid] of [
      ['alice', 'alice@appleid.example.com'],
      ['bob', 'bob@appleid.example.com'],
      ['carol', null],
      ['dave', 'dave@appleid.example.com'],
      ['frank', null],
    ] as const) {
      const res = await call('POST', '/users', { username, email: `${username}@corp.example`, fullName: `${username[0]!.toUpperCase()}${username.slice(1)} Example`, ...(maid ? { managedAppleId: maid } : {}) });
      expect(res.status, `create ${username}`).toBe(201);
      ids[username] = ((await res.json()) as { id: string }).id;
    }
    // Bob already has a Pending iOS request: his row refreshes it.
    expect((await call('POST', '/enrollment-requests', { username: 'bob', platform: 'ios', ownership: 'employee_owned' })).status).toBe(201);

    const { context, page } = await openPage(f.browser, 'enrollments');
    await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
    await page.getByRole('link', { name: 'Enrollments' }).click();
    await page.waitForURL(/\/enrollments$/);
    await page.getByRole('heading', { name: 'Enrollments' }).waitFor();
    await page.getByTestId('request-row-bob-ios').first().waitFor();

    // ── Bulk Add ──────────────────────────────────────────────────────────────────────────────
    await page.getByRole('button', { name: 'Other Enrollment Options' }).click();
    await page.getByRole('menuitem', { name: 'Bulk Add' }).click();
    const bulk = page.getByRole('dialog', { name: 'Bulk Add' });
    await bulk.getByText('Drop a CSV or TXT file here').waitFor();
    await bulk.getByRole('link', { name: 'Sample file (CSV)' }).waitFor();
    await bulk.getByRole('link', { name: 'Sample file (TXT)' }).waitFor();
    await snapAll(page, 'bulk-add-dialog', false);
    const csv = [
      'Username,Email Address,Platform,Ownership,Enroll Using iOS User Enrollment,Notify,Comments',
      'alice,,iOS,Employee Owned,Yes,None,UE with a MAID', // 2 Created, MDM (Apple User Enrollment)
      'bob,,iPhone,Employee Owned,Yes,Email,', // 3 Refreshed
      'carol,,iOS,Employee Owned,Yes,Email,', // 4 Failed: no MAID
      'erin,erin@corp.example,macOS,Corporate Owned,No,Email,new user', // 5 Created (and the user)
      'frank,,Android,Corporate Owned,No,Email,', // 6 Failed: PLATFORM_NOT_SUPPORTED
      'dave,,macOS,Employee Owned,Yes,Email,', // 7 Failed: UE is iOS only
    ].join('\r\n');
    await bulk.locator('input[type=file]').setInputFiles({ name: 'requests.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await bulk.getByText('Requests added, with rows that failed').waitFor({ timeout: 30_000 });
    const counts = await bulk.getByTestId('job-counts').textContent();
    expect(counts).toContain('Created: 2');
    expect(counts).toContain('Refreshed: 1');
    expect(counts).toContain('Failed: 3');
    const failures = bulk.getByTestId('job-failures');
    await failures.getByText(/UE_REQUIRES_MANAGED_APPLE_ID/).waitFor();
    await failures.getByText(/PLATFORM_NOT_SUPPORTED/).waitFor();
    await failures.getByText(/UE_IOS_ONLY/).waitFor();
    await bulk.getByText(/Rows with Notify None carry their enrollment URL and passcode in the results file/).waitFor();
    await snapAll(page, 'bulk-add-outcome', false);
    const [download] = await Promise.all([page.waitForEvent('download'), bulk.getByRole('link', { name: 'Download results' }).click()]);
    expect(download.suggestedFilename()).toMatch(/\.csv$/);
    await bulk.getByRole('button', { name: 'Done' }).click();

    // The list refreshed: Alice's request is a User Enrollment one; the notices drain.
    const alice = page.getByTestId('request-row-alice-ios');
    await alice.getByText('MDM (Apple User Enrollment)').waitFor();
    await page.getByTestId('request-row-erin-macos').getByText('MDM', { exact: true }).waitFor();
    await page.getByTestId('outbox-strip').waitFor();
    await expect.poll(() => page.getByTestId('outbox-queued').textContent(), { timeout: 20_000 }).toBe('0');
    await snapAll(page, 'enrollments');

    // Filters: Request Type and search.
    await choose(page, page, 'Request Type', 'MDM (Apple User Enrollment)');
    await page.waitForURL(/requestType=MDM/);
    await expect.poll(() => page.getByTestId('requests-range').textContent()).toMatch(/of 2$/); // alice, bob
    await page.getByRole('textbox', { name: 'Search requests' }).fill('ali');
    await expect.poll(() => page.getByTestId('requests-range').textContent()).toMatch(/of 1$/);
    await page.goto(`${f.server.url}/enrollments`);

    // ── One request by hand: each broken rule listed, then a good one ────────────────────────
    await page.getByRole('button', { name: 'Add Device Request' }).click();
    const form = page.getByRole('dialog', { name: 'Add Device Request' });
    await form.getByRole('button', { name: 'Send request' }).waitFor();
    await pickUser(page, 'carol');
    const ue = form.getByRole('switch', { name: 'Enroll using iOS User Enrollment' });
    await expect.poll(() => ue.isDisabled()).toBe(true);
    await form.getByText('Not available: User Enrollment requires the user to have a linked Managed Apple ID').waitFor();

    // Searching while carol is chosen lists the match first; carol stays an option, after it.
    await field(form, /^User/).fill('dave');
    await expect.poll(async () => (await page.getByRole('option').first().textContent()) ?? '').toMatch(/^dave@/);
    await page.getByRole('option', { name: /^dave@/ }).click();
    await expect.poll(() => ue.isDisabled()).toBe(false);
    await ue.click();
    await form.getByText('macOS', { exact: true }).click();
    await choose(page, page.getByRole('dialog'), /^Ownership/, 'Corporate Owned');
    await form.getByRole('switch', { name: 'Seamless enrollment' }).click();
    await choose(page, page.getByRole('dialog'), /^Authentication mode/, /^Local/);
    const issues = form.getByTestId('ue-issues');
    await expect
      .poll(async () => (await issues.locator('[data-code]').evaluateAll((els) => els.map((e) => e.getAttribute('data-code')))).join(' '))
      .toBe('UE_IOS_ONLY UE_NOT_WITH_SEAMLESS UE_REQUIRES_EMPLOYEE_OWNED UE_NOT_WITH_AUTH_OVERRIDE');
    await issues.getByText(/User Enrollment is for iOS devices \(iPhone, iPad\) only/).waitFor();
    expect(await form.getByRole('button', { name: 'Send request' }).isDisabled()).toBe(true);
    await snapAll(page, 'request-form-rules', false);

    await form.getByText('iOS (iPhone, iPad)', { exact: true }).click();
    await choose(page, page.getByRole('dialog'), /^Ownership/, 'Employee Owned');
    await form.getByRole('switch', { name: 'Seamless enrollment' }).click();
    await choose(page, page.getByRole('dialog'), /^Authentication mode/, /^Passcode/);
    await expect.poll(() => issues.count()).toBe(0);
    await form.getByRole('button', { name: 'Send request' }).click();
    const created = page.getByRole('dialog', { name: 'Request created' });
    const url = (await created.getByTestId('secret-url').textContent())!;
    expect(url).toMatch(/^http:\/\/.+\/enroll\/[A-Za-z0-9_-]{22,}$/);
    expect(await created.getByTestId('secret-passcode').textContent()).toMatch(/^[A-Za-z0-9]{8}$/);
    const qr = (await created.getByTestId('secret-qr').getAttribute('src'))!;
    expect(qr).toMatch(/^data:image\/png;base64,/);
    expect(decodeQr(Buffer.from(qr.split(',')[1]!, 'base64')), 'the QR code reads back to the URL').toBe(url);
    await created.getByRole('button', { name: 'Copy url' }).waitFor();
    await created.getByRole('button', { name: 'Copy passcode' }).waitFor();
    await snapAll(page, 'request-created', false);
    await created.getByRole('button', { name: 'Done' }).click();
    await created.waitFor({ state: 'hidden' });
    // Shown once: nowhere on the page any more, and not in what the API lists.
    expect(await page.getByText(url).count()).toBe(0);
    const listed = await (await call('GET', `/enrollment-requests?userId=${ids.dave}`)).text();
    expect(listed).not.toContain(url);
    await page.getByTestId('request-row-dave-ios').getByText('MDM (Apple User Enrollment)').waitFor();

    // ── The server's refusal is listed the same way (the account changed under the open form) ──
    await page.getByRole('button', { name: 'Add Device Request' }).click();
    await form.getByRole('button', { name: 'Send request' }).waitFor();
    await pickUser(page, 'dave');
    await ue.click();
    expect((await call('PATCH', '/account', { defaultAuthMode: 'local' })).status).toBe(200);
    await form.getByRole('button', { name: 'Send request' }).click();
    const refused = form.getByTestId('ue-issues').filter({ hasText: 'Pippin refused User Enrollment' });
    await refused.locator('[data-code="UE_NOT_WITH_AUTH_OVERRIDE"]').waitFor();
    expect((await call('PATCH', '/account', { defaultAuthMode: 'passcode' })).status).toBe(200);
    await page.keyboard.press('Escape');
    await form.waitFor({ state: 'hidden' });

    // A mixed account: the form offers Request mode, and an Activation breaks rules 3 and 8 together.
    expect((await call('PATCH', '/account', { deploymentMode: 'mixed' })).status).toBe(200);
    await page.reload();
    await page.getByRole('button', { name: 'Add Device Request' }).click();
    await form.getByRole('button', { name: 'Send request' }).waitFor();
    await pickUser(page, 'dave');
    await ue.click();
    await choose(page, page.getByRole('dialog'), /^Request mode/, 'SPS Activation');
    await expect
      .poll(async () => (await issues.locator('[data-code]').evaluateAll((els) => els.map((e) => e.getAttribute('data-code')))).join(' '))
      .toBe('UE_NOT_FOR_ACTIVATION UE_MIXED_MODE_REQUIRES_ENROLLMENT');
    expect((await call('PATCH', '/account', { deploymentMode: 'mdm' })).status).toBe(200);
    await page.keyboard.press('Escape');
    await form.waitFor({ state: 'hidden' });

    // ── Resend and delete ────────────────────────────────────────────────────────────────────
    await alice.getByRole('button', { name: /Actions for/ }).click();
    await page.getByRole('menuitem', { name: 'Resend' }).click();
    const resent = page.getByRole('dialog', { name: 'Request resent' });
    expect(await resent.getByTestId('secret-url').textContent()).toMatch(/\/enroll\//);
    await resent.getByRole('button', { name: 'Done' }).click();

    const erin = page.getByTestId('request-row-erin-macos');
    await erin.getByRole('button', { name: /Actions for/ }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete request' });
    await confirm.getByRole('button', { name: 'Delete request' }).click();
    await page.getByText('Request deleted').waitFor();
    await erin.getByTestId('request-status').filter({ hasText: 'Deleted' }).waitFor();

    // ── A user's page lists their requests; Add Device opens the form for them ─────────────────
    await page.goto(`${f.server.url}/users/${ids.alice}`);
    const mine = page.getByTestId('user-requests');
    await mine.getByText('MDM (Apple User Enrollment)').waitFor();
    await snapAll(page, 'user-requests');
    await page.getByRole('button', { name: 'Add Device' }).click();
    await page.getByRole('dialog', { name: 'Add Device for alice' }).waitFor();
    await page.keyboard.press('Escape');

    // Add Device from a directory row, the user already chosen.
    await page.goto(`${f.server.url}/users`);
    await page.getByTestId('user-row-bob').getByRole('button', { name: 'Actions for bob' }).click();
    await page.getByRole('menuitem', { name: 'Add Device' }).click();
    const forBob = page.getByRole('dialog', { name: 'Add Device for bob' });
    expect(await field(forBob, /^User/).inputValue()).toMatch(/^bob@/);
    await page.keyboard.press('Escape');

    // ── Jobs: the Bulk Add with its counts ─────────────────────────────────────────────────────
    await page.goto(`${f.server.url}/jobs`);
    const job = page.getByTestId('job-row-requests.csv');
    await job.getByText('Bulk Add').waitFor();
    expect(await job.getByTestId('job-applied').textContent()).toBe('2 created, 1 refreshed');
    await snapAll(page, 'jobs-bulk-add');
    await context.close();
  });

  it('shows a Failed request with its reason, at both widths', async () => {
    const call = await apiSession(f.server.url, f.server.owner.email, f.server.owner.password);
    expect((await call('POST', '/users', { username: 'gina', email: 'gina@corp.example', phone: '+44 20 7946 0000' })).status).toBe(201);
    const res = await call('POST', '/enrollment-requests', { username: 'gina', platform: 'macos', ownership: 'corporate_owned', notify: 'sms' });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    const { account } = (await (await call('GET', '/session')).json()) as { account: { id: string } };
    // What the outbox sender does once a notice has failed its last retry.
    await f.server.pippin.services.enrollments.notificationFailed(account.id, id, 'the SMS webhook answered 500');
    for (const w of WIDTHS) {
      const { context, page } = await openPage(f.browser, `enrollments-failed-${w.name}`, w.width, w.height);
      await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
      await page.goto(`${f.server.url}/enrollments?status=failed`);
      const row = page.getByTestId('request-row-gina-macos');
      await row.getByTestId('request-status').filter({ hasText: 'Failed' }).waitFor();
      await row.getByTestId('request-status-reason').filter({ hasText: 'the SMS webhook answered 500' }).waitFor();
      expect(await bodyFits(page), `fits at ${w.name}`).toBe(true);
      await snap(page, 'enrollments-failed', w.name);
      await context.close();
    }
  });

  it('offers each role what it may do: helpdesk sends single requests but no Bulk Add; an auditor only reads', async () => {
    const helpdesk = await f.server.createAdmin('helpdesk');
    const auditor = await f.server.createAdmin('auditor');
    {
      const { context, page } = await openPage(f.browser, 'enrollments-helpdesk', 390, 844);
      await signIn(page, f.server.url, helpdesk.email, helpdesk.password);
      await page.goto(`${f.server.url}/enrollments`);
      await page.getByTestId('requests-cards').waitFor();
      await page.getByRole('button', { name: 'Add Device Request' }).waitFor();
      expect(await page.getByRole('button', { name: 'Other Enrollment Options' }).count()).toBe(0);
      // Add Device from a directory card at phone width.
      await page.goto(`${f.server.url}/users`);
      await page.getByTestId('user-row-alice').getByRole('button', { name: 'Actions for alice' }).click();
      await page.getByRole('menuitem', { name: 'Add Device' }).click();
      await page.getByRole('dialog', { name: 'Add Device for alice' }).getByRole('button', { name: 'Send request' }).waitFor();
      await snap(page, 'request-form-helpdesk', '390');
      await context.close();
    }
    {
      const { context, page } = await openPage(f.browser, 'enrollments-auditor');
      await signIn(page, f.server.url, auditor.email, auditor.password);
      await page.goto(`${f.server.url}/enrollments`);
      await page.getByTestId('requests-table').waitFor();
      expect(await page.getByRole('button', { name: 'Add Device Request' }).count()).toBe(0);
      expect(await page.getByRole('button', { name: /Actions for/ }).count()).toBe(0);
      await context.close();
    }
  });
});
