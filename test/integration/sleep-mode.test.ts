// vLLM sleep mode as the first eviction tier, end to end: the gateway with process models running
// the mock vLLM server (which implements the sleep API and dies, as vLLM does, on a generation
// request while asleep: every test here would see a request reaching a sleeper).
import { afterEach, describe, expect, it } from 'vitest';
import type { Instance, Runtime, StartRequest } from '../../gateway/runtimes/runtime.js';
import { sleepServer, vllmSleepApi } from '../../gateway/runtimes/vllm-sleep.js';
import { createGateway } from '../../gateway/index.js';
import { StaticProbe } from '../../gateway/gpu/static-probe.js';
import {
  admin,
  alive,
  baseYaml,
  chat,
  cleanupAll,
  errorOf,
  memoryLogger,
  mockOf,
  parseYaml,
  post,
  processModel,
  spawnMock,
  startGateway,
  waitUntil,
  type TestGateway,
} from './helpers.js';

afterEach(cleanupAll);

const SLEEPY = ['--enable-sleep-mode', '--mock-vram-mib', '14336'];
/** Two 14 GiB models on one 24 GiB GPU: they never fit together; a sleeper's 1 GiB residue does. */
function twoModels(a: { level?: number; knobs?: Array<string | number>; extra?: string } = {}, bExtra = '', hostRamGiB = 64): string {
  return baseYaml(
    [
      'models:',
      processModel('a', {
        vramGiB: 14,
        knobs: [...SLEEPY, ...(a.knobs ?? [])],
        extra: [`sleep: { level: ${a.level ?? 1} }`, ...(a.extra ? [a.extra] : [])].join('\n'),
      }),
      processModel('b', { vramGiB: 14, extra: bExtra || undefined }),
    ].join('\n'),
    { extra: `scheduling: { sleepHostRamGiB: ${hostRamGiB} }` },
  );
}

/** The mock's default answer (16 tokens). */
const HELLO = 'héllo wörld 你好 🚀 héllo wörld';
const text = (r: { json: { choices: Array<{ message: { content: string } }> } }) => r.json.choices[0].message.content;
const pidOf = async (t: TestGateway, id: string) => (await (await mockOf(t, id)).stats()).pid as number;
const sleepStats = async (t: TestGateway, id: string) => (await (await mockOf(t, id)).stats()).sleep;

describe('sleep as the first eviction tier', () => {
  it('evicted to sleep, then woken without a restart: same server, weights back, no new start', async () => {
    const t = await startGateway(twoModels());
    expect((await post(t.url, '/v1/chat/completions', chat('a'))).status).toBe(200);
    const pidA = await pidOf(t, 'a');
    const endpointA = (await t.model('a')).endpoint;

    const b = await post(t.url, '/v1/chat/completions', chat('b'));
    expect(b.status).toBe(200);
    const asleep = await t.model('a');
    expect(asleep).toMatchObject({ state: 'sleeping', sleepLevel: 1, endpoint: endpointA, vramUsedMiB: 1024, sleepHostRamMiB: 14336 });
    expect(alive(pidA)).toBe(true);
    expect(await sleepStats(t, 'a')).toMatchObject({ state: 'weights_offloaded', sleeps: 1, wakes: 0, vramMib: 512 });
    // the GPU counts the sleeper's residue beside b
    expect((await t.status()).gpus[0].models).toEqual([
      { id: 'a', usedMiB: 1024 },
      { id: 'b', usedMiB: 14336 },
    ]);

    const again = await post(t.url, '/v1/chat/completions', chat('a'));
    expect(again.status).toBe(200);
    expect(text(again)).toBe(HELLO);
    expect(await t.model('a')).toMatchObject({ state: 'ready', endpoint: endpointA });
    expect(await pidOf(t, 'a')).toBe(pidA);
    expect(await sleepStats(t, 'a')).toMatchObject({ state: 'awake', sleeps: 1, wakes: 1 });
    expect((await t.model('b')).state).toBe('stopped'); // b cannot sleep: stopped for a's wake
    expect(t.runtime.starts).toEqual(['a', 'b']);
    expect(t.logs.join('')).toContain('"msg":"model awake"');
  });

  it('a level-1 model that does not fit the host RAM budget is stopped, not put to sleep', async () => {
    const t = await startGateway(twoModels({}, '', 8));
    await post(t.url, '/v1/chat/completions', chat('a'));
    const pidA = await pidOf(t, 'a');
    expect((await post(t.url, '/v1/chat/completions', chat('b'))).status).toBe(200);
    expect((await t.model('a')).state).toBe('stopped');
    await waitUntil(() => !alive(pidA), 5000, 'a stopped');
    // level 2 holds no host RAM: it sleeps within any budget
    const t2 = await startGateway(twoModels({ level: 2 }, '', 0));
    await post(t2.url, '/v1/chat/completions', chat('a'));
    await post(t2.url, '/v1/chat/completions', chat('b'));
    expect((await t2.model('a')).state).toBe('sleeping');
  });

  it('level 2: the wake reloads the weights (the mock answers garbage without it)', async () => {
    const t = await startGateway(twoModels({ level: 2 }));
    await post(t.url, '/v1/chat/completions', chat('a'));
    await post(t.url, '/v1/chat/completions', chat('b'));
    expect(await t.model('a')).toMatchObject({ state: 'sleeping', sleepLevel: 2, sleepHostRamMiB: null });
    expect((await sleepStats(t, 'a')).state).toBe('discard_all');
    const again = await post(t.url, '/v1/chat/completions', chat('a'));
    expect(text(again)).toBe(HELLO);
    expect(await sleepStats(t, 'a')).toMatchObject({ garbage: false, reloads: 1, wakes: 2 }); // two /wake_up calls
    const calls = (await (await mockOf(t, 'a')).received())
      .map((r: { path: string }) => r.path)
      .filter((p: string) => !['/is_sleeping', '/metrics', '/health'].includes(p));
    expect(calls).toEqual([
      '/v1/chat/completions',
      '/sleep?level=2',
      '/wake_up?tags=weights',
      '/collective_rpc',
      '/wake_up?tags=kv_cache',
      '/v1/chat/completions',
    ]);
  });

  it('requests that arrive while it falls asleep wait, and none reaches the sleeping server', async () => {
    const t = await startGateway(twoModels({ knobs: ['--mock-sleep-delay-ms', '400', '--mock-wake-delay-ms', '200'] }));
    await post(t.url, '/v1/chat/completions', chat('a'));
    const pidA = await pidOf(t, 'a');
    const forB = post(t.url, '/v1/chat/completions', chat('b'));
    await waitUntil(async () => (await t.model('a')).state === 'sleeping', 5000, 'a falling asleep');
    // a's clients come back at once, while its /sleep call is still running
    const forA = [1, 2, 3].map(() => post(t.url, '/v1/chat/completions', chat('a')));
    expect((await forB).status).toBe(200);
    const answers = await Promise.all(forA);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(alive(pidA)).toBe(true); // the mock dies on a request while asleep
    expect(await pidOf(t, 'a')).toBe(pidA);
    const log = (await (await mockOf(t, 'a')).received()).map((r: { path: string }) => r.path);
    const slept = log.indexOf('/sleep?level=1');
    const woke = log.indexOf('/wake_up');
    expect(slept).toBeGreaterThan(0);
    expect(woke).toBeGreaterThan(slept);
    expect(log.slice(slept, woke).filter((p: string) => p.startsWith('/v1/'))).toEqual([]);
  });

  it('a busy model is not put to sleep: the sleep route answers 409 model_busy, its stream completes', async () => {
    const t = await startGateway(twoModels());
    await post(t.url, '/v1/chat/completions', chat('a'));
    const stream = post(t.url, '/v1/chat/completions', chat('a', { stream: true }), { 'x-mock-token-delay-ms': '60' });
    await waitUntil(async () => (await t.model('a')).inFlight === 1, 5000, 'a in flight');
    const r = await admin(t.url, '/gateway/models/a/sleep');
    expect(r.status).toBe(409);
    expect(errorOf(r).code).toBe('model_busy');
    const done = await stream;
    expect(done.text).toContain('"finish_reason":"stop"');
    expect(done.text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(await sleepStats(t, 'a')).toMatchObject({ sleeps: 0, state: 'awake' });
  });

  it('POST /gateway/models/{id}/sleep: 200 with the entry; 409 sleep_not_enabled and model_not_ready', async () => {
    const t = await startGateway(twoModels());
    const notReady = await admin(t.url, '/gateway/models/a/sleep');
    expect([notReady.status, errorOf(notReady).code]).toEqual([409, 'model_not_ready']);
    await post(t.url, '/v1/chat/completions', chat('b'));
    const off = await admin(t.url, '/gateway/models/b/sleep');
    expect([off.status, errorOf(off).code, errorOf(off).type]).toEqual([409, 'sleep_not_enabled', 'invalid_request_error']);
    expect((await admin(t.url, '/gateway/models/nope/sleep')).status).toBe(404);
    expect((await post(t.url, '/gateway/models/a/sleep', '')).status).toBe(401); // admin token needed
    expect((await admin(t.url, '/gateway/models/b/unload')).status).toBe(200);
    await post(t.url, '/v1/chat/completions', chat('a'));
    const ok = await admin(t.url, '/gateway/models/a/sleep');
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ id: 'a', state: 'sleeping', sleepLevel: 1 });
    const twice = await admin(t.url, '/gateway/models/a/sleep');
    expect([twice.status, errorOf(twice).code]).toEqual([409, 'model_not_ready']);
    // load wakes it
    const loaded = await admin(t.url, '/gateway/models/a/load');
    expect(loaded.json).toMatchObject({ state: 'ready' });
    expect(t.runtime.starts).toEqual(['b', 'a']);
  });

  it('the sleep route keeps level-1 sleepers within sleepHostRamGiB: older sleepers are stopped, a model that cannot fit it is', async () => {
    // Two 10 GiB level-1 models fit the GPU together; a 16 GiB host RAM budget holds one sleeper.
    const sleepy10 = (id: string) =>
      processModel(id, { vramGiB: 10, knobs: ['--enable-sleep-mode', '--mock-vram-mib', '10240'], extra: 'sleep: { level: 1 }' });
    const big = processModel('big', { vramGiB: 3, knobs: ['--enable-sleep-mode'], extra: 'sleep: { level: 1, hostRamGiB: 20 }' });
    const t = await startGateway(
      baseYaml(['models:', sleepy10('a'), sleepy10('b'), big].join('\n'), { extra: 'scheduling: { sleepHostRamGiB: 16 }' }),
    );
    for (const id of ['a', 'b']) expect((await post(t.url, '/v1/chat/completions', chat(id))).status).toBe(200);
    const pidA = await pidOf(t, 'a');
    expect((await admin(t.url, '/gateway/models/a/sleep')).json).toMatchObject({ state: 'sleeping', sleepHostRamMiB: 10240 });
    const b = await admin(t.url, '/gateway/models/b/sleep');
    expect([b.status, b.json.state]).toEqual([200, 'sleeping']);
    expect((await t.model('a')).state).toBe('stopped'); // 10 + 10 GiB would exceed the 16 GiB budget
    await waitUntil(() => !alive(pidA), 5000, 'the older sleeper gone');
    // 20 GiB of host RAM never fits a 16 GiB budget: it is stopped, as an eviction would stop it
    expect((await post(t.url, '/v1/chat/completions', chat('big'))).status).toBe(200);
    const r = await admin(t.url, '/gateway/models/big/sleep');
    expect([r.status, r.json.state]).toEqual([200, 'stopped']);
    expect((await t.model('b')).state).toBe('sleeping');
    expect(t.logs.join('')).toContain('no host RAM left to sleep in; stopping the model instead');
  });

  it('unload of a sleeper stops its server', async () => {
    const t = await startGateway(twoModels());
    await post(t.url, '/v1/chat/completions', chat('a'));
    const pidA = await pidOf(t, 'a');
    expect((await admin(t.url, '/gateway/models/a/sleep')).status).toBe(200);
    const r = await admin(t.url, '/gateway/models/a/unload');
    expect(r.json).toMatchObject({ state: 'stopped', endpoint: null, vramUsedMiB: null });
    await waitUntil(() => !alive(pidA), 5000, 'the sleeper gone');
  });

  it('ttlSeconds stops a sleeper as it stops an idle ready one', async () => {
    const t = await startGateway(twoModels({ extra: 'ttlSeconds: 1' }));
    await post(t.url, '/v1/chat/completions', chat('a'));
    const pidA = await pidOf(t, 'a');
    expect((await admin(t.url, '/gateway/models/a/sleep')).status).toBe(200);
    await waitUntil(async () => (await t.model('a')).state === 'stopped', 8000, 'the sleeper stopped for idleness');
    await waitUntil(() => !alive(pidA), 5000, 'its process gone');
    expect(t.logs.join('')).toMatch(/"why":"idle","asleep":true/);
  });

  it('a wake that takes longer than timeouts.startSeconds stops the server and starts the model anew, once', async () => {
    const yaml = twoModels({ knobs: ['--mock-wake-delay-ms', '30000'] }).replace('startSeconds: 15', 'startSeconds: 2');
    const t = await startGateway(yaml);
    await post(t.url, '/v1/chat/completions', chat('a'));
    const pidA = await pidOf(t, 'a');
    expect((await admin(t.url, '/gateway/models/a/sleep')).status).toBe(200);
    const r = await post(t.url, '/v1/chat/completions', chat('a'));
    expect(r.status).toBe(200);
    expect(text(r)).toBe(HELLO);
    expect(alive(pidA)).toBe(false);
    expect(await pidOf(t, 'a')).not.toBe(pidA);
    expect(t.runtime.starts).toEqual(['a', 'a']);
    expect(t.logs.join('')).toContain('model did not wake; stopping it and starting it anew');
  });
});

describe('adoption', () => {
  it('a server found asleep at gateway start is adopted as sleeping, and woken by a request', async () => {
    const mock = await spawnMock(['--served-model-name', 'a', ...SLEEPY], 0, { VLLM_SERVER_DEV_MODE: '1' });
    await sleepServer(mock.url, 1, { timeoutMs: 5000 });
    const config = parseYaml(
      baseYaml(['models:', processModel('a', { vramGiB: 14, knobs: SLEEPY, extra: 'sleep: { level: 1 }' })].join('\n')),
    );
    const starts: string[] = [];
    const adopted: Instance = {
      endpoint: mock.url,
      exited: new Promise((resolve) =>
        mock.child.once('exit', (code) =>
          resolve({ code, signal: null, oomKilled: false, reason: `exited with code ${code}`, requested: false }),
        ),
      ),
      adopted: true,
      stop: () => mock.kill(),
      logs: async () => mock.output.join(''),
      pids: async () => [mock.child.pid!],
      ...vllmSleepApi(() => mock.url),
    };
    const runtime: Runtime = {
      kind: 'process',
      health: async () => ({ ok: true, reason: null }),
      start: async (req: StartRequest) => {
        starts.push(req.model.id);
        throw new Error('the adopted server should have been woken, not a new one started');
      },
      reconcile: async () => new Map([['a', adopted]]),
    };
    const logs: string[] = [];
    const gw = await createGateway(config, {
      logger: memoryLogger(logs),
      gpuProbe: new StaticProbe(config.gpu.static),
      runtimes: { process: runtime },
    });
    const url = await gw.listen();
    try {
      await waitUntil(() => gw.status().models[0].state === 'sleeping', 5000, 'adopted asleep');
      expect(gw.status().models[0]).toMatchObject({ state: 'sleeping', endpoint: mock.url, vramUsedMiB: 1024 });
      expect(logs.join('')).toContain('adopted sleeping model server');
      const r = await post(url, '/v1/chat/completions', chat('a'));
      expect(r.status).toBe(200);
      expect(gw.status().models[0].state).toBe('ready');
      expect(starts).toEqual([]);
      expect((await mock.stats()).sleep).toMatchObject({ wakes: 1, state: 'awake' });
    } finally {
      await gw.close();
      await mock.kill();
    }
  });
});
