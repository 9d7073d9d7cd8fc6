// Engine figures end to end: the real gateway scrapes real mock vLLM servers' /metrics every
// poll interval; the status document's `engine`, GET /gateway/history and the re-exported
// Prometheus series follow what the servers generate. Scraping never starts, wakes or stops a
// model, and never reaches a remote server unless its config asks for it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  admin,
  chat,
  cleanupAll,
  errorOf,
  http,
  mockOf,
  post,
  processModel,
  spawnMock,
  startGateway,
  type Mock,
  type TestGateway,
  waitUntil,
  sleep,
} from './helpers.js';

const POLL_SECONDS = 0.2;
let t: TestGateway;
let remoteOff: Mock;
let remoteOn: Mock;
let sleeper: Mock;

beforeAll(async () => {
  remoteOff = await spawnMock(['--served-model-name', 'r-off']);
  remoteOn = await spawnMock(['--served-model-name', 'r-on']);
  // A server with vLLM's sleep API (dev mode, --enable-sleep-mode), put to sleep behind the gateway's back.
  process.env.VLLM_SERVER_DEV_MODE = '1';
  try {
    sleeper = await spawnMock(['--served-model-name', 'r-sleep', '--enable-sleep-mode']);
  } finally {
    delete process.env.VLLM_SERVER_DEV_MODE;
  }
  t = await startGateway(`
listen: { host: 127.0.0.1, port: 0 }
auth: { adminToken: ${ADMIN_TOKEN} }
timeouts: { connectSeconds: 2, firstByteSeconds: 10, idleSeconds: 10, startSeconds: 15 }
shutdown: { drainSeconds: 1 }
gpu: { probe: static, pollSeconds: ${POLL_SECONDS}, reserveGiB: 0.5, static: [{ name: "Test GPU", totalGiB: 24 }] }
models:
${processModel('e1', { knobs: ['--mock-tokens', 80, '--mock-token-delay-ms', 25] })}
${processModel('legacy', { knobs: ['--mock-metrics', 'legacy'] })}
${processModel('plain', { knobs: ['--mock-metrics', 'none'] })}
${processModel('never', {})}
  r-off:
    runtime: remote
    url: ${remoteOff.url}/v1
  r-on:
    runtime: remote
    url: ${remoteOn.url}/v1
    scrapeMetrics: true
  r-sleep:
    runtime: remote
    url: ${sleeper.url}
    scrapeMetrics: true
`);
  for (const id of ['e1', 'legacy', 'plain']) expect((await admin(t.url, `/gateway/models/${id}/load`)).status).toBe(200);
});
afterAll(cleanupAll);

const engineOf = async (id: string) => (await t.model(id)).engine;

describe('engine figures in the status document', () => {
  it('a ready vLLM server: every figure, rates once two readings exist; tokens/s while it generates', async () => {
    const idle = await waitUntil(async () => (await engineOf('e1'))?.generationTokensPerSecond !== null && engineOf('e1'), 10_000, 'rates');
    expect(idle).toEqual({
      running: 0,
      waiting: 0,
      kvCacheUsagePercent: 0,
      promptTokensPerSecond: 0,
      generationTokensPerSecond: 0,
      sleepState: 'awake',
    });
    const streams = [1, 2, 3].map(() => post(t.url, '/v1/chat/completions', chat('e1', { stream: true })));
    let busy: Awaited<ReturnType<typeof engineOf>>;
    try {
      busy = await waitUntil(
        async () => {
          const e = await engineOf('e1');
          return e && e.running === 3 && (e.generationTokensPerSecond ?? 0) > 0 && e;
        },
        10_000,
        'busy figures',
      );
    } finally {
      await Promise.all(streams); // a failure here must not leave streams running into the next test
    }
    // 3 streams of at most 40 tokens/s each (25 ms a token, 2 s long): 120 tokens/s on a quiet machine,
    // less on a loaded one (the mock's timers run late), and the figure is a rate over 0.2 s. The
    // bounds catch a wrong unit (per ms: 0.12; per µs or ×1000: 120 000), not the machine's speed.
    expect(busy!.generationTokensPerSecond).toBeGreaterThan(2);
    expect(busy!.generationTokensPerSecond).toBeLessThan(400);
    expect(busy!.kvCacheUsagePercent).toBeGreaterThan(0);

    const prom = (await http(t.url, '/metrics')).text;
    expect(prom).toMatch(/^vllm_gateway_engine_up\{model="e1"\} 1$/m);
    expect(prom).toMatch(/^vllm_gateway_engine_up\{model="never"\} 0$/m);
    expect(prom).toMatch(/^vllm_gateway_engine_generation_tokens_per_second\{model="e1"\} [\d.]+$/m);
    expect(prom).toMatch(/^vllm_gateway_engine_sleep_state\{model="e1",state="awake"\} 1$/m);
    const total = Number(/^vllm_gateway_engine_generation_tokens_total\{model="e1"\} (\d+)$/m.exec(prom)?.[1]);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(240);
  });

  it('an older server (gpu_cache_usage_perc, no sleep state) still gives figures; a server without metrics gives null', async () => {
    const legacy = await waitUntil(() => engineOf('legacy'), 5000, 'legacy figures');
    expect(legacy).toMatchObject({ running: 0, waiting: 0, kvCacheUsagePercent: 0, sleepState: null });
    await sleep(POLL_SECONDS * 3 * 1000);
    expect((await t.model('plain')).state).toBe('ready');
    expect(await engineOf('plain')).toBeNull();
  });

  it('remote models: not scraped unless scrapeMetrics is true', async () => {
    const on = await waitUntil(() => engineOf('r-on'), 5000, 'remote figures');
    expect(on?.sleepState).toBe('awake');
    expect(await engineOf('r-off')).toBeNull();
    const paths = (await remoteOff.received()).map((r) => r.path);
    expect(paths).not.toContain('/metrics');
    expect((await remoteOn.received()).some((r) => r.method === 'GET' && r.path === '/metrics')).toBe(true);
  });
});

describe('scraping never touches a lifecycle', () => {
  it('a stopped model stays stopped and unscraped; an unloaded one loses its figures and is not started again', async () => {
    const startsBefore = [...t.runtime.starts];
    const mock = await mockOf(t, 'e1');
    // Everything the gateway sent the server besides the proxied requests: health checks and scrapes, all GETs.
    const own = (await mock.received()).filter((r) => !r.path.startsWith('/v1/'));
    expect(own.length).toBeGreaterThan(3);
    expect(new Set(own.map((r) => `${r.method} ${r.path}`))).toEqual(new Set(['GET /health', 'GET /metrics']));

    expect((await admin(t.url, '/gateway/models/e1/unload')).status).toBe(200);
    expect(await engineOf('e1')).toBeNull();
    await sleep(POLL_SECONDS * 5 * 1000);
    expect((await t.model('e1')).state).toBe('stopped');
    expect((await t.model('never')).state).toBe('stopped');
    expect(await engineOf('e1')).toBeNull();
    expect(await engineOf('never')).toBeNull();
    expect(t.runtime.starts).toEqual(startsBefore);
  });

  it('a server that went to sleep is read as sleeping, and stays asleep: scrapes are GET /metrics only', async () => {
    await waitUntil(async () => (await engineOf('r-sleep'))?.sleepState === 'awake', 5000, 'awake figures');
    expect((await http(sleeper.url, '/sleep?level=1', { method: 'POST' })).status).toBe(200);
    const since = Date.now();
    const asleep = await waitUntil(
      async () => {
        const e = await engineOf('r-sleep');
        return e?.sleepState === 'weights_offloaded' && e;
      },
      5000,
      'sleeping figures',
    );
    expect(asleep).toMatchObject({ running: 0, waiting: 0 });
    await sleep(POLL_SECONDS * 5 * 1000);
    const after = (await sleeper.received()).filter((r) => r.at >= since);
    expect(after.length).toBeGreaterThanOrEqual(5);
    expect(new Set(after.map((r) => `${r.method} ${r.path}`))).toEqual(new Set(['GET /metrics']));
    expect((await http(sleeper.url, '/is_sleeping')).json).toEqual({ is_sleeping: true });
    expect((await engineOf('r-sleep'))?.sleepState).toBe('weights_offloaded');
  });
});

describe('GET /gateway/history', () => {
  it('one sample per poll interval: GPU memory per GPU and tokens/s per model, aligned', async () => {
    const doc = (await http(t.url, '/gateway/history')).json;
    expect(doc.intervalSeconds).toBe(POLL_SECONDS);
    expect(doc.windowSeconds).toBe(300);
    expect(doc.at.length).toBeGreaterThan(5);
    expect(doc.at.length).toBeLessThanOrEqual(300 / POLL_SECONDS + 1);
    expect([...doc.at].sort((a: number, b: number) => a - b)).toEqual(doc.at);
    expect(doc.gpus).toHaveLength(1);
    expect(doc.gpus[0]).toMatchObject({ index: 0, name: 'Test GPU', totalMiB: 24576 });
    expect(doc.gpus[0].usedMiB).toHaveLength(doc.at.length);
    expect(doc.models.map((m: { id: string }) => m.id)).toEqual(['e1', 'legacy', 'plain', 'never', 'r-off', 'r-on', 'r-sleep']);
    const e1 = doc.models[0].generationTokensPerSecond as Array<number | null>;
    expect(e1).toHaveLength(doc.at.length);
    expect(Math.max(...e1.map((v) => v ?? 0))).toBeGreaterThan(0); // the streams of the first test
    expect(doc.models[3].generationTokensPerSecond.every((v: number | null) => v === null)).toBe(true);
  });

  it('?seconds bounds the window; anything but 1–300 is a 400 invalid_request', async () => {
    const short = (await http(t.url, '/gateway/history?seconds=1')).json;
    const newest = short.at[short.at.length - 1];
    expect(short.at.every((at: number) => at > newest - 1000 - POLL_SECONDS * 1000)).toBe(true);
    expect(short.at.length).toBeLessThanOrEqual(1 / POLL_SECONDS + 2);
    for (const bad of ['0', '301', 'abc', '-5', '']) {
      const res = await http(t.url, `/gateway/history?seconds=${bad}`);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error', param: 'seconds' });
    }
  });
});

describe('recent requests carry the tokens of responses with usage', () => {
  it('a stream with include_usage, a JSON answer, and a stream without usage (null)', async () => {
    // legacy is ready and has no token delay: the answers come at once.
    const streamed = await post(t.url, '/v1/chat/completions', chat('legacy', { stream: true, stream_options: { include_usage: true } }), {
      'x-request-id': 'usage-stream',
      'x-mock-tokens': '24',
    });
    const plain = await post(t.url, '/v1/chat/completions', chat('legacy'), { 'x-request-id': 'usage-json', 'x-mock-tokens': '9' });
    await post(t.url, '/v1/chat/completions', chat('legacy', { stream: true }), { 'x-request-id': 'usage-none' });
    expect(streamed.text.endsWith('data: [DONE]\n\n')).toBe(true); // the stream went through whole
    const usage = JSON.parse(streamed.text.split('\n\n').at(-3)!.slice(6)).usage;
    const recent = await waitUntil(
      async () => {
        const list = (await t.status()).recentRequests ?? [];
        const ids = ['usage-stream', 'usage-json', 'usage-none'];
        return ids.every((id) => list.some((r) => r.id === id && r.durationMs !== null)) && list; // listed, and ended
      },
      5000,
      'recent requests',
    );
    const byId = (id: string) => recent.find((r) => r.id === id)!;
    expect(byId('usage-stream')).toMatchObject({ stream: true, promptTokens: usage.prompt_tokens, completionTokens: 24 });
    expect(byId('usage-stream').tokensPerSecond).toBeGreaterThan(0);
    expect(byId('usage-json')).toMatchObject({ stream: false, promptTokens: plain.json.usage.prompt_tokens, completionTokens: 9 });
    expect(byId('usage-none')).toMatchObject({ promptTokens: null, completionTokens: null, tokensPerSecond: null });
    const prom = (await http(t.url, '/metrics')).text;
    expect(Number(/^vllm_gateway_usage_completion_tokens_total\{model="legacy"\} (\d+)$/m.exec(prom)?.[1])).toBe(33);
  });
});
