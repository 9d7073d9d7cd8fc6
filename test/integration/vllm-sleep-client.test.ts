// gateway/runtimes/vllm-sleep.ts against the real mock vLLM process (test/fixtures/mock-vllm.mjs),
// which implements vLLM's sleep API: the calls, their order, the errors a misconfigured server gives.
import { afterAll, describe, expect, it } from 'vitest';
import { isSleeping, SleepApiError, sleepServer, wakeServer, type WakeStep } from '../../gateway/runtimes/vllm-sleep.js';
import { cleanupAll, post, spawnMock } from './helpers.js';

afterAll(cleanupAll);

const DEV = { VLLM_SERVER_DEV_MODE: '1' };
const SLEEPY = ['--served-model-name', 'm', '--enable-sleep-mode', '--mock-vram-mib', '4096'];
const opts = { timeoutMs: 5000 };
const sleepPaths = async (received: () => Promise<Array<{ path: string; body: string; headers: Record<string, string> }>>) =>
  (await received()).filter((r) => !r.path.startsWith('/v1/')).map((r) => r.path);

describe('vllm-sleep', () => {
  it('level 1: POST /sleep?level=1, confirmed by /is_sleeping; the wake is POST /wake_up', async () => {
    const mock = await spawnMock(SLEEPY, 0, DEV);
    expect(await isSleeping(mock.url, opts)).toBe(false);
    await sleepServer(mock.url, 1, { ...opts, requestId: 'sleep-1' });
    expect((await mock.stats()).sleep).toMatchObject({ weights: 'offloaded', kvCache: 'discarded', vramMib: 512 });
    expect(await isSleeping(mock.url, opts)).toBe(true);
    const steps: WakeStep[] = [];
    await wakeServer(mock.url, 1, { ...opts, onStep: (s) => steps.push(s) });
    expect(steps).toEqual(['wake', 'confirm']);
    expect(await sleepPaths(mock.received)).toEqual([
      '/is_sleeping',
      '/sleep?level=1',
      '/is_sleeping',
      '/is_sleeping',
      '/wake_up',
      '/is_sleeping',
    ]);
    expect((await mock.received()).find((r) => r.path === '/sleep?level=1')!.headers['x-request-id']).toBe('sleep-1');
    const res = await post(mock.url, '/v1/completions', { model: 'm', prompt: 'x', max_tokens: 3 });
    expect(res.json.choices[0].text).toBe('héllo');
    await mock.kill();
  });

  it('level 2: weights, reload_weights, kv_cache, in that order: the answers are not garbage', async () => {
    const mock = await spawnMock(SLEEPY, 0, DEV);
    await sleepServer(mock.url, 2, opts);
    expect((await mock.stats()).sleep).toMatchObject({ weights: 'discarded', hostRamMib: 0 });
    const steps: Array<[WakeStep, number, number]> = [];
    await wakeServer(mock.url, 2, { ...opts, onStep: (s, i, of) => steps.push([s, i, of]) });
    expect(steps).toEqual([
      ['weights', 0, 4],
      ['reload', 1, 4],
      ['kv_cache', 2, 4],
      ['confirm', 3, 4],
    ]);
    const calls = (await mock.received()).filter((r) => r.path !== '/is_sleeping');
    expect(calls.map((r) => r.path)).toEqual(['/sleep?level=2', '/wake_up?tags=weights', '/collective_rpc', '/wake_up?tags=kv_cache']);
    expect(JSON.parse(calls[2].body)).toEqual({ method: 'reload_weights' });
    expect((await mock.stats()).sleep).toMatchObject({ garbage: false, reloads: 1, vramMib: 4096 });
    const res = await post(mock.url, '/v1/completions', { model: 'm', prompt: 'x', max_tokens: 3 });
    expect(res.json.choices[0].text).toBe('héllo');
    await mock.kill();
  });

  it('a server without dev mode: /is_sleeping is null, a sleep fails with 404 and says why', async () => {
    const mock = await spawnMock(SLEEPY);
    expect(await isSleeping(mock.url, opts)).toBeNull();
    const err = await sleepServer(mock.url, 1, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SleepApiError);
    expect((err as SleepApiError).status).toBe(404);
    expect((err as Error).message).toBe(
      'POST /sleep?level=1 answered 404 (is the server running with VLLM_SERVER_DEV_MODE=1?): {"detail":"Not Found"}',
    );
    await mock.kill();
  });

  it('dev mode without --enable-sleep-mode: 500, and the hint names the flag', async () => {
    const mock = await spawnMock(['--served-model-name', 'm'], 0, DEV);
    const err = (await wakeServer(mock.url, 1, opts).catch((e: unknown) => e)) as SleepApiError;
    expect([err.status, err.message]).toEqual([
      500,
      'POST /wake_up answered 500 (is it running with --enable-sleep-mode?): Internal Server Error',
    ]);
    await mock.kill();
  });

  it('a wake slower than the limit fails with a timeout; an abort rejects with its reason', async () => {
    const mock = await spawnMock([...SLEEPY, '--mock-wake-delay-ms', '3000'], 0, DEV);
    await sleepServer(mock.url, 1, opts);
    const t0 = Date.now();
    const err = (await wakeServer(mock.url, 1, { timeoutMs: 300 }).catch((e: unknown) => e)) as SleepApiError;
    expect(err).toBeInstanceOf(SleepApiError);
    expect([err.status, err.message]).toEqual([null, 'POST /wake_up: timed out']);
    expect(Date.now() - t0).toBeLessThan(2500);
    const ac = new AbortController();
    const reason = new Error('unloaded');
    setTimeout(() => ac.abort(reason), 100);
    await expect(wakeServer(mock.url, 1, { timeoutMs: 10_000, signal: ac.signal })).rejects.toBe(reason);
    await mock.kill();
  });

  it('a server that is gone: the error says so', async () => {
    const mock = await spawnMock(SLEEPY, 0, DEV);
    await mock.kill();
    const err = (await sleepServer(mock.url, 1, opts).catch((e: unknown) => e)) as SleepApiError;
    expect(err).toBeInstanceOf(SleepApiError);
    expect(err.message).toBe('POST /sleep?level=1: ECONNREFUSED');
  });
});
