// End-to-end test of the dashboard in Debian's Chromium against /ui of a REAL gateway (createGateway
// on port 0, the real registerUi()) whose models are mock vLLM servers started as child processes:
// Warm, Evict, a failing start, queue depth under load, read-only mode, and light/dark screenshots
// of a realistic state. Then the same dashboard against a gateway with API keys set.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright';
import { buildDashboardToTemp, chromiumSkipReason, launchBrowser, screenshot, type LaunchedBrowser } from './helpers.js';
import { chat, startRealGateway, type RealGateway } from './real-gateway.js';

// Skips (saying why) without Chromium; with REQUIRE_CHROMIUM=1 (CI) a missing Chromium throws here.
const SKIP = chromiumSkipReason();
const skipNote = SKIP ? ` — skipped: ${SKIP}` : '';

const OOM = 'CUDA out of memory: tried to allocate 20.00 GiB';
const WARM = 'llama-3.1-8b-instruct'; // warmed and evicted from the page
const BUSY = 'qwen2.5-7b-instruct'; // one request at a time: the others queue
const FAILING = 'mistral-7b-instruct';
const IDLE = 'phi-3-mini'; // stays stopped

let ui: { dir: string; cleanup(): void } | undefined;
let browser: LaunchedBrowser | undefined;
const gateways: RealGateway[] = [];
const traffic: Array<Promise<number>> = [];
const stopTraffic = new AbortController();
let warming: Promise<Response> | undefined;

function card(page: Page, id: string): Locator {
  return page.getByRole('group', { name: id, exact: true });
}

/** The figure of one of a model card's stats ("In flight", "Queued"), as a number. */
async function stat(page: Page, id: string, label: string): Promise<number> {
  const value = card(page, id)
    .locator('.stat')
    .filter({ has: page.getByText(label, { exact: true }) })
    .locator('.stat-value > span')
    .first();
  return Number(await value.textContent());
}

function cspErrors(b: LaunchedBrowser): string[] {
  return b.consoleErrors.filter((m) => /Content Security Policy|Refused to/i.test(m));
}

/** Prints the gateway's log when a test failed, then rethrows. */
async function withLogs<T>(gw: RealGateway, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    console.error(`gateway log (last 40 lines):\n${gw.logs.slice(-40).join('\n')}`);
    throw err;
  }
}

beforeAll(async () => {
  if (SKIP) return;
  ui = await buildDashboardToTemp();
  browser = await launchBrowser({ colorScheme: 'light', viewport: { width: 1280, height: 800 } });
}, 120_000);

afterAll(async () => {
  stopTraffic.abort();
  await Promise.allSettled(traffic);
  await browser?.close();
  await Promise.all(gateways.map((g) => g.close()));
  ui?.cleanup();
}, 30_000);

describe.skipIf(SKIP !== null)(`dashboard at /ui of a real gateway with mock models${skipNote}`, () => {
  // Each test opens its own page and brings the models it uses to the state it needs, so any one
  // runs alone (vitest -t) as well as after the others.
  let gw: RealGateway;
  let page: Page;

  /** A new page for this test (the last one closed), at `path`. */
  async function open(path: string): Promise<Page> {
    if (page && !page.isClosed()) await page.close();
    page = await browser!.context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('console', (msg) => {
      if (msg.type() === 'error') browser!.consoleErrors.push(msg.text());
    });
    await page.goto(`${gw.url}${path}`);
    return page;
  }
  const openWithToken = () => open(`/ui#token=${gw.adminToken}`);

  /** Brings a model to `state` through the admin API (a failed start is a 503: that is the point). */
  async function ensure(id: string, state: 'ready' | 'stopped' | 'failed'): Promise<void> {
    if (gw.model(id).state === state) return;
    if (state === 'stopped') await gw.admin('unload', id, '?force=true');
    else await gw.admin('load', id);
    await expect.poll(() => gw.model(id).state, { timeout: 15_000 }).toBe(state);
  }

  beforeAll(async () => {
    gw = await startRealGateway({
      distDir: ui!.dir,
      models: [
        { id: WARM, vramGiB: 10, knobs: ['--mock-start-delay-ms', 400], extra: ['aliases: [llama]'] },
        { id: BUSY, vramGiB: 8, knobs: ['--mock-start-delay-ms', 200], extra: ['maxConcurrent: 1', 'aliases: [qwen]'] },
        { id: FAILING, vramGiB: 4, knobs: ['--mock-start-delay-ms', 200, '--mock-fail-at-start', OOM] },
        { id: IDLE, vramGiB: 4 },
      ],
    });
    gateways.push(gw);
  }, 30_000);

  it('without the token it is read-only and says how to get the link', async () => {
    await open('/ui');
    await card(page, IDLE).getByText('stopped', { exact: true }).waitFor();
    await page
      .getByRole('note', { name: 'Read-only mode' })
      .getByText(/dashboard:/)
      .waitFor();
    expect(await page.getByRole('button', { name: `Warm ${WARM}` }).isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: `Evict ${WARM}` }).isDisabled()).toBe(true);
    console.log('screenshot:', await screenshot(page, 'real-readonly', { fullPage: false }));
  });

  it('the dashboard link opened in that tab (a fragment change only) takes the token; it leaves the URL; no CSP error', async () => {
    await ensure(WARM, 'stopped');
    await ensure(BUSY, 'stopped'); // nothing on the GPU: the meter reads 0.0
    await open('/ui');
    await card(page, IDLE).getByText('stopped', { exact: true }).waitFor();
    await page.goto(`${gw.url}/ui#token=${gw.adminToken}`);
    await page
      .getByRole('button', { name: `Warm ${WARM}` })
      .and(page.locator(':enabled'))
      .waitFor();
    await card(page, IDLE).waitFor();
    expect(page.url()).not.toContain('token');
    expect(await page.getByRole('note', { name: 'Read-only mode' }).count()).toBe(0);
    await page.getByRole('meter', { name: 'Simulated GPU: 0.0 of 24.0 GiB used' }).waitFor();
    expect(cspErrors(browser!)).toEqual([]);
  });

  it('Warm: the model reaches ready and its VRAM segment appears in the GPU meter', async () => {
    await withLogs(gw, async () => {
      await ensure(WARM, 'stopped');
      await ensure(BUSY, 'stopped'); // the meter then shows WARM alone
      await openWithToken();
      await page.getByRole('button', { name: `Warm ${WARM}` }).click();
      await card(page, WARM).getByText('ready', { exact: true }).waitFor({ timeout: 15_000 });
      await page.getByRole('meter', { name: 'Simulated GPU: 10.0 of 24.0 GiB used' }).waitFor();
      await page.locator(`.vram-bar [data-model="${WARM}"]`).waitFor();
      await page.getByRole('list', { name: 'Memory on GPU 0' }).getByText(WARM).waitFor();
      expect(gw.model(WARM).state).toBe('ready');
    });
  });

  it('Evict: the model returns to stopped and leaves the meter', async () => {
    await withLogs(gw, async () => {
      await ensure(WARM, 'ready');
      await ensure(BUSY, 'stopped'); // the meter then empties with WARM gone
      await openWithToken();
      await page.getByRole('button', { name: `Evict ${WARM}` }).click();
      await card(page, WARM).getByText('stopped', { exact: true }).waitFor({ timeout: 15_000 });
      await page.getByRole('meter', { name: 'Simulated GPU: 0.0 of 24.0 GiB used' }).waitFor();
      expect(await page.locator(`.vram-bar [data-model="${WARM}"]`).count()).toBe(0);
      expect(gw.model(WARM).state).toBe('stopped');
    });
  });

  it('a failing start shows failed and the server’s error message', async () => {
    await withLogs(gw, async () => {
      await ensure(FAILING, 'stopped'); // also ends a cool-down left by an earlier failure
      await openWithToken();
      await page.getByRole('button', { name: `Warm ${FAILING}` }).click();
      const c = card(page, FAILING);
      await c.getByText('failed', { exact: true }).waitFor({ timeout: 15_000 });
      await c.getByText('Start failed').waitFor();
      await c.locator('.failure-msg').getByText(OOM).waitFor();
    });
  });

  it('queue depth rises under load', async () => {
    await withLogs(gw, async () => {
      await openWithToken();
      // Meanwhile another model warms (the screenshots below want it up for a few seconds).
      warming = gw.admin('load', WARM);
      // 8 slow requests to a model that serves one at a time (started by the first of them).
      for (let i = 0; i < 8; i++) traffic.push(chat(gw.url, 'qwen', { delayMs: 400, signal: stopTraffic.signal }));
      await expect.poll(() => stat(page, BUSY, 'Queued'), { timeout: 10_000, interval: 100 }).toBeGreaterThan(0);
      await expect.poll(() => stat(page, BUSY, 'In flight'), { timeout: 10_000, interval: 100 }).toBe(1);
      console.log('screenshot:', await screenshot(page, 'real-queued', { fullPage: false }));
      // …and drains back to 0.
      expect(await Promise.all(traffic.splice(0))).toEqual(Array(8).fill(200));
      await expect.poll(() => stat(page, BUSY, 'Queued'), { timeout: 5_000, interval: 100 }).toBe(0);
    });
  }, 30_000);

  it('screenshots of a realistic state: two models ready with traffic, one failed, one stopped (light and dark)', async () => {
    await withLogs(gw, async () => {
      expect((await (warming ?? gw.admin('load', WARM))).status).toBe(200);
      await ensure(FAILING, 'failed');
      await openWithToken();
      // Some finished requests for the table, then a slow burst still running when the pictures are taken.
      await Promise.all([chat(gw.url, WARM), chat(gw.url, 'llama', { delayMs: 120 }), chat(gw.url, BUSY, { delayMs: 60 })]);
      for (let i = 0; i < 3; i++) traffic.push(chat(gw.url, WARM, { delayMs: 20_000, signal: stopTraffic.signal }));
      for (let i = 0; i < 5; i++) traffic.push(chat(gw.url, BUSY, { delayMs: 20_000, signal: stopTraffic.signal }));
      await expect.poll(() => stat(page, WARM, 'In flight'), { timeout: 5_000, interval: 100 }).toBe(3);
      await expect.poll(() => stat(page, BUSY, 'Queued'), { timeout: 5_000, interval: 100 }).toBe(4);
      await page.getByRole('meter', { name: 'Simulated GPU: 18.0 of 24.0 GiB used' }).waitFor();
      await card(page, FAILING).getByText('failed', { exact: true }).waitFor();
      await card(page, IDLE).getByText('stopped', { exact: true }).waitFor();
      // The "Could not warm" notice from the click above belongs to that moment, not to this picture.
      const dismiss = page.getByRole('button', { name: `Dismiss error for ${FAILING}` });
      if (await dismiss.count()) await dismiss.click();

      // The sticky top bar belongs at the top of a full-page picture.
      await page.evaluate(() => window.scrollTo(0, 0));
      console.log('screenshot:', await screenshot(page, 'real-dashboard-light'));
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.waitForFunction(() => matchMedia('(prefers-color-scheme: dark)').matches);
      console.log('screenshot:', await screenshot(page, 'real-dashboard-dark'));
      await page.emulateMedia({ colorScheme: 'light' });
      expect(cspErrors(browser!)).toEqual([]);
    });
  });
});

describe.skipIf(SKIP !== null)(`dashboard at /ui of a real gateway with API keys set${skipNote}`, () => {
  const KEY = 'sk-e2e-client-key';
  const MODEL = 'gemma-2-9b';
  let gw: RealGateway;

  beforeAll(async () => {
    gw = await startRealGateway({
      distDir: ui!.dir,
      apiKeys: [KEY],
      models: [{ id: MODEL, vramGiB: 6, knobs: ['--mock-start-delay-ms', 200] }],
    });
    gateways.push(gw);
  }, 30_000);

  it('the gateway refuses status and events without a bearer (so the page must send one)', async () => {
    expect((await fetch(`${gw.url}/gateway/status`)).status).toBe(401);
    expect((await fetch(`${gw.url}/ui`)).status).toBe(200);
  });

  it('with the token: live status over the authenticated event stream, Warm, logs', async () => {
    await withLogs(gw, async () => {
      const page = await browser!.context.newPage();
      page.setDefaultTimeout(10_000);
      const failures: string[] = [];
      page.on('response', (r) => {
        if (r.status() >= 400) failures.push(`${r.status()} ${r.url()}`);
      });
      await page.goto(`${gw.url}/ui#token=${gw.adminToken}`);
      const c = card(page, MODEL);
      await c.getByText('stopped', { exact: true }).waitFor();
      await page.getByRole('status', { name: 'Connection: Live' }).waitFor();

      // A change made elsewhere reaches the page through the event stream (the page fetches
      // /gateway/status only once).
      expect((await gw.admin('load', MODEL)).status).toBe(200);
      await c.getByText('ready', { exact: true }).waitFor({ timeout: 5_000 });
      await page.getByRole('meter', { name: 'Simulated GPU: 6.0 of 24.0 GiB used' }).waitFor();
      expect(await chat(gw.url, MODEL, { key: KEY })).toBe(200);
      await page.getByRole('table').getByText('/v1/chat/completions').waitFor({ timeout: 5_000 });

      await page.getByRole('button', { name: `Evict ${MODEL}` }).click();
      await c.getByText('stopped', { exact: true }).waitFor({ timeout: 10_000 });
      await page.getByRole('button', { name: `Logs of ${MODEL}` }).click();
      await page
        .getByRole('dialog', { name: `Logs of ${MODEL}` })
        .getByText(/Uvicorn running on/)
        .waitFor();
      await page.keyboard.press('Escape');

      expect(failures).toEqual([]);
      await page.close();
    });
  });

  it('without the token it says the dashboard link is needed instead of breaking', async () => {
    const page = await browser!.context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${gw.url}/ui`);
    const note = page.getByRole('note', { name: 'This gateway needs the dashboard link' });
    await note.getByText(/dashboard:/).waitFor();
    expect(await page.getByRole('heading', { name: 'The gateway is not answering' }).count()).toBe(0);
    console.log('screenshot:', await screenshot(page, 'real-apikeys-no-token', { fullPage: false }));
    await page.close();
  });
});
