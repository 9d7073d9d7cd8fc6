// The fault-injection suite (docs/reliability.md "Faults"): every fault of the list this machine
// can produce without Docker, injected into one real gateway with real mock vLLM servers. Each
// case asserts the contract's answer, then that the counters are back to 0, the gateway is healthy
// and serves the next request; at the end nothing the gateway started is left running. (The
// Docker-only faults — daemon restart, socket absent, image missing, leftover containers — are in
// test/docker/gateway-docker.test.ts; VRAM held by another process in gpu-placement.test.ts.)

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  alive,
  allIdle,
  baseYaml,
  chat,
  CUT_CHUNKED_BODY,
  errorOf,
  freePort,
  http,
  mockCommand,
  mockOf,
  post,
  postAndRead,
  spawnMock,
  startGateway,
  waitUntil,
  cleanupAll,
  type Mock,
  type TestGateway,
} from './helpers.js';

let t: TestGateway;
let mock: Mock;
let latePort: number;
const pids: number[] = [];

beforeAll(async () => {
  mock = await spawnMock(['--served-model-name', 'r1', 'rq']);
  latePort = await freePort();
  t = await startGateway(
    baseYaml(
      `models:
  r1: { runtime: remote, url: "${mock.url}" }
  rq: { runtime: remote, url: "${mock.url}", maxConcurrent: 1, maxQueue: 2 }
  late: { runtime: remote, url: "http://127.0.0.1:${latePort}" }
  p1: { runtime: process, command: ${mockCommand()}, vramGiB: 4 }
  dies: { runtime: process, command: ${mockCommand('--mock-fail-at-start', 'CUDA error: out of memory (mock)')}, vramGiB: 4 }`,
      {
        retry: '{ maxAttempts: 4, initialDelaySeconds: 1, backoff: 2 }',
        // idleSeconds short for the silent-upstream case, not so short that a busy test process
        // reading a 1-byte-sliced stream looks like a stalled client.
        timeouts: '{ connectSeconds: 2, firstByteSeconds: 10, idleSeconds: 2, startSeconds: 15 }',
      },
    ),
  );
});

afterAll(async () => {
  for (const i of t.runtime.instances) if (i.pid) pids.push(i.pid);
  await cleanupAll();
  // Nothing the gateway started outlives it.
  for (const pid of pids) await waitUntil(() => !alive(pid), 5000, `model server ${pid} to be gone`);
});

/** After every fault: counters at 0, /health 200, and a normal request still served. */
async function healthyAfter(model = 'r1'): Promise<void> {
  await waitUntil(() => allIdle(t), 5000, 'inFlight and queued back to 0');
  expect((await http(t.url, '/health')).status).toBe(200);
  const res = await post(t.url, '/v1/chat/completions', chat(model, { max_tokens: 2 }));
  expect(res.status, res.text).toBe(200);
}

describe('faults at the upstream', () => {
  it('connection refused until the server comes up: retried, then 200 (P1, P3)', async () => {
    const pending = post(t.url, '/v1/chat/completions', chat('late', { max_tokens: 2 }));
    const lateMock = await spawnMock(['--served-model-name', 'late'], latePort); // starts during the backoff
    const res = await pending;
    expect(res.status, res.text).toBe(200);
    expect((await lateMock.received()).length).toBe(1);
    await lateMock.kill();
    await healthyAfter();
  });

  it('a reset after the request was sent: 502 upstream_error, never retried (P1)', async () => {
    const res = await post(t.url, '/v1/chat/completions', chat('r1'), { 'x-mock-reset': '1', 'x-request-id': 'f-reset' });
    expect(res.status).toBe(502);
    expect(errorOf(res).code).toBe('upstream_error');
    expect((await mock.received()).filter((r) => r.requestId === 'f-reset')).toHaveLength(1);
    await healthyAfter();
  });

  it('an upstream that goes silent mid-stream: cut after idleSeconds, upstream aborted (P4)', async () => {
    const r = await postAndRead(t.url, '/v1/chat/completions', chat('r1', { stream: true }), {
      'x-mock-silent-after': '2',
      'x-request-id': 'f-silent',
    });
    expect(r.status).toBe(200);
    expect(r.events).toBe(2);
    expect(r.error).not.toBeNull();
    await waitUntil(async () => (await mock.aborted()).includes('f-silent'), 4000, 'the upstream request to be aborted');
    await healthyAfter();
  });

  it('a 1-byte-slicing upstream: SSE events and multi-byte UTF-8 arrive byte-identical (P7)', async () => {
    const headers = { 'x-mock-chunk-bytes': '1', 'x-mock-text': Buffer.from('héllo wörld 你好 🚀 done').toString('base64') };
    const body = chat('r1', { stream: true, seed: 1 });
    const viaGateway = await postAndRead(t.url, '/v1/chat/completions', body, headers);
    const direct = await postAndRead(mock.url, '/v1/chat/completions', body, headers);
    const strip = (s: string) => s.replace(/"(id|created)":("[^"]*"|\d+)/g, '');
    expect(viaGateway.error).toBeNull();
    expect(strip(viaGateway.text)).toBe(strip(direct.text));
    expect(viaGateway.text).toContain('🚀');
    await healthyAfter();
  });

  it('a truncated stream reaches the client as an error, not a clean end (P2)', async () => {
    const r = await postAndRead(t.url, '/v1/chat/completions', chat('r1', { stream: true }), { 'x-mock-truncate-after': '3' });
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('[DONE]');
    expect(r.error).toMatchObject(CUT_CHUNKED_BODY);
    await healthyAfter();
  });

  it('a burst above the queue bound: 429 queue_full with Retry-After at once, the rest served (P8)', async () => {
    const slow = { 'x-mock-delay-ms': '600' };
    const burst = await Promise.all(
      Array.from({ length: 6 }, () => post(t.url, '/v1/chat/completions', chat('rq', { max_tokens: 1 }), slow)),
    );
    const full = burst.filter((r) => r.status === 429);
    expect(full).toHaveLength(3); // 1 in flight + 2 queued
    for (const r of full) {
      expect(errorOf(r).code).toBe('queue_full');
      expect(r.headers['retry-after']).toBe('1');
    }
    expect(burst.filter((r) => r.status === 200)).toHaveLength(3);
    await healthyAfter('rq');
  });
});

describe('faults at a model server the gateway runs', () => {
  it('a server that exits while starting: 503 model_start_failed carrying its output (P12)', async () => {
    const res = await post(t.url, '/v1/chat/completions', chat('dies'));
    expect(res.status).toBe(503);
    const e = errorOf(res);
    expect(e.code).toBe('model_start_failed');
    expect(e.message).toContain('CUDA error: out of memory (mock)');
    expect(res.headers['retry-after']).toBe('10'); // model_start_failed's in the error catalogue (gateway/errors.ts)
    await healthyAfter();
  });

  it('two simultaneous first requests start one server (P15)', async () => {
    const before = t.runtime.starts.filter((id) => id === 'p1').length;
    const [a, b] = await Promise.all([post(t.url, '/v1/chat/completions', chat('p1')), post(t.url, '/v1/chat/completions', chat('p1'))]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(t.runtime.starts.filter((id) => id === 'p1').length - before).toBe(1);
    await healthyAfter('p1');
  });

  it('the server killed mid-stream: the stream ends in an error, the model is stopped, the next request starts a new one (P12)', async () => {
    const { endpoint } = await mockOf(t, 'p1');
    const pid = (await http(endpoint, '/mock/stats')).json.pid as number;
    let answerBegun!: () => void;
    const begun = new Promise<void>((resolve) => (answerBegun = resolve));
    const reading = postAndRead(
      t.url,
      '/v1/chat/completions',
      chat('p1', { stream: true }),
      { 'x-mock-tokens': '200', 'x-mock-token-delay-ms': '20' },
      answerBegun,
    );
    // Killed once the answer has begun: killed before, the client rightly gets 502 instead.
    await begun;
    process.kill(pid, 'SIGKILL');
    const r = await reading;
    expect(r.status).toBe(200);
    expect(r.error).not.toBeNull();
    expect(r.text).not.toContain('[DONE]');
    await waitUntil(async () => (await t.model('p1')).state !== 'ready', 3000, 'the model to be seen gone');
    await healthyAfter('p1');
    const again = (await http((await mockOf(t, 'p1')).endpoint, '/mock/stats')).json.pid;
    expect(again).not.toBe(pid);
  });

  it('a forced unload while streams run: the streams end in an error, the model stops, nothing leaks (P9, P13)', async () => {
    const streams = [1, 2].map(() =>
      postAndRead(t.url, '/v1/chat/completions', chat('p1', { stream: true }), { 'x-mock-tokens': '200', 'x-mock-token-delay-ms': '20' }),
    );
    await waitUntil(async () => (await t.model('p1')).inFlight === 2, 3000, 'both streams in flight');
    const busy = await admin(t.url, '/gateway/models/p1/unload');
    expect(busy.status).toBe(409);
    expect(errorOf(busy).code).toBe('model_busy');
    const forced = await admin(t.url, '/gateway/models/p1/unload?force=true');
    expect(forced.status).toBe(200);
    for (const r of await Promise.all(streams)) {
      // A stream whose answer had begun is cut (an error, no [DONE]); one not yet answered gets 503 model_stopped.
      if (r.status === 503) expect(JSON.parse(r.text).error.code).toBe('model_stopped');
      else {
        expect(r.error).not.toBeNull();
        expect(r.text).not.toContain('[DONE]');
      }
    }
    expect((await t.model('p1')).state).toBe('stopped');
    await healthyAfter('p1');
  });
});
