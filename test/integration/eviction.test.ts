// Placement on a static 24 GiB GPU (0.5 GiB reserved): LRU eviction of idle unpinned models, the
// evicted server gone before the next one starts (P11), busy (P10) and pinned models never evicted,
// insufficient_vram when nothing can be freed.

import { afterEach, describe, expect, it } from 'vitest';
import type { Instance } from '../../gateway/runtimes/runtime.js';
import {
  admin,
  alive,
  baseYaml,
  chat,
  cleanupAll,
  errorOf,
  mockOf,
  post,
  processModel,
  startGateway,
  type TestGateway,
  waitUntil,
} from './helpers.js';

afterEach(cleanupAll);

/** Three 10 GiB models: any two fit in 23.5 GiB, three do not. */
function threeModels(extra: Record<string, string> = {}): string {
  return ['models:', ...['a', 'b', 'c'].map((id) => processModel(`ev-${id}`, { vramGiB: 10, extra: extra[id] ?? 'ttlSeconds: 0' }))].join(
    '\n',
  );
}

async function loadAll(t: TestGateway, ids: string[]): Promise<void> {
  for (const id of ids) expect((await admin(t.url, `/gateway/models/${id}/load`)).status).toBe(200);
}

/** When each instance exited, by the order it was started. */
function exitTimes(t: TestGateway): Map<Instance, number> {
  const times = new Map<Instance, number>();
  for (const inst of t.runtime.instances) void inst.exited.then(() => times.set(inst, Date.now()));
  return times;
}

describe('LRU eviction', () => {
  it('the least recently used idle model is evicted, and its server has exited before the next start (P11)', async () => {
    const t = await startGateway(baseYaml(threeModels()));
    await loadAll(t, ['ev-a', 'ev-b']);
    expect((await post(t.url, '/v1/chat/completions', chat('ev-b'))).status).toBe(200);
    const pidA = (await (await mockOf(t, 'ev-a')).stats()).pid;
    const times = exitTimes(t);
    const [instA] = t.runtime.instances;
    const before = t.runtime.instances.length;
    const res = await post(t.url, '/v1/chat/completions', chat('ev-c'));
    expect(res.status).toBe(200);
    expect((await t.model('ev-a')).state).toBe('stopped');
    expect((await t.model('ev-b')).state).toBe('ready');
    expect((await t.model('ev-c')).state).toBe('ready');
    expect(alive(pidA)).toBe(false);
    // The evicted server was gone before the new one was spawned.
    const cStarted = (await (await mockOf(t, 'ev-c')).stats()).startedAt as number;
    expect(times.get(instA)!).toBeLessThanOrEqual(cStarted);
    expect(t.runtime.starts).toEqual(['ev-a', 'ev-b', 'ev-c']); // one start for c, none again for a or b
    expect(t.runtime.instances).toHaveLength(before + 1);
    const s = await t.status();
    expect(s.gpus[0].usedMiB).toBe(20 * 1024);
    expect(s.gpus[0].models.map((m) => m.id).sort()).toEqual(['ev-b', 'ev-c']);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^vllm_gateway_evictions_total 1$/m);
  });

  it('a busy model is never evicted (P10): the idle one goes even if it was used more recently', async () => {
    const t = await startGateway(baseYaml(threeModels()));
    await loadAll(t, ['ev-a', 'ev-b']); // a is least recently used
    const stream = post(t.url, '/v1/chat/completions', chat('ev-a', { stream: true }), {
      'x-mock-tokens': '10',
      'x-mock-token-delay-ms': '100',
    });
    await waitUntil(async () => (await t.model('ev-a')).inFlight === 1, 2000, 'a busy');
    const res = await post(t.url, '/v1/chat/completions', chat('ev-c'));
    expect(res.status).toBe(200);
    expect((await t.model('ev-b')).state).toBe('stopped');
    expect((await t.model('ev-a')).state).toBe('ready');
    const s = await stream;
    expect(s.status).toBe(200);
    expect(s.text).toContain('data: [DONE]');
  });

  it('a pinned model is never evicted', async () => {
    const t = await startGateway(baseYaml(threeModels({ a: 'pinned: true' })));
    await loadAll(t, ['ev-a', 'ev-b']);
    expect((await post(t.url, '/v1/chat/completions', chat('ev-b'))).status).toBe(200);
    expect((await post(t.url, '/v1/chat/completions', chat('ev-c'))).status).toBe(200);
    expect((await t.model('ev-a')).state).toBe('ready');
    expect((await t.model('ev-b')).state).toBe('stopped');
  });
});

describe('insufficient_vram', () => {
  it('everything else pinned → 503 insufficient_vram with Retry-After, at once, starting nothing', async () => {
    const t = await startGateway(baseYaml(threeModels({ a: 'pinned: true', b: 'pinned: true' })));
    await loadAll(t, ['ev-a', 'ev-b']);
    const res = await post(t.url, '/v1/chat/completions', chat('ev-c'));
    expect(res.status).toBe(503);
    const e = errorOf(res);
    expect(e.code).toBe('insufficient_vram');
    expect(e.type).toBe('server_error');
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(t.runtime.starts).toEqual(['ev-a', 'ev-b']);
    const c = await t.model('ev-c');
    expect(c.state).toBe('stopped'); // not a start failure (no cool-down): never started
    expect([c.inFlight, c.queued]).toEqual([0, 0]);
  });

  it('a model larger than the GPU → insufficient_vram', async () => {
    const t = await startGateway(baseYaml(`models:\n${processModel('huge', { vramGiB: 30 })}`));
    const res = await post(t.url, '/v1/chat/completions', chat('huge'));
    expect(res.status).toBe(503);
    expect(errorOf(res).code).toBe('insufficient_vram');
    expect(t.runtime.starts).toEqual([]);
  });

  it('everything else busy → waits, then 503 queue_timeout saying it waited for GPU memory', async () => {
    const t = await startGateway(baseYaml(threeModels(), { limits: '{ queueTimeoutSeconds: 1 }' }));
    await loadAll(t, ['ev-a', 'ev-b']);
    const holds = ['ev-a', 'ev-b'].map((id) => post(t.url, '/v1/chat/completions', chat(id), { 'x-mock-delay-ms': '2500' }));
    await waitUntil(async () => (await t.model('ev-a')).inFlight === 1 && (await t.model('ev-b')).inFlight === 1, 2000, 'both busy');
    const res = await post(t.url, '/v1/chat/completions', chat('ev-c'));
    expect(res.status).toBe(503);
    expect(errorOf(res)).toMatchObject({ code: 'queue_timeout', type: 'server_error' });
    expect(errorOf(res).message).toBe('Waited 1 s for GPU memory for ev-c: needs 10.0 GiB; models in use hold the rest');
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(t.runtime.starts).toEqual(['ev-a', 'ev-b']);
    for (const h of await Promise.all(holds)) expect(h.status).toBe(200);
    // Once they are idle (nothing in flight or queued for 0.5 s, docs/configuration.md), c fits by evicting one.
    const idleFor = async (id: string) => Date.now() - Date.parse((await t.model(id)).lastUsedAt ?? '') >= 500;
    await waitUntil(async () => (await idleFor('ev-a')) && (await idleFor('ev-b')), 3000, 'a and b idle');
    // (A load: its start is not bounded by this test's 1 s queue timeout, which a loaded machine's
    // stop + start can exceed.)
    expect((await admin(t.url, '/gateway/models/ev-c/load')).status).toBe(200);
    expect(t.runtime.starts).toEqual(['ev-a', 'ev-b', 'ev-c']);
    expect((await post(t.url, '/v1/chat/completions', chat('ev-c'))).status).toBe(200);
  });
});
