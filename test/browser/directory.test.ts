/** Users ▸ Directory in headless Chromium: the Managed Apple ID column, the Not linked filter, field errors. */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { USER_EXPORT_COLUMNS, USER_TEMPLATE_COLUMNS } from '../../src/directory/file-format.js';
import { workbookRows } from '../support/xlsx.js';
import { bodyFits, CHROMIUM, field, consoleFixture, openPage, signIn, snap, WIDTHS } from './browser.js';

describe.skipIf(!CHROMIUM)('Users ▸ Directory in Chromium', () => {
  const f = consoleFixture();

  it('starts empty, with a way to add the first user', async () => {
    const { context, page } = await openPage(f.browser, 'directory-empty');
    await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
    await page.waitForURL(/\/users$/);
    await page.getByText('No users yet').waitFor();
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'users-empty', w.name);
    }
    await context.close();
  });

  it('adds a user with a MAID, shows it in the column, filters Not linked, and refuses a reused MAID on its field', async () => {
    const { context, page } = await openPage(f.browser, 'directory');
    await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
    await page.goto(`${f.server.url}/users`);

    const addUser = async (u: { username: string; fullName: string; email: string; maid?: string }) => {
      await page.getByRole('button', { name: 'Add user' }).first().click();
      const dialog = page.getByRole('dialog', { name: 'Add user' });
      await field(dialog, /^Username/).fill(u.username);
      await field(dialog, /^Full name/).fill(u.fullName);
      await field(dialog, /^Email/).fill(u.email);
      if (u.maid) await field(dialog, /^Managed Apple ID/).fill(u.maid);
      await dialog.getByRole('button', { name: 'Add user' }).click();
      return dialog;
    };

    await (await addUser({ username: 'jane', fullName: 'Jane Doe', email: 'jane@corp.example.com', maid: 'Jane@AppleID.Example.com' })).waitFor({ state: 'detached' });
    await (await addUser({ username: 'omar', fullName: 'Omar Haddad', email: 'omar@corp.example.com' })).waitFor({ state: 'detached' });

    const jane = page.getByTestId('user-row-jane');
    await jane.getByText('jane@appleid.example.com').waitFor();
    const omar = page.getByTestId('user-row-omar');
    await omar.getByTestId('not-linked').waitFor();
    await expect.poll(() => page.getByTestId('figure-not-linked').textContent()).toBe('1');
    expect(await page.getByTestId('figure-linked').textContent()).toBe('1');
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'users', w.name);
      expect(await bodyFits(page), `directory fits at ${w.name}`).toBe(true);
    }
    await page.setViewportSize({ width: 1280, height: 800 });

    await page.locator('.mantine-SegmentedControl-root').getByText('Not linked', { exact: true }).click();
    await page.waitForURL(/managedAppleId=missing/);
    await jane.waitFor({ state: 'detached' });
    await omar.waitFor();
    await page.locator('.mantine-SegmentedControl-root').getByText('Any', { exact: true }).click();
    await jane.waitFor();

    // Export (bottom right of the list) downloads the users of this view, formula-safe CSV with a BOM.
    await page.getByRole('button', { name: 'Export' }).click();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('menuitem', { name: 'CSV (UTF-8)' }).click()]);
    const csv = fs.readFileSync((await download.path())!);
    expect(csv.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(csv.toString('utf8')).toContain('jane@appleid.example.com');
    expect(download.suggestedFilename()).toMatch(/^users-.*\.csv$/);
    // The same view as Excel: a workbook the import's own reader reads back, header and rows.
    await page.getByRole('button', { name: 'Export' }).click();
    const [excel] = await Promise.all([page.waitForEvent('download'), page.getByRole('menuitem', { name: 'Excel (.xlsx)' }).click()]);
    expect(excel.suggestedFilename()).toMatch(/^users-.*\.xlsx$/);
    const exported = await workbookRows((await excel.path())!);
    expect(exported[0]).toEqual(USER_EXPORT_COLUMNS.map((c) => c.header));
    expect(exported.flat()).toContain('jane@appleid.example.com');
    await page.getByRole('button', { name: 'More' }).click();
    const [template] = await Promise.all([page.waitForEvent('download'), page.getByRole('menuitem', { name: 'Download template (Excel)' }).click()]);
    expect(template.suggestedFilename()).toBe('users-template.xlsx');
    const sample = await workbookRows((await template.path())!);
    expect(sample[0]).toEqual(USER_TEMPLATE_COLUMNS.map((c) => c.header));
    expect(sample).toHaveLength(2);

    // Reusing the MAID (in another case): the server's message sits under the Managed Apple ID field.
    const dialog = await addUser({ username: 'jane2', fullName: 'Jane Two', email: 'jane2@corp.example.com', maid: 'JANE@appleid.example.com' });
    const maidError = dialog.getByText('Managed Apple ID already exists');
    await maidError.waitFor();
    const describedBy = await field(dialog, /^Managed Apple ID/).getAttribute('aria-describedby');
    const errorId = await maidError.getAttribute('id');
    expect(describedBy ?? '').toContain(errorId!);
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'users-maid-exists', w.name);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    // An invalid MAID gets its reason, on the same field.
    await field(dialog, /^Managed Apple ID/).fill('jane..two@appleid.example.com');
    await dialog.getByRole('button', { name: 'Add user' }).click();
    await dialog.getByText(/two dots in a row/).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await context.close();
  });

  it('searches, sorts, opens a user page, edits and deletes with confirmation', async () => {
    const { context, page } = await openPage(f.browser, 'directory-edit');
    await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
    await page.goto(`${f.server.url}/users`);
    await page.getByRole('textbox', { name: 'Search users' }).fill('hadd');
    await page.waitForURL(/q=hadd/);
    await page.getByTestId('user-row-omar').waitFor();
    await page.getByTestId('user-row-jane').waitFor({ state: 'detached' });
    await page.getByRole('textbox', { name: 'Search users' }).fill('');
    await page.getByTestId('user-row-jane').waitFor();
    await page.getByRole('button', { name: /^Username/ }).click();
    await page.waitForURL(/sort=-username/);
    await expect.poll(async () => (await page.locator('[data-testid^="user-row-"]').first().getAttribute('data-testid'))).toBe('user-row-omar');

    await page.getByTestId('user-row-omar').getByRole('link', { name: 'omar' }).click();
    await page.getByRole('heading', { name: 'Omar Haddad' }).waitFor();
    // The authentication type in the form's words, not the stored value.
    await page.getByText('Local', { exact: true }).waitFor();
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'user', w.name);
      expect(await bodyFits(page), `user page fits at ${w.name}`).toBe(true);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByRole('button', { name: 'Edit user' }).click();
    const dialog = page.getByRole('dialog');
    await field(dialog, /^Managed Apple ID/).fill('omar@appleid.example.com');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByText('omar@appleid.example.com').waitFor();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete user' }).click();
    await page.waitForURL(/\/users$/);
    await page.getByTestId('user-row-omar').waitFor({ state: 'detached' });
    await page.getByTestId('user-row-jane').waitFor();
    await context.close();
  });

  it('lets a helpdesk admin read the directory without write controls (Add Device only)', async () => {
    const helpdesk = await f.server.createAdmin('helpdesk');
    const { context, page } = await openPage(f.browser, 'directory-helpdesk');
    await signIn(page, f.server.url, helpdesk.email, helpdesk.password);
    await page.goto(`${f.server.url}/users`);
    await page.getByTestId('user-row-jane').waitFor();
    expect(await page.getByRole('button', { name: 'Add user' }).count()).toBe(0);
    // Helpdesk may send a single enrollment request, so a row's menu offers that, and no edit or delete.
    await page.getByRole('button', { name: 'Actions for jane' }).click();
    await page.getByRole('menuitem', { name: 'Add Device' }).waitFor();
    expect(await page.getByRole('menuitem', { name: /Edit user|Delete/ }).count()).toBe(0);
    await context.close();
  });
});
