// Reusable pieces for end-to-end tests of the dashboard: Debian's Chromium through Playwright,
// the built dashboard, and screenshots saved as test artifacts (test-results/screenshots/).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DASHBOARD_DIST = path.join(REPO_ROOT, 'dist', 'renderer');
export const SCREENSHOT_DIR = path.join(REPO_ROOT, 'test-results', 'screenshots');
/** With SCREENSHOTS_TO_DOCS=1 the pictures the docs show are written into docs/ too (then committed). */
export const DOCS_DIR = path.join(REPO_ROOT, 'docs');
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Whether the browser tests can run here. Debian's Chromium is used, never Playwright's own
 * download. Absent with REQUIRE_CHROMIUM=1 (CI): an error, so the suite fails loudly instead of
 * passing with the dashboard untested. Absent otherwise: the reason to skip.
 */
export function chromiumSkipReason(): string | null {
  if (existsSync(CHROMIUM_PATH)) return null;
  const why = `Chromium not found at ${CHROMIUM_PATH} (install it with: apt-get install -y chromium, or set CHROMIUM_PATH)`;
  if (process.env.REQUIRE_CHROMIUM === '1') throw new Error(`REQUIRE_CHROMIUM=1 but ${why}`);
  console.warn(`skipping the dashboard end-to-end tests: ${why}`);
  return why;
}

/** The path of Debian's Chromium; throws saying how to install it when it is missing. */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  throw new Error(`Chromium not found at ${CHROMIUM_PATH}; install it with: apt-get install -y chromium`);
}

export interface LaunchedBrowser {
  context: BrowserContext;
  page: Page;
  /** Messages Chromium logged as console errors (CSP violations show up here). */
  consoleErrors: string[];
  close(): Promise<void>;
}

export interface LaunchOptions {
  colorScheme?: 'light' | 'dark';
  viewport?: { width: number; height: number };
  deviceScaleFactor?: number;
}

/** Headless Chromium with a fresh user-data dir, removed on close. */
export async function launchBrowser(opts: LaunchOptions = {}): Promise<LaunchedBrowser> {
  const executablePath = ensureChromium();
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'vllm-gw-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    colorScheme: opts.colorScheme ?? 'light',
    viewport: opts.viewport ?? { width: 1360, height: 900 },
    deviceScaleFactor: opts.deviceScaleFactor ?? 1,
    reducedMotion: 'reduce',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  return {
    context,
    page,
    consoleErrors,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Saves a PNG under test-results/screenshots/<name>.png and returns its path; `docs` names the
 * picture in docs/ it also becomes when SCREENSHOTS_TO_DOCS=1.
 */
export async function screenshot(page: Page, name: string, opts: { fullPage?: boolean; docs?: string } = {}): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  await page.screenshot({
    path: file,
    fullPage: opts.fullPage ?? true,
    animations: 'disabled',
  });
  if (opts.docs && process.env.SCREENSHOTS_TO_DOCS === '1') copyFileSync(file, path.join(DOCS_DIR, opts.docs));
  return file;
}

/**
 * The console errors the page logged that the test did not expect, then forgets them all. A test
 * that provokes an error answer on purpose (a failing start) names it in `allow`; anything else
 * (a CSP violation, a missing favicon, a failed fetch, an exception) fails the test.
 */
export function takeConsoleErrors(b: LaunchedBrowser, allow: readonly RegExp[] = []): string[] {
  const unexpected = b.consoleErrors.filter((m) => !allow.some((re) => re.test(m)));
  b.consoleErrors.length = 0;
  return unexpected;
}

/**
 * Builds the dashboard into `outDir` (default dist/renderer) unless it is there already
 * (`force` rebuilds). Returns the folder.
 */
export async function buildDashboard(opts: { outDir?: string; force?: boolean } = {}): Promise<string> {
  const outDir = opts.outDir ?? DASHBOARD_DIST;
  if (!opts.force && existsSync(path.join(outDir, 'index.html'))) return outDir;
  const { build } = await import('vite');
  await build({
    configFile: path.join(REPO_ROOT, 'renderer', 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
  });
  return outDir;
}

/** A private copy of the dashboard in a temp dir (tests that must not race on dist/). */
export async function buildDashboardToTemp(): Promise<{
  dir: string;
  cleanup(): void;
}> {
  const dir = mkdtempSync(path.join(tmpdir(), 'vllm-gw-ui-'));
  await buildDashboard({ outDir: dir, force: true });
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
