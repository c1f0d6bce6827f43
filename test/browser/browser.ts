/**
 * Headless Chromium (Debian's, never a downloaded one) driving the real console, with screenshots
 * of each page at both widths kept in test-artifacts/, and one on every failure.
 */
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, onTestFailed, vi } from 'vitest';
import { startTestServer } from '../support/server.js';

// A browser scenario drives many pages against a real server; on a loaded 2-core machine it needs
// more than the unit tests' 30 s (never a timing assertion: only a ceiling on a hung page).
vi.setConfig({ testTimeout: 120_000 });

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
  // Still pictures: no transition caught half-way after a resize, and the page from its top. Toasts
  // are transient and would cover the header, so the picture leaves them out (only for the picture).
  const style = await page
    .addStyleTag({ content: '*, *::before, *::after { transition: none !important; animation: none !important; } .mantine-Notifications-root { display: none !important; }' })
    .catch(() => undefined); // a page's CSP may forbid it
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(dir, `${name}-${width}.png`), fullPage: true, animations: 'disabled' });
  await style?.evaluate((el) => (el as Element).remove()).catch(() => undefined);
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

/**
 * Picks an option of the Mantine Select labelled so, inside scope. A string names the option
 * exactly; a pattern matches it. A click that lands while the layout is still moving (just after a
 * viewport change, say) can miss the select, so its list is opened again until it shows.
 */
export async function choose(page: Page, scope: Page | Locator, label: string | RegExp, option: string | RegExp): Promise<void> {
  const input = field(scope, label);
  const wanted = page.getByRole('option', typeof option === 'string' ? { name: option, exact: true } : { name: option });
  for (let tries = 1; ; tries++) {
    if ((await input.getAttribute('aria-expanded')) !== 'true') await input.click();
    try {
      await wanted.waitFor({ state: 'visible', timeout: 3_000 });
      break;
    } catch (e) {
      if (tries === 4) throw e;
    }
  }
  await wanted.click();
}

/** A listening Pippin and a Chromium for one test file, started before its tests and closed after. */
export function consoleFixture(): { server: Awaited<ReturnType<typeof startTestServer>>; browser: Browser } {
  const f = {} as { server: Awaited<ReturnType<typeof startTestServer>>; browser: Browser };
  beforeAll(async () => {
    // The global setup builds the console when it is missing; a run without it (another config) still gets one.
    if (!fs.existsSync('dist/console/index.html')) execSync('npx vite build --config console/vite.config.ts', { stdio: 'inherit' });
    f.server = await startTestServer();
    f.browser = await launch();
  });
  afterAll(async () => {
    await f.browser?.close();
    await f.server?.close();
  });
  return f;
}

/** Signs in over HTTP (no browser) and returns a caller for the JSON API with the session cookie and CSRF token. */
export async function apiSession(base: string, email: string, password: string) {
  const res = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  if (res.status !== 200) throw new Error(`sign-in of ${email} failed: ${res.status} ${await res.text()}`);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('pippin_session='))!.split(';')[0]!;
  const { csrfToken } = (await res.json()) as { csrfToken: string };
  return (method: string, path: string, body?: unknown) =>
    fetch(`${base}/api/v1${path}`, {
      method,
      headers: { cookie, 'x-csrf-token': csrfToken, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
}

/** A device page's privacy panel for a User Enrollment: what the organisation can and cannot see. */
export async function expectUserEnrollmentPrivacy(page: Page): Promise<void> {
  const privacy = page.getByTestId('device-privacy');
  expect(await privacy.getAttribute('data-kind')).toBe('user-enrollment');
  await privacy.getByRole('heading', { name: 'What the organisation can and cannot see' }).waitFor();
  const canSee = (await privacy.getByTestId('privacy-can').textContent())!;
  for (const s of ['work apps and data', 'Managed Apple Account', 'OS version and model']) expect(canSee).toContain(s);
  const cannotSee = (await privacy.getByTestId('privacy-cannot').textContent())!;
  for (const s of ['serial number or UDID', 'Personal apps', 'Photos', 'Messages', 'Location', 'Browsing history']) expect(cannotSee).toContain(s);
}
