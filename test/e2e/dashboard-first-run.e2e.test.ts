// The dashboard as a new user first sees it, in Debian's Chromium against the fake backend: no
// GPU measured (the default config's simulated GPU from gpu.static), long model ids at 1400 px,
// requests still in progress in Recent requests, and the config file named where it says what to edit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelStatus, StatusDocument } from '../../gateway/status-types.js';
import { startFakeGateway, type FakeGateway } from './fake-gateway.js';
import { buildDashboardToTemp, chromiumSkipReason, launchBrowser, screenshot, takeConsoleErrors } from './helpers.js';
import { iso, recomputeGpus, sampleStatus } from './sample-status.js';

const SKIP = chromiumSkipReason();
const CONFIG = '/home/ada/.config/vllm-gateway/gateway.yaml';
const LONG_ID = 'meta-llama/Llama-3.3-70B-Instruct-abliterated-AWQ-4bit-with-a-long-name';

/** The first run on a machine without nvidia-smi: the default config's simulated 24 GiB GPU. */
function firstRun(now = Date.now()): StatusDocument {
  const base = sampleStatus(now);
  const model = (over: Partial<ModelStatus>): ModelStatus => ({ ...base.models[0]!, ...over });
  const doc: StatusDocument = {
    ...base,
    configPath: CONFIG,
    models: [
      model({
        id: LONG_ID,
        aliases: [],
        state: 'ready',
        inFlight: 1,
        queued: 195,
        queuedByPriority: { interactive: 12, batch: 183 },
        vramBudgetMiB: 20 * 1024,
        vramUsedMiB: null,
        gpus: [0],
      }),
      model({ id: 'qwen2.5-7b-instruct', state: 'stopped', inFlight: 0, vramUsedMiB: null, gpus: [], endpoint: null, engine: null }),
    ],
    gpus: [
      {
        index: 0,
        name: 'Simulated GPU',
        totalMiB: 24 * 1024,
        usedMiB: 0,
        freeMiB: 0,
        reservedMiB: 0,
        models: [{ id: LONG_ID, usedMiB: 20 * 1024 }],
        otherMiB: 0,
        source: 'static',
      },
    ],
    gpuProbe: { kind: 'static', available: true, error: null, ageMs: 0, pollMs: 0 },
    recentRequests: [
      {
        id: 'req-streaming',
        model: LONG_ID,
        path: '/v1/chat/completions',
        status: 200,
        stream: true,
        startedAt: iso(4200, now),
        firstByteMs: 4012,
        upstreamFirstByteMs: 5,
        durationMs: null,
        promptTokens: null,
        completionTokens: null,
        tokensPerSecond: null,
      },
      {
        id: 'req-waiting',
        model: LONG_ID,
        path: '/v1/chat/completions',
        status: 0,
        stream: false,
        startedAt: iso(1000, now),
        firstByteMs: null,
        upstreamFirstByteMs: null,
        durationMs: null,
        promptTokens: null,
        completionTokens: null,
        tokensPerSecond: null,
      },
    ],
  };
  doc.recentRequests!.reverse(); // newest first
  return recomputeGpus(doc);
}

describe.skipIf(SKIP !== null)(`dashboard on a first run (fake backend)${SKIP ? ` — skipped: ${SKIP}` : ''}`, () => {
  let ui: { dir: string; cleanup(): void };
  let gw: FakeGateway;
  beforeAll(async () => {
    ui = await buildDashboardToTemp();
    gw = await startFakeGateway({ distDir: ui.dir, doc: firstRun() });
  }, 120_000);
  afterAll(async () => {
    await gw?.close();
    ui?.cleanup();
  });

  it('says the GPU is simulated and where it is configured; long ids and in-progress requests show whole (1400 px)', async () => {
    const b = await launchBrowser({ viewport: { width: 1400, height: 1000 } });
    try {
      const { page } = b;
      await page.goto(`${gw.url}/ui/#token=${gw.adminToken}`);
      await page.getByRole('group', { name: LONG_ID }).waitFor();

      const note = page.getByRole('note').filter({ hasText: 'Simulated' });
      await expect(note.textContent()).resolves.toContain(`gpu.static from ${CONFIG}`);
      await expect(note.textContent()).resolves.toContain('install the NVIDIA driver');

      // Recent requests: the stream in progress and the waiting request are listed as such.
      const streaming = page.locator('tr[data-request-id="req-streaming"]');
      await expect(streaming.textContent()).resolves.toContain('streaming…');
      await expect(streaming.locator('[data-first-byte]').textContent()).resolves.toBe('4.01 sserver 5 ms');
      await expect(page.locator('tr[data-request-id="req-waiting"]').textContent()).resolves.toContain('waiting…');

      // The long id is not cut: wherever it is written, its text fits its box (or wraps).
      const clipped = await page.evaluate((id) => {
        const out: string[] = [];
        for (const el of document.querySelectorAll<HTMLElement>('body *')) {
          const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent?.includes(id));
          if (!own) continue;
          if (el.scrollWidth > el.clientWidth + 1) out.push(`${el.tagName}.${el.className}: ${el.scrollWidth} > ${el.clientWidth}`);
        }
        return out;
      }, LONG_ID);
      // The queue by class is read whole in the card's narrow column (it wraps, never ellipsises).
      const queue = page.getByRole('group', { name: LONG_ID }).locator('.stat-detail');
      await expect(queue.textContent()).resolves.toBe('12 interactive · 183 batch');
      const queueFits = await queue.evaluate(
        (el) => el.scrollWidth <= el.clientWidth + 1 && getComputedStyle(el).textOverflow !== 'ellipsis',
      );
      console.log('screenshot:', await screenshot(page, 'dashboard-first-run-1400'));
      expect(clipped).toEqual([]);
      expect(queueFits).toBe(true);
      expect(takeConsoleErrors(b, [])).toEqual([]);
    } finally {
      await b.close();
    }
  }, 60_000);

  it('with no models, names the config file to add them to', async () => {
    gw.update((doc) => {
      doc.models = [];
      doc.gpus[0]!.models = [];
      doc.recentRequests = [];
      recomputeGpus(doc);
    });
    const b = await launchBrowser({ viewport: { width: 1400, height: 900 } });
    try {
      await b.page.goto(`${gw.url}/ui/#token=${gw.adminToken}`);
      const empty = b.page.getByText('No models configured.');
      await empty.waitFor();
      await expect(empty.textContent()).resolves.toContain(`Add one under models: in ${CONFIG}, then restart`);
      console.log('screenshot:', await screenshot(b.page, 'dashboard-first-run-empty'));
    } finally {
      await b.close();
    }
  }, 60_000);
});
