/** Bulk Import Users in headless Chromium: the dialog, progress, outcome, results, and the Jobs page. */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bodyFits, CHROMIUM, consoleFixture, openPage, signIn, snap, WIDTHS } from './browser.js';

describe.skipIf(!CHROMIUM)('Bulk Import Users in Chromium', () => {
  const f = consoleFixture();

  it('imports a file with good and bad rows, shows the outcome and failures, and lists the job', async () => {
    const { context, page } = await openPage(f.browser, 'bulk-import');
    await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
    await page.goto(`${f.server.url}/users`);
    await page.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menuitem', { name: 'Bulk Import Users' }).click();
    const dialog = page.getByRole('dialog', { name: 'Bulk Import Users' });
    await dialog.getByText('Drop a CSV, TXT or Excel file here').waitFor();
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'import-dialog', w.name);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    const rows = ['Username,Email Address,Full Name,Managed Apple ID'];
    for (let i = 0; i < 40; i++) rows.push(`emp${i},emp${i}@corp.example,Employee ${i},emp${i}@appleid.example.com`);
    rows.push('bad,bad@corp.example,Bad Maid,bad..maid@appleid.example.com');
    rows.push('dup,dup@corp.example,Dup Maid,emp3@appleid.example.com');
    await dialog.locator('input[type=file]').setInputFiles({ name: 'staff.csv', mimeType: 'text/csv', buffer: Buffer.from(rows.join('\n')) });
    await dialog.getByText('Imported, with rows that failed').waitFor({ timeout: 30_000 });
    const counts = await dialog.getByTestId('job-counts').textContent();
    expect(counts).toContain('Created: 40');
    expect(counts).toContain('Failed: 2');
    const failures = dialog.getByTestId('job-failures');
    await failures.getByText('MAID_INVALID').waitFor();
    await failures.getByText('Managed Apple ID already exists (row 5)').waitFor();
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'import-outcome', w.name);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    const [download] = await Promise.all([page.waitForEvent('download'), dialog.getByRole('link', { name: 'Download results' }).click()]);
    const results = fs.readFileSync((await download.path())!, 'utf8');
    expect(results).toContain('Row,Result,Code,Message');
    expect(results.split('\n').filter((l) => l.includes(',Created,')).length).toBe(40);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await page.getByTestId('figure-users').filter({ hasText: '40' }).waitFor();

    await page.getByRole('link', { name: 'Jobs' }).click();
    const row = page.getByTestId('job-row-staff.csv');
    await row.getByText('succeeded').waitFor();
    for (const w of WIDTHS) {
      await page.setViewportSize(w);
      await snap(page, 'jobs', w.name);
      expect(await bodyFits(page), `jobs fits at ${w.name}`).toBe(true);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await row.click();
    await page.getByRole('dialog', { name: 'staff.csv' }).getByTestId('job-counts').waitFor();
    await context.close();
  });

  it('shows a refused file with its reason and line, changing nothing', async () => {
    const { context, page } = await openPage(f.browser, 'bulk-import-refused');
    await signIn(page, f.server.url, f.server.owner.email, f.server.owner.password);
    await page.goto(`${f.server.url}/users`);
    await page.getByRole('button', { name: 'More' }).click();
    await page.getByRole('menuitem', { name: 'Bulk Import Users' }).click();
    const dialog = page.getByRole('dialog', { name: 'Bulk Import Users' });
    await dialog.locator('input[type=file]').setInputFiles({ name: 'broken.csv', mimeType: 'text/csv', buffer: Buffer.from('Username,Email Address\nx1,a@b.example\nx2,"open\n') });
    await dialog.getByText('The file was refused; nothing was changed').waitFor({ timeout: 30_000 });
    await dialog.getByText(/never closed/).waitFor();
    // No row was applied: no counts of nothing, no results file to download.
    expect(await dialog.getByTestId('job-counts').count()).toBe(0);
    expect(await dialog.getByRole('link', { name: 'Download results' }).count()).toBe(0);
    await snap(page, 'import-refused', '1280');
    await dialog.getByRole('button', { name: 'Done' }).click();
    // The Jobs page lists it as failed, without a Results link.
    await page.goto(`${f.server.url}/jobs`);
    const row = page.getByTestId('job-row-broken.csv');
    await row.getByText('failed').waitFor();
    expect(await row.getByRole('link', { name: 'Results' }).count()).toBe(0);
    await context.close();
  });
});
