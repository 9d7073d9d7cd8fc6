// A model that fails to start: 503 model_start_failed carrying the last lines of its output, then
// 503 model_cooling_down at once during the cool-down; its logs stay readable.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, baseYaml, chat, cleanupAll, errorOf, http, post, processModel, startGateway, type TestGateway } from './helpers.js';

let t: TestGateway;
const FAIL_KNOBS = ['--mock-fail-at-start', 'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB'];

/** A first request to `id` whose start fails, as the first test checks in detail. */
async function failedStart(id: string): Promise<void> {
  const res = await post(t.url, '/v1/chat/completions', chat(id));
  expect(res.status).toBe(503);
  expect(errorOf(res).code).toBe('model_start_failed');
}

beforeAll(async () => {
  t = await startGateway(
    baseYaml(
      [
        'models:',
        // One failing model per test, so that each test starts from a model that has not failed yet.
        ...['broken', 'broken-cool', 'broken-logs', 'broken-unload'].map((id) => processModel(id, { knobs: FAIL_KNOBS })),
        processModel('nohealth', { knobs: ['--mock-health-delay-ms', '60000'] }),
        '  notaprogram: { runtime: process, command: ["/nonexistent/vllm-binary", "serve"], vramGiB: 1 }',
        '  notonpath: { runtime: process, command: ["vllm-gateway-test-no-such-command", "serve"], vramGiB: 1 }',
      ].join('\n'),
      { timeouts: '{ connectSeconds: 2, firstByteSeconds: 10, idleSeconds: 10, startSeconds: 1 }', limits: '{ queueTimeoutSeconds: 10 }' },
    ),
  );
});
afterAll(cleanupAll);

describe('model_start_failed', () => {
  it('a server that exits while starting: 503 with the tail of its output and Retry-After', async () => {
    const res = await post(t.url, '/v1/chat/completions', chat('broken'));
    expect(res.status).toBe(503);
    const e = errorOf(res);
    expect(e.code).toBe('model_start_failed');
    expect(e.type).toBe('server_error');
    expect(e.message).toContain('CUDA out of memory. Tried to allocate 2.00 GiB');
    expect(e.message).toContain('Engine core initialization failed');
    expect(e.message).toMatch(/exited with code 1/);
    expect(res.headers['retry-after']).toBe('10'); // model_start_failed's Retry-After
    const m = await t.model('broken');
    expect(m.state).toBe('failed');
    expect(m.error).toContain('CUDA out of memory');
    expect([m.inFlight, m.queued]).toEqual([0, 0]);
    expect(m.gpus).toEqual([]);
  });

  it('then model_cooling_down at once, for requests and loads alike, without a new start', async () => {
    await failedStart('broken-cool');
    const starts = t.runtime.starts.length;
    const res = await post(t.url, '/v1/chat/completions', chat('broken-cool'));
    expect(res.status).toBe(503);
    const e = errorOf(res);
    expect(e.code).toBe('model_cooling_down');
    // Retry-After is what is left of the first cool-down (10 s), as the message says.
    const left = Number(/cooling down for (\d+) s/.exec(e.message)?.[1]);
    expect(res.headers['retry-after']).toBe(String(left));
    expect(left).toBeGreaterThanOrEqual(1);
    expect(left).toBeLessThanOrEqual(10);
    const load = await admin(t.url, '/gateway/models/broken-cool/load');
    expect(load.status).toBe(503);
    expect(errorOf(load).code).toBe('model_cooling_down');
    expect(t.runtime.starts.length).toBe(starts);
  });

  it('its output stays readable through /gateway/models/{id}/logs', async () => {
    await failedStart('broken-logs');
    const res = await http(t.url, '/gateway/models/broken-logs/logs?tail=5');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toContain('CUDA out of memory');
    expect(res.text.trimEnd().split('\n').length).toBeLessThanOrEqual(5);
  });

  it('unloading a failed model clears its failure', async () => {
    await failedStart('broken-unload');
    expect((await t.model('broken-unload')).state).toBe('failed');
    const res = await admin(t.url, '/gateway/models/broken-unload/unload');
    expect(res.status).toBe(200);
    expect(res.json.state).toBe('stopped');
    expect(res.json.error).toBeNull();
  });

  it('a server that never becomes healthy within startSeconds fails and is killed', async () => {
    const res = await post(t.url, '/v1/chat/completions', chat('nohealth'));
    expect(res.status).toBe(503);
    const e = errorOf(res);
    expect(e.code).toBe('model_start_failed');
    expect(e.message).toMatch(/did not answer \/health within 1 s/);
    expect(e.message).toContain('Application startup complete');
    const inst = t.runtime.instances.at(-1)!;
    const exited = await Promise.race([inst.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
    expect(exited).toBe(true);
    expect((await t.model('nohealth')).state).toBe('failed');
  });

  it('a command that cannot be run fails with the reason', async () => {
    const res = await post(t.url, '/v1/chat/completions', chat('notaprogram'));
    expect(res.status).toBe(503);
    const e = errorOf(res);
    expect(e.code).toBe('model_start_failed');
    expect(e.message).toMatch(/could not be run \(spawn \/nonexistent\/vllm-binary ENOENT\)/);
    expect(e.message).not.toContain('PATH');
    expect((await t.model('notaprogram')).state).toBe('failed');
  });

  it('a bare command not on PATH says which PATH was searched', async () => {
    const res = await post(t.url, '/v1/chat/completions', chat('notonpath'));
    expect(res.status).toBe(503);
    const e = errorOf(res);
    expect(e.code).toBe('model_start_failed');
    // A desktop launch's PATH can differ from the shell's: the message names the one used.
    expect(e.message).toContain(
      `could not be run (spawn vllm-gateway-test-no-such-command ENOENT): "vllm-gateway-test-no-such-command" is not on the PATH the gateway searched (${process.env.PATH}); give its full path in the model's command`,
    );
    expect((await t.model('notonpath')).state).toBe('failed');
  });
});
