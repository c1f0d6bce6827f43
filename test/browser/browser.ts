/**
 * Headless Chromium (Debian's, never a downloaded one) driving the real console, with screenshots
 * of each page at both widths kept in test-artifacts/, and one on every failure.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, inject, onTestFailed } from 'vitest';
import { startTestServer } from '../support/server.js';

export const CHROMIUM = inject('chromiumPath');
export const ARTIFACTS = path.resolve('test-artifacts');
export const WIDTHS = [
  { name: '1280', width: 1280, height: 800 },
  { name: '390', width: 390, height: 844 },
] as const;

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** A fresh context and page at a width; a failing test leaves a full-page screenshot named after it. */
export async function openPage(browser: Browser, testName: string, width = 1280, height = 800): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  onTestFailed(async () => {
    const dir = path.join(ARTIFACTS, 'failures');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${testName.replace(/[^a-z0-9-]+/gi, '-')}-${width}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    if (errors.length) fs.writeFileSync(file.replace(/\.png$/, '.errors.txt'), errors.join('\n'));
    console.error(`failure screenshot: ${file}`);
  });
  return { context, page };
}

/** Saves test-artifacts/screenshots/<name>-<width>.png. */
export async function snap(page: Page, name: string, width: string): Promise<void> {
  const dir = path.join(ARTIFACTS, 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  // Still pictures: no transition caught half-way after a resize, and the page from its top.
  await page.addStyleTag({ content: '*, *::before, *::after { transition: none !important; animation: none !important; }' }).catch(() => undefined); // a page's CSP may forbid it
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(dir, `${name}-${width}.png`), fullPage: true, animations: 'disabled' });
}

export async function signIn(page: Page, base: string, email: string, password: string): Promise<void> {
  await page.goto(`${base}/login`);
  await page.getByLabel(/^Email/).fill(email);
  await page.getByLabel(/^Password/).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

/** The page body is no wider than the viewport (nothing spills sideways on a phone). */
export async function bodyFits(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1);
}

/** The input labelled so (Mantine also labels its option lists, which a plain getByLabel would match too). */
export function field(scope: Page | Locator, label: string | RegExp): Locator {
  return scope.getByLabel(label).and(scope.locator('input'));
}

/** A listening Pippin and a Chromium for one test file, started before its tests and closed after. */
export function consoleFixture(): { server: Awaited<ReturnType<typeof startTestServer>>; browser: Browser } {
  const f = {} as { server: Awaited<ReturnType<typeof startTestServer>>; browser: Browser };
  beforeAll(async () => {
    f.server = await startTestServer();
    f.browser = await launch();
  });
  afterAll(async () => {
    await f.browser?.close();
    await f.server?.close();
  });
  return f;
}
