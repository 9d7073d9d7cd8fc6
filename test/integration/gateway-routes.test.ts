// The gateway's own routes (docs/http-api.md, docs/status.md): /v1/models, /health, /ready, /gateway/status (every
// key of the status document), /gateway/events (SSE), /metrics.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  REPO_ROOT,
  admin,
  agent,
  baseYaml,
  errorOf,
  chat,
  cleanupAll,
  http,
  post,
  processModel,
  startGateway,
  type TestGateway,
} from './helpers.js';

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(
    baseYaml(
      [
        'models:',
        processModel('gm1', { vramGiB: 6, extra: 'aliases: ["gm1-a", "gm1-b"]\nmaxConcurrent: 7\nmaxQueue: 9\nttlSeconds: 120' }),
        processModel('gm2', { vramGiB: 2.5, extra: 'pinned: true' }),
        '  gr: { runtime: remote, url: "http://127.0.0.1:9" }',
      ].join('\n'),
      { limits: '{ queueTimeoutSeconds: 5, maxQueuePerModel: 33, maxConcurrentPerModel: 44 }' },
    ),
  );
});
afterAll(cleanupAll);

describe('GET /v1/models', () => {
  it('is an OpenAI list with one entry per model, aliases inside', async () => {
    const res = await http(t.url, '/v1/models');
    expect(res.status).toBe(200);
    expect(res.json.object).toBe('list');
    expect(res.json.data.map((m: { id: string }) => m.id)).toEqual(['gm1', 'gm2', 'gr']);
    const gm1 = res.json.data[0];
    expect(gm1).toMatchObject({ id: 'gm1', object: 'model', owned_by: 'vllm-gateway', state: 'stopped', aliases: ['gm1-a', 'gm1-b'] });
    expect(res.json.data[2].state).toBe('ready'); // remote models are always routable
  });

  it('gives each model a created time: when the gateway loaded its config (Unix seconds)', async () => {
    const res = await http(t.url, '/v1/models');
    const startedAt = Math.floor(Date.parse((await http(t.url, '/gateway/status')).json.startedAt) / 1000);
    for (const m of res.json.data) expect(m.created).toBe(startedAt);
    expect(startedAt).toBeGreaterThan(Math.floor(Date.now() / 1000) - 3600); // a real clock reading, not 0
  });
});

describe('/health and /ready', () => {
  it('/health answers 200 {status:"ok"}', async () => {
    const res = await http(t.url, '/health');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: 'ok' });
  });

  it('/ready answers 200 with a static probe and runtimes up', async () => {
    const res = await http(t.url, '/ready');
    expect(res.status).toBe(200);
    expect(res.json.reasons).toEqual([]);
  });

  it('/ready answers 503 with the reasons when local models have no GPU probe; /health stays 200', async () => {
    const bare = await startGateway(baseYaml(`models:\n${processModel('x1')}`), { noGpu: true });
    const res = await http(bare.url, '/ready');
    expect(res.status).toBe(503);
    expect(res.json.reasons.join(' ')).toMatch(/GPU/);
    expect((await http(bare.url, '/health')).status).toBe(200);
    await bare.close();
  });
});

const MODEL_KEYS = [
  'id',
  'aliases',
  'runtime',
  'state',
  'inFlight',
  'queued',
  'maxConcurrent',
  'maxQueue',
  'vramBudgetMiB',
  'vramUsedMiB',
  'gpus',
  'endpoint',
  'lastUsedAt',
  'stateSince',
  'pinned',
  'ttlSeconds',
  'error',
  'progress',
];
const GPU_KEYS = ['index', 'name', 'totalMiB', 'usedMiB', 'freeMiB', 'reservedMiB', 'models', 'otherMiB'];

describe('GET /gateway/status', () => {
  it('has every key of docs/status.md with the right types', async () => {
    const res = await http(t.url, '/gateway/status');
    expect(res.status).toBe(200);
    const s = res.json;
    for (const k of ['version', 'startedAt', 'listen', 'models', 'gpus', 'limits']) expect(s, k).toHaveProperty(k);
    expect(s.version).toBe('0.1.0');
    expect(new Date(s.startedAt).toISOString()).toBe(s.startedAt);
    expect(s.listen).toBe(t.url);
    expect(s.limits).toEqual({ maxQueuePerModel: 33, maxConcurrentPerModel: 44 });
    for (const m of s.models) for (const k of MODEL_KEYS) expect(m, `${m.id}.${k}`).toHaveProperty(k);
    const [gm1, gm2, gr] = s.models;
    expect(gm1).toMatchObject({
      id: 'gm1',
      aliases: ['gm1-a', 'gm1-b'],
      runtime: 'process',
      state: 'stopped',
      inFlight: 0,
      queued: 0,
      maxConcurrent: 7,
      maxQueue: 9,
      vramBudgetMiB: 6144,
      vramUsedMiB: null,
      gpus: [],
      endpoint: null,
      lastUsedAt: null,
      pinned: false,
      ttlSeconds: 120,
      error: null,
      progress: null,
    });
    expect(new Date(gm1.stateSince).toISOString()).toBe(gm1.stateSince);
    expect(gm2).toMatchObject({ maxConcurrent: 44, maxQueue: 33, pinned: true, vramBudgetMiB: 2560 });
    expect(gr).toMatchObject({ runtime: 'remote', state: 'ready', vramBudgetMiB: null, endpoint: 'http://127.0.0.1:9' });
    expect(s.gpus).toHaveLength(1);
    for (const k of GPU_KEYS) expect(s.gpus[0], k).toHaveProperty(k);
    expect(s.gpus[0]).toMatchObject({ index: 0, name: 'Test GPU', totalMiB: 24576, usedMiB: 0, models: [], otherMiB: 0 });
  });

  it('reflects a running model: state, endpoint, budget on its GPU, lastUsedAt', async () => {
    expect((await post(t.url, '/v1/chat/completions', chat('gm1-a'))).status).toBe(200);
    const s = (await http(t.url, '/gateway/status')).json;
    const gm1 = s.models[0];
    expect(gm1).toMatchObject({ state: 'ready', gpus: [0], vramUsedMiB: 6144, inFlight: 0, queued: 0 });
    expect(gm1.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Date.parse(gm1.lastUsedAt)).toBeGreaterThan(Date.parse(s.startedAt));
    expect(s.gpus[0]).toMatchObject({ usedMiB: 6144, models: [{ id: 'gm1', usedMiB: 6144 }] });
    expect(s.gpus[0].freeMiB).toBe(24576 - 6144 - s.gpus[0].reservedMiB);
  });
});

describe('GET /gateway/events', () => {
  it('sends the status document at once, then again on a change', async () => {
    const ac = new AbortController();
    const res = await request(`${t.url}/gateway/events`, { signal: ac.signal, dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    let buf = '';
    const events: Array<{ event: string; data: any }> = []; // eslint-disable-line @typescript-eslint/no-explicit-any
    const reader = (async () => {
      for await (const chunk of res.body) {
        buf += String(chunk);
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? '';
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (data) events.push({ event, data: JSON.parse(data) });
        }
      }
    })().catch(() => {});
    const until = async (pred: () => boolean, ms: number) => {
      const end = Date.now() + ms;
      while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      return pred();
    };
    expect(await until(() => events.length >= 1, 1000)).toBe(true);
    expect(events[0].event).toBe('status');
    expect(events[0].data.models.map((m: { id: string }) => m.id)).toEqual(['gm1', 'gm2', 'gr']);
    const loaded = admin(t.url, '/gateway/models/gm2/load');
    const sawStarting = await until(() => events.some((e) => e.data.models[1].state !== 'stopped'), 3000);
    expect(sawStarting).toBe(true);
    expect((await loaded).status).toBe(200);
    expect(await until(() => events.some((e) => e.data.models[1].state === 'ready'), 3000)).toBe(true);
    ac.abort();
    await reader;
  });
});

describe('admin routes refuse values they cannot read', () => {
  it.each([
    ['POST', '/gateway/models/gm1/unload?force=1'],
    ['POST', '/gateway/models/gm1/unload?force=yes'],
    ['POST', '/gateway/models/gm1/load?wait=0'],
    ['GET', '/gateway/models/gm1/logs?tail=abc'],
    ['GET', '/gateway/models/gm1/logs?tail=0'],
    ['GET', '/gateway/models/gm1/logs?tail=10001'],
  ])('%s %s is 400 invalid_request, and changes nothing', async (method, path) => {
    const before = (await http(t.url, '/gateway/status')).json.models.find((m: { id: string }) => m.id === 'gm1').state;
    const res = await admin(t.url, path, method);
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe('invalid_request');
    const after = (await http(t.url, '/gateway/status')).json.models.find((m: { id: string }) => m.id === 'gm1').state;
    expect(after).toBe(before);
  });

  it('takes force=false, wait=false and a tail within bounds', async () => {
    expect((await admin(t.url, '/gateway/models/gm2/unload?force=false')).status).toBe(200);
    expect((await admin(t.url, '/gateway/models/gm2/logs?tail=10000', 'GET')).status).toBe(200);
    const res = await admin(t.url, '/gateway/models/gm2/load?wait=false');
    expect(res.status).toBe(202);
    expect(res.json.id).toBe('gm2');
  });
});

describe('GET /metrics', () => {
  it('is Prometheus text with request, queue and state series', async () => {
    await post(t.url, '/v1/chat/completions', chat('gm1'));
    const res = await http(t.url, '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/^# TYPE vllm_gateway_requests_total counter$/m);
    expect(res.text).toMatch(/^vllm_gateway_requests_total\{model="gm1",status="200"\} [1-9]\d*$/m);
    expect(res.text).toMatch(/^vllm_gateway_model_queued_requests\{model="gm1"\} 0$/m);
    expect(res.text).toMatch(/^vllm_gateway_model_in_flight_requests\{model="gm1"\} 0$/m);
    expect(res.text).toMatch(/^vllm_gateway_model_state\{model="gm1",state="ready"\} 1$/m);
    expect(res.text).toMatch(/^vllm_gateway_gpu_memory_bytes\{gpu="0",name="Test GPU",kind="total"\} 25769803776$/m);
  });

  it('names every metric with one prefix, and docs/metrics.md documents each', async () => {
    const res = await http(t.url, '/metrics');
    const names = [...res.text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    expect(names).toContain('vllm_gateway_process_cpu_seconds_total');
    expect(names.filter((n) => !n.startsWith('vllm_gateway_') || n.includes('process_process'))).toEqual([]);
    const doc = readFileSync(path.join(REPO_ROOT, 'docs/metrics.md'), 'utf8');
    // Node's own process and runtime metrics are documented as a family, by prefix.
    const own = names.filter((n) => !/^vllm_gateway_(process|nodejs)_/.test(n));
    expect(own.filter((n) => !doc.includes(`\`${n}\``))).toEqual([]);
    expect(doc).toContain('`vllm_gateway_process_*`');
    expect(doc).toContain('`vllm_gateway_nodejs_*`');
  });
});
