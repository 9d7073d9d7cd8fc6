// The engines' own figures in the dashboard, end to end: Debian's Chromium on /ui of a real gateway
// whose models are mock vLLM servers generating tokens. The gateway scrapes their /metrics; the
// page shows tokens/s and the KV cache per model, says when an engine is saturated, draws the
// last minutes (GET /gateway/history) and the tokens of each finished request. No console error
// of any kind is accepted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright';
import { buildDashboardToTemp, chromiumSkipReason, launchBrowser, screenshot, takeConsoleErrors, type LaunchedBrowser } from './helpers.js';
import { startRealGateway, type RealGateway } from './real-gateway.js';

const SKIP = chromiumSkipReason();
const skipNote = SKIP ? ` — skipped: ${SKIP}` : '';

const FAST = 'qwen2.5-7b-instruct'; // 25 ms a token: ~40 tokens/s a stream
// Runs 2 sequences at most in a KV cache of 160 tokens: more requests wait, the cache fills.
const SATURATED = 'llama-3.1-8b-instruct';
// Asleep at level 1: scraped (its engine says so) but never woken by it.
const ASLEEP = 'mistral-7b-instruct';

let ui: { dir: string; cleanup(): void } | undefined;
let browser: LaunchedBrowser | undefined;
let gw: RealGateway | undefined;
const stop = new AbortController();
const streams: Array<Promise<string>> = [];

/** A streamed chat completion asking for usage; resolves to the body (or '' when cut). */
async function stream(model: string, tokens: number): Promise<string> {
  try {
    const res = await fetch(`${gw!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mock-tokens': String(tokens) },
      body: JSON.stringify({
        model,
        messages: [{ role: 'user', content: 'Hello' }],
        stream: true,
        stream_options: { include_usage: true },
      }),
      signal: stop.signal,
    });
    return await res.text();
  } catch {
    return '';
  }
}

/** The tokens/s a model card shows, as a number (NaN while it shows none). */
async function rate(page: Page, id: string): Promise<number> {
  const label = await page
    .getByRole('group', { name: id, exact: true })
    .getByLabel(/generation: .* tokens per second$/)
    .getAttribute('aria-label', { timeout: 500 })
    .catch(() => null);
  return Number(/generation: ([\d.]+) tokens/.exec(label ?? '')?.[1] ?? NaN);
}

beforeAll(async () => {
  if (SKIP) return;
  ui = await buildDashboardToTemp();
  gw = await startRealGateway({
    distDir: ui.dir,
    pollSeconds: 0.5,
    models: [
      { id: FAST, vramGiB: 8, knobs: ['--mock-token-delay-ms', 25] },
      { id: SATURATED, vramGiB: 10, knobs: ['--mock-token-delay-ms', 40, '--max-num-seqs', 2, '--mock-kv-cache-tokens', 160] },
      { id: ASLEEP, vramGiB: 4, knobs: ['--enable-sleep-mode'], extra: ['sleep: { level: 1 }'] },
    ],
  });
  for (const id of [FAST, SATURATED, ASLEEP]) expect((await gw.admin('load', id)).status).toBe(200);
  const slept = await fetch(`${gw.url}/gateway/models/${ASLEEP}/sleep`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${gw.adminToken}` },
  });
  expect(slept.status).toBe(200);
  browser = await launchBrowser({ colorScheme: 'light', viewport: { width: 1280, height: 900 } });
}, 120_000);

afterAll(async () => {
  stop.abort();
  await Promise.allSettled(streams);
  await browser?.close();
  await gw?.close();
  ui?.cleanup();
}, 30_000);

describe.skipIf(SKIP !== null)(`engine figures in the dashboard of a real gateway${skipNote}`, () => {
  it('tokens/s and the KV cache per model while they generate; a saturated engine is said to be so', async () => {
    const page = browser!.page;
    page.setDefaultTimeout(15_000);
    await page.goto(`${gw!.url}/ui#token=${gw!.adminToken}`);
    await page.getByRole('group', { name: FAST, exact: true }).getByText('ready', { exact: true }).waitFor();

    for (let i = 0; i < 3; i++) streams.push(stream(FAST, 240)); // 6 s each
    for (let i = 0; i < 5; i++) streams.push(stream(SATURATED, 150));
    await expect.poll(() => rate(page, FAST), { timeout: 15_000, interval: 250 }).toBeGreaterThan(20);
    await expect.poll(() => rate(page, SATURATED), { timeout: 15_000, interval: 250 }).toBeGreaterThan(0);
    const sat = page.getByRole('group', { name: SATURATED, exact: true });
    await sat.getByRole('meter', { name: /^llama-3\.1-8b-instruct KV cache: (9\d(\.\d)?|100)% used$/ }).waitFor();
    await sat
      .getByRole('status')
      .getByText(/Saturated:/)
      .waitFor();
    expect(await page.getByRole('group', { name: FAST, exact: true }).getByRole('status').count()).toBe(0);

    // The last minutes: a line per generating model, a sparkline in its card.
    const chart = page.getByRole('img', { name: /^Generation tokens per second over the last minutes: / });
    await expect.poll(() => chart.locator(`path[data-series="${FAST}"]`).count(), { timeout: 10_000 }).toBe(1);
    await page.getByRole('img', { name: `${FAST} tokens per second over the last minutes` }).waitFor();
    // 8 + 10 GiB ready, and the 1 GiB a sleeper still holds (sleep.residualGiB).
    await page.getByRole('img', { name: /^VRAM used over the last minutes: GPU 0 19\.0 \/ 24\.0 GiB$/ }).waitFor();

    // The sleeper: its engine's figures come from a scrape that did not wake it.
    const asleep = page.getByRole('group', { name: ASLEEP, exact: true });
    await asleep.getByText('sleeping', { exact: true }).waitFor();
    await asleep.getByText('weights offloaded').waitFor();
    expect(gw!.model(ASLEEP).state).toBe('sleeping');
    // Every card's status line is shown whole (wrapped where it is long), never cut off: the line
    // does not overflow its box (an endpoint that ellipsizes on purpose shrinks inside it).
    const clipped = await page
      .locator('.progress-text, .progress-text > .progress-wrap')
      .evaluateAll((els) =>
        els.filter((e) => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1).map((e) => e.textContent),
      );
    expect(clipped).toEqual([]);

    await page.evaluate(() => window.scrollTo(0, 0));
    console.log('screenshot:', await screenshot(page, 'real-engine-figures', { docs: 'dashboard-engine.png' }));
    expect(takeConsoleErrors(browser!)).toEqual([]);
  }, 60_000);

  it('each finished request shows its tokens and tokens/s from the response’s usage', async () => {
    const page = browser!.page;
    const bodies = await Promise.all(streams.splice(0));
    for (const b of bodies) expect(b.endsWith('data: [DONE]\n\n')).toBe(true);
    const table = page.getByRole('table');
    const row = table.getByRole('row').filter({ hasText: FAST }).first();
    await row.getByRole('cell', { name: '240', exact: true }).waitFor({ timeout: 10_000 });
    const cells = await row.getByRole('cell').allTextContents();
    const tps = Number(cells[cells.indexOf('240') + 1]);
    expect(tps).toBeGreaterThan(10); // 240 tokens at 25 ms a token: ~40 tok/s, less on a loaded machine
    expect(tps).toBeLessThan(80);
    console.log('screenshot:', await screenshot(page, 'real-engine-requests', { fullPage: false }));
    expect(takeConsoleErrors(browser!)).toEqual([]);
  }, 60_000);
});
