// The model lifecycle through the gateway: one start for simultaneous first requests (P15), load
// (200 / 202), unload (409 busy, force cuts with 503), logs, preload, idle stop after ttlSeconds,
// never while busy (P10), and how soon readiness is seen after the server's health answers.

import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  admin,
  alive,
  baseYaml,
  chat,
  cleanupAll,
  errorOf,
  http,
  mockOf,
  post,
  processModel,
  sleep,
  startGateway,
  waitUntil,
} from './helpers.js';

afterEach(cleanupAll);
afterAll(cleanupAll);

describe('starts', () => {
  it('two simultaneous first requests (and a load) start one server (P15)', async () => {
    const t = await startGateway(baseYaml(`models:\n${processModel('p15', { knobs: ['--mock-start-delay-ms', 300] })}`));
    const [a, b, c] = await Promise.all([
      post(t.url, '/v1/chat/completions', chat('p15')),
      post(t.url, '/v1/completions', { model: 'p15', prompt: 'x' }),
      admin(t.url, '/gateway/models/p15/load'),
    ]);
    expect([a.status, b.status, c.status]).toEqual([200, 200, 200]);
    expect(t.runtime.starts).toEqual(['p15']);
    const mock = await mockOf(t, 'p15');
    const stats = await mock.stats();
    expect((await mock.received()).filter((r) => r.path.startsWith('/v1/')).length).toBe(2);
    expect(alive(stats.pid)).toBe(true);
  });

  it('readiness is seen soon after the health path answers', async () => {
    const t = await startGateway(baseYaml(`models:\n${processModel('rd', { knobs: ['--mock-start-delay-ms', 400] })}`));
    expect((await admin(t.url, '/gateway/models/rd/load')).status).toBe(200);
    const m = await t.model('rd');
    const stats = await (await mockOf(t, 'rd')).stats();
    const seenAfterMs = Date.parse(m.stateSince) - stats.listeningAt;
    expect(seenAfterMs).toBeGreaterThanOrEqual(0);
    // The health polls are every ≤100 ms: seen within one poll, plus the poll's own round trip.
    expect(seenAfterMs).toBeLessThan(100 + 250);
  });

  it('preload: true starts the model with the gateway', async () => {
    const t = await startGateway(baseYaml(`models:\n${processModel('pre', { extra: 'preload: true' })}\n${processModel('lazy')}`));
    await waitUntil(async () => (await t.model('pre')).state === 'ready', 5000, 'preloaded model ready');
    expect((await t.model('lazy')).state).toBe('stopped');
    expect(t.runtime.starts).toEqual(['pre']);
  });
});

describe('admin load / unload / logs', () => {
  it('load answers 200 with the entry once ready; ?wait=false answers 202 at once', async () => {
    const t = await startGateway(
      baseYaml(
        `models:\n${processModel('l1', { knobs: ['--mock-start-delay-ms', 300] })}\n${processModel('l2', { knobs: ['--mock-start-delay-ms', 300] })}`,
      ),
    );
    const res = await admin(t.url, '/gateway/models/l1/load');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ id: 'l1', state: 'ready', inFlight: 0, queued: 0 });
    expect(res.json.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const quick = await admin(t.url, '/gateway/models/l2/load?wait=false');
    expect(quick.status).toBe(202);
    expect(quick.json.id).toBe('l2');
    expect(['starting', 'stopped']).toContain(quick.json.state);
    await waitUntil(async () => (await t.model('l2')).state === 'ready', 5000, 'l2 ready');
    const missing = await admin(t.url, '/gateway/models/nope/load');
    expect(missing.status).toBe(404);
    expect(errorOf(missing).code).toBe('model_not_found');
  });

  it('unload of a busy model → 409 model_busy; ?force=true cuts its requests with 503; then it is stopped', async () => {
    const t = await startGateway(baseYaml(`models:\n${processModel('u1', { extra: 'maxConcurrent: 1' })}`));
    expect((await admin(t.url, '/gateway/models/u1/load')).status).toBe(200);
    const mock = await mockOf(t, 'u1');
    const pid = (await mock.stats()).pid;
    const running = post(t.url, '/v1/chat/completions', chat('u1'), { 'x-mock-delay-ms': '5000', 'x-request-id': 'cut-running' });
    const waiting = post(t.url, '/v1/chat/completions', chat('u1'), { 'x-request-id': 'cut-waiting' });
    await waitUntil(
      async () => {
        const m = await t.model('u1');
        return m.inFlight === 1 && m.queued === 1;
      },
      2000,
      'one running, one queued',
    );
    const busy = await admin(t.url, '/gateway/models/u1/unload');
    expect(busy.status).toBe(409);
    const e = errorOf(busy);
    expect(e.code).toBe('model_busy');
    expect(e.type).toBe('invalid_request_error');
    expect((await t.model('u1')).state).toBe('ready');
    const forced = await admin(t.url, '/gateway/models/u1/unload?force=true');
    expect(forced.status).toBe(200);
    expect(forced.json).toMatchObject({ id: 'u1', state: 'stopped', inFlight: 0, queued: 0, endpoint: null });
    const [r, w] = await Promise.all([running, waiting]);
    expect(r.status).toBe(503);
    expect(w.status).toBe(503);
    expect(errorOf(r).code).toBe('model_stopped');
    expect(errorOf(w).code).toBe('model_stopped');
    expect(alive(pid)).toBe(false);
    // The logs outlive the server.
    const logs = await http(t.url, '/gateway/models/u1/logs?tail=200');
    expect(logs.status).toBe(200);
    expect(logs.text).toContain('Application startup complete');
    expect(logs.text).toContain(`pid=${pid}`);
    // And the next request starts it again.
    expect((await post(t.url, '/v1/chat/completions', chat('u1'))).status).toBe(200);
    expect(t.runtime.starts).toEqual(['u1', 'u1']);
  });

  it('logs of a model never started are empty text', async () => {
    const t = await startGateway(baseYaml(`models:\n${processModel('never')}`));
    const res = await http(t.url, '/gateway/models/never/logs');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toBe('');
  });
});

describe('a server that dies while serving', () => {
  it('its request ends with a 502 in the OpenAI shape, the model is stopped (no cool-down), the next request restarts it', async () => {
    const t = await startGateway(baseYaml(`models:\n${processModel('dies', { knobs: ['--mock-exit-after-ms', 700] })}`));
    expect((await admin(t.url, '/gateway/models/dies/load')).status).toBe(200);
    const res = await post(t.url, '/v1/chat/completions', chat('dies'), { 'x-mock-delay-ms': '5000' });
    expect(res.status).toBe(502);
    expect(errorOf(res)).toMatchObject({ code: 'upstream_error', type: 'server_error' });
    await waitUntil(async () => (await t.model('dies')).state === 'stopped', 2000, 'stopped');
    expect((await t.model('dies')).error).toMatch(/exited with code 1/);
    expect([(await t.model('dies')).inFlight, (await t.model('dies')).queued]).toEqual([0, 0]);
    expect((await post(t.url, '/v1/chat/completions', chat('dies'))).status).toBe(200);
    expect(t.runtime.starts).toEqual(['dies', 'dies']);
  });
});

describe('idle stop', () => {
  it('a model idle for ttlSeconds is stopped and its server exits', async () => {
    const t = await startGateway(baseYaml(`models:\n${processModel('idle', { extra: 'ttlSeconds: 1' })}`));
    expect((await post(t.url, '/v1/chat/completions', chat('idle'))).status).toBe(200);
    const pid = (await (await mockOf(t, 'idle')).stats()).pid;
    await waitUntil(async () => (await t.model('idle')).state === 'stopped', 4000, 'idle model stopped');
    await waitUntil(() => !alive(pid), 2000, 'server exited');
  });

  it('a model with a request in flight is not stopped for idleness (P10), then is once idle', async () => {
    const t = await startGateway(baseYaml(`models:\n${processModel('busy', { extra: 'ttlSeconds: 1' })}`));
    expect((await admin(t.url, '/gateway/models/busy/load')).status).toBe(200);
    const stream = post(t.url, '/v1/chat/completions', chat('busy', { stream: true }), {
      'x-mock-tokens': '20',
      'x-mock-token-delay-ms': '100',
    });
    await sleep(1500);
    expect((await t.model('busy')).state).toBe('ready');
    const res = await stream;
    expect(res.status).toBe(200);
    expect(res.text).toContain('data: [DONE]');
    expect((await t.model('busy')).state).toBe('ready'); // its ttl counts from the request's end
    await waitUntil(async () => (await t.model('busy')).state === 'stopped', 4000, 'stopped once idle');
  });

  it('pinned and ttlSeconds: 0 models are never stopped for idleness', async () => {
    const t = await startGateway(
      baseYaml(
        `models:\n${processModel('pin', { extra: 'ttlSeconds: 0.3\npinned: true' })}\n${processModel('zero', { extra: 'ttlSeconds: 0' })}`,
      ),
    );
    expect((await admin(t.url, '/gateway/models/pin/load')).status).toBe(200);
    expect((await admin(t.url, '/gateway/models/zero/load')).status).toBe(200);
    await sleep(1200);
    expect((await t.model('pin')).state).toBe('ready');
    expect((await t.model('zero')).state).toBe('ready');
  });
});
