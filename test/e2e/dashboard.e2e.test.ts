// Component-level end-to-end test of the dashboard in Debian's Chromium: the built app served by
// the real registerUi() (with its CSP), against a fake gateway backend (status, SSE, load/unload,
// logs). The real-gateway end-to-end test reuses helpers.ts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGateway, type FakeGateway } from './fake-gateway.js';
import { buildDashboardToTemp, chromiumSkipReason, launchBrowser, screenshot, takeConsoleErrors, type LaunchedBrowser } from './helpers.js';
import { START_FAILURE } from './sample-status.js';

// Skips (saying why) without Chromium; with REQUIRE_CHROMIUM=1 (CI) a missing Chromium throws here.
const SKIP = chromiumSkipReason();

let ui: { dir: string; cleanup(): void };
let gw: FakeGateway;
const browsers: LaunchedBrowser[] = [];
/** Console errors a test provokes on purpose (the browser logs every 4xx/5xx answer as one). */
let allowedConsoleErrors: RegExp[] = [];

async function open(opts: { colorScheme?: 'light' | 'dark'; token?: boolean; path?: string } = {}): Promise<LaunchedBrowser> {
  const b = await launchBrowser({ colorScheme: opts.colorScheme ?? 'light' });
  browsers.push(b);
  const hash = opts.token === false ? '' : `#token=${gw.adminToken}`;
  await b.page.goto(`${gw.url}${opts.path ?? '/ui/'}${hash}`);
  await b.page.getByRole('group', { name: 'qwen2.5-7b-instruct' }).waitFor();
  return b;
}

function cspErrors(b: LaunchedBrowser): string[] {
  return b.consoleErrors.filter((m) => /Content Security Policy|Refused to/i.test(m));
}

describe.skipIf(SKIP !== null)(`dashboard at /ui (fake backend)${SKIP ? ` — skipped: ${SKIP}` : ''}`, () => {
  beforeAll(async () => {
    ui = await buildDashboardToTemp();
    gw = await startFakeGateway({
      distDir: ui.dir,
      // Long enough that a loaded machine's page still sees `starting` before `ready`.
      startMs: 2500,
      failOnLoad: { 'phi-4-mini': START_FAILURE },
    });
  }, 120_000);

  // Any console error fails the test that caused it: CSP violations, a missing favicon, failed fetches.
  // Each test's browser is closed after it: Chromiums left open would all re-render on every status
  // push and load the machine under the next test's timings.
  afterEach(async () => {
    const errors = browsers.flatMap((b) => takeConsoleErrors(b, allowedConsoleErrors));
    allowedConsoleErrors = [];
    for (const b of browsers.splice(0)) await b.close();
    expect(errors).toEqual([]);
  });

  afterAll(async () => {
    for (const b of browsers) await b.close();
    await gw?.close();
    ui?.cleanup();
  });

  it('renders GPUs and models, takes the token out of the URL, and breaks no CSP rule (light)', async () => {
    const b = await open({ colorScheme: 'light' });
    const { page } = b;
    expect(page.url()).not.toContain('token');
    expect(await page.evaluate(() => sessionStorage.getItem('vllm-gateway.adminToken'))).toBe(gw.adminToken);

    const meters = page.getByRole('meter', { name: /GiB used$/ });
    await expect.poll(() => meters.count()).toBe(2);
    await page.getByRole('meter', { name: 'NVIDIA H200: 59.9 of 140.4 GiB used' }).waitFor();
    for (const state of ['ready', 'starting', 'pulling', 'failed', 'stopped']) {
      await page.getByRole('group').getByText(state, { exact: true }).first().waitFor();
    }
    await page
      .getByRole('group', { name: 'phi-4-mini' })
      .getByText(/max seq len \(131072\)/)
      .waitFor();
    await page.getByRole('button', { name: 'Warm gemma-3-27b' }).waitFor();
    await page.getByRole('button', { name: 'Evict qwen2.5-7b-instruct' }).waitFor();
    await page.getByRole('table').getByText('/v1/embeddings').waitFor();

    // The page declares its icon: the browser fetches that, never /favicon.ico (a 404 each load).
    const icon = await page.evaluate(async () => {
      const href = document.querySelector<HTMLLinkElement>('link[rel="icon"]')?.href ?? '';
      return { href, status: href ? (await fetch(href)).status : 0 };
    });
    expect(icon.href).toMatch(new RegExp(`^${gw.url}/ui/assets/icon-256-[\\w-]+\\.png$`));
    expect(icon.status).toBe(200);
    expect(gw.calls.some((c) => c.url === '/favicon.ico')).toBe(false);

    console.log('screenshot:', await screenshot(page, 'dashboard-light', { docs: 'dashboard.png' }));
    expect(cspErrors(b)).toEqual([]);
  });

  it('engine figures and charts: tokens/s, KV cache, saturation, the last 5 minutes', async () => {
    const b = await open({ colorScheme: 'light' });
    const { page } = b;
    const llama = page.getByRole('group', { name: 'llama-3.1-70b-instruct' });
    await llama.getByLabel('llama-3.1-70b-instruct generation: 413 tokens per second').waitFor();
    await llama.getByRole('meter', { name: 'llama-3.1-70b-instruct KV cache: 97.8% used' }).waitFor();
    await llama
      .getByRole('status')
      .getByText(/Saturated:/)
      .waitFor();
    await page.getByRole('heading', { name: 'Activity' }).waitFor();
    const chart = page.getByRole('img', { name: /^Generation tokens per second over the last minutes: / });
    await expect.poll(() => chart.locator('path').count()).toBe(3);
    await llama.getByRole('img', { name: 'llama-3.1-70b-instruct tokens per second over the last minutes' }).waitFor();
    await page.getByRole('img', { name: /^VRAM used over the last minutes: GPU 0/ }).waitFor();
    await page.getByRole('table').getByRole('columnheader', { name: 'Tok/s' }).waitFor();
    await page.getByRole('heading', { name: 'Activity' }).scrollIntoViewIfNeeded();
    console.log('screenshot:', await screenshot(page, 'dashboard-activity', { fullPage: false, docs: 'dashboard-activity.png' }));
  });

  it('dark mode: drawn in dark colours (background darker than its text, and than light mode)', async () => {
    const drawn = async (colorScheme: 'light' | 'dark') => {
      const b = await open({ colorScheme });
      await b.page.getByRole('heading', { name: 'Activity' }).waitFor();
      // The page's background (the first painted one of body, html) and text colour, as luminance.
      const c = await b.page.evaluate(() => {
        const paint = [document.body, document.documentElement]
          .map((el) => getComputedStyle(el).backgroundColor)
          .find((x) => x !== 'rgba(0, 0, 0, 0)' && x !== 'transparent');
        return { bg: paint ?? 'rgb(255, 255, 255)', fg: getComputedStyle(document.body).color };
      });
      return { b, ...c };
    };
    const luminance = (rgb: string) => {
      const [r, g, b] = rgb
        .match(/\d+(\.\d+)?/g)!
        .slice(0, 3)
        .map(Number);
      return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
    };
    const light = await drawn('light');
    const dark = await drawn('dark');
    console.log('screenshot:', await screenshot(dark.b.page, 'dashboard-dark', { docs: 'dashboard-dark.png' }));
    expect(luminance(light.bg)).toBeGreaterThan(luminance(light.fg)); // light: dark text on a light page
    expect(luminance(dark.bg)).toBeLessThan(luminance(dark.fg)); // dark: light text on a dark page
    expect(luminance(dark.bg)).toBeLessThan(luminance(light.bg));
    expect(cspErrors(dark.b)).toEqual([]);
  });

  it('loads at /ui without the trailing slash too', async () => {
    const b = await open({ path: '/ui' });
    await b.page
      .getByRole('meter', { name: /GiB used$/ })
      .first()
      .waitFor();
    expect(cspErrors(b)).toEqual([]);
  });

  it('Warm starts a stopped model: its state reaches ready and its VRAM segment appears', async () => {
    const b = await open();
    const { page } = b;
    const card = page.getByRole('group', { name: 'gemma-3-27b' });
    await card.getByText('stopped', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Warm gemma-3-27b' }).click();
    await card.getByText('starting', { exact: true }).waitFor();
    await card.getByText('ready', { exact: true }).waitFor({ timeout: 10_000 });
    await page.getByRole('list', { name: 'Memory on GPU 0' }).getByText('gemma-3-27b').waitFor();
    await page.locator('.vram-bar [data-model="gemma-3-27b"]').waitFor();
    const call = gw.calls.find((c) => c.url === '/gateway/models/gemma-3-27b/load');
    expect(call?.auth).toBe(`Bearer ${gw.adminToken}`);
    console.log('screenshot:', await screenshot(page, 'dashboard-after-warm'));
  });

  it('Evict of a busy model asks first, then forces', async () => {
    const b = await open();
    const { page } = b;
    await page.getByRole('button', { name: 'Evict llama-3.1-70b-instruct' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText(/16 requests in flight and 7 requests queued/).waitFor();
    console.log('screenshot:', await screenshot(page, 'dashboard-confirm-evict', { fullPage: false }));
    await dialog.getByRole('button', { name: 'Evict anyway' }).click();
    const card = page.getByRole('group', { name: 'llama-3.1-70b-instruct' });
    await card.getByText('stopped', { exact: true }).waitFor({ timeout: 10_000 });
    expect(gw.calls.some((c) => c.url === '/gateway/models/llama-3.1-70b-instruct/unload?force=true')).toBe(true);
  });

  it('a failing start shows its error message', async () => {
    allowedConsoleErrors = [/Failed to load resource: the server responded with a status of 503/];
    const b = await open();
    const { page } = b;
    gw.update((d) => {
      const m = d.models.find((x) => x.id === 'phi-4-mini')!;
      m.state = 'stopped';
      m.error = null;
    });
    const card = page.getByRole('group', { name: 'phi-4-mini' });
    await card.getByText('stopped', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Warm phi-4-mini' }).click();
    await card.getByText('failed', { exact: true }).waitFor({ timeout: 10_000 });
    await card.getByText(/Start failed/).waitFor();
    await card
      .getByText(/Could not warm phi-4-mini: .*max seq len/s)
      .first()
      .waitFor();
  });

  it('queue depth shows live within a second of a change', async () => {
    const b = await open();
    const { page } = b;
    const card = page.getByRole('group', { name: 'qwen2.5-7b-instruct' });
    gw.update((d) => {
      const m = d.models.find((x) => x.id === 'qwen2.5-7b-instruct')!;
      m.inFlight = 50;
      m.queued = 37;
    });
    await card.getByText('37', { exact: true }).waitFor({ timeout: 1000 });
    await card.getByText('50', { exact: true }).waitFor({ timeout: 1000 });
  });

  it('shows a model’s logs in a drawer', async () => {
    const b = await open({ colorScheme: 'dark' });
    const { page } = b;
    await page.getByRole('button', { name: 'Logs of qwen2.5-7b-instruct' }).click();
    const drawer = page.getByRole('dialog', {
      name: 'Logs of qwen2.5-7b-instruct',
    });
    await drawer.getByText(/Application startup complete/).waitFor();
    console.log('screenshot:', await screenshot(page, 'dashboard-logs-dark', { fullPage: false }));
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached' });
  });
});
