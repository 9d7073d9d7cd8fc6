// The Ollama routes when something goes wrong mid-way, with real mock vLLM servers: a forced unload
// while requests run (answered in Ollama's shape: a 503 for an answer the client has not begun to
// get, the final {"error": …} line for a stream), a load-only request whose client left (dropped,
// not kept waiting for memory), JSON nested thousands of levels deep (400, not a crash), an
// upstream error body that is not JSON (its text kept), and a keep_alive past Go's largest
// duration (shown as -1, like any "keep loaded").

import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  agent,
  baseYaml,
  cleanupAll,
  http,
  post,
  postAndRead,
  processModel,
  sleep,
  startGateway,
  waitUntil,
  type TestGateway,
} from './helpers.js';

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(
    baseYaml(
      [
        'models:',
        processModel('oc', { vramGiB: 4 }),
        // Two 14 GiB models on the 24 GiB GPU: never together.
        processModel('big-a', { vramGiB: 14 }),
        processModel('big-b', { vramGiB: 14 }),
      ].join('\n'),
      // swapAfterSeconds 0: a busy model is never displaced, so a start for big-b waits for memory.
      { limits: '{ queueTimeoutSeconds: 8 }', extra: 'scheduling: { swapAfterSeconds: 0 }' },
    ),
  );
});
afterAll(cleanupAll);

const chatBody = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
});
const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
/** 120 tokens 50 ms apart: six seconds of answer, for a cut to land in. */
const SLOW = { 'x-mock-tokens': '120', 'x-mock-token-delay-ms': '50' };

describe('a forced unload while Ollama requests run', () => {
  it("not streamed: 503 model_stopped in Ollama's shape, not a reset connection", async () => {
    // Caught here: on a reset the request itself rejects, before the assertions below run.
    const pending = postAndRead(t.url, '/api/chat', chatBody('oc', { stream: false }), SLOW).catch((err: Error) => err);
    // In flight and answering (the gateway reads the upstream's stream; the client has nothing yet).
    await waitUntil(async () => (await t.model('oc')).inFlight === 1, 10_000, 'the request in flight');
    await sleep(300);
    expect((await admin(t.url, '/gateway/models/oc/unload?force=true')).status).toBe(200);
    const r = await pending;
    if (r instanceof Error) throw new Error(`the connection was cut: ${r.message}`);
    expect(r.error, 'the connection was cut').toBeNull();
    expect(r.status).toBe(503);
    const body = JSON.parse(r.text);
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error).toMatch(/oc was unloaded/);
  });

  it('streamed: the lines so far, then the final {"error": …} line, and a clean end', async () => {
    let cut = false;
    const r = await postAndRead(t.url, '/api/chat', chatBody('oc'), SLOW, () => {
      if (cut) return;
      cut = true;
      void admin(t.url, '/gateway/models/oc/unload?force=true');
    });
    expect(r.status).toBe(200);
    expect(r.error, 'the stream ended cleanly').toBeNull();
    const objs = lines(r.text);
    expect(objs.length).toBeGreaterThanOrEqual(2);
    expect(objs.slice(0, -1).every((o) => o.done === false)).toBe(true);
    expect(objs.at(-1)).toEqual({ error: expect.stringMatching(/oc was unloaded/) });
    await waitUntil(async () => (await t.model('oc')).state === 'stopped', 5000, 'oc stopped');
  });
});

describe('a load-only request (empty prompt) whose client leaves', () => {
  it('is dropped: its start stops waiting for memory, and no model is evicted for it later', async () => {
    // big-a is kept busy for ~3 s: big-b cannot fit until it is idle.
    const busy = post(t.url, '/v1/chat/completions', chatBody('big-a', { stream: true }), {
      'x-mock-tokens': '30',
      'x-mock-token-delay-ms': '100',
    });
    await waitUntil(async () => (await t.model('big-a')).inFlight === 1, 10_000, 'big-a busy');
    const startsBefore = t.runtime.starts.filter((id) => id === 'big-b').length;
    const ac = new AbortController();
    const load = request(`${t.url}/api/generate`, {
      method: 'POST',
      body: JSON.stringify({ model: 'big-b', prompt: '' }),
      headers: { 'content-type': 'application/json' },
      signal: ac.signal,
      dispatcher: agent,
    }).catch((err: Error) => err);
    await waitUntil(async () => (await t.model('big-b')).waitingForMemory !== null, 5000, 'big-b waiting for memory');
    ac.abort();
    await load;
    // The wait ends with the client, not with big-a's request or the queue timeout.
    await waitUntil(
      async () => {
        const b = await t.model('big-b');
        return b.waitingForMemory === null && b.state === 'stopped';
      },
      1500,
      'big-b no longer waiting',
    );
    expect((await t.model('big-a')).inFlight).toBe(1);
    expect((await busy).status).toBe(200);
    await sleep(1000); // time for an eviction that should not come
    expect((await t.model('big-a')).state).toBe('ready');
    expect((await t.model('big-b')).state).toBe('stopped');
    expect(t.runtime.starts.filter((id) => id === 'big-b').length).toBe(startsBefore);
  });
});

describe('JSON nested thousands of levels deep', () => {
  /** An object nested `n` levels deep, as JSON text (the test's own JSON.stringify could not write it). */
  const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  const user = '{"role":"user","content":"hi"}';
  const cases: Array<[string, string, string]> = [
    ['format', '/api/chat', `{"model":"oc","stream":false,"messages":[${user}],"format":${deep(5000)}}`],
    [
      'tools',
      '/api/chat',
      `{"model":"oc","stream":false,"messages":[${user}],"tools":[{"type":"function","function":{"name":"f","parameters":${deep(5000)}}}]}`,
    ],
    [
      'tool arguments',
      '/api/chat',
      `{"model":"oc","stream":false,"messages":[${user},` +
        `{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":${deep(5000)}}}]}]}`,
    ],
    ['format on /api/generate', '/api/generate', `{"model":"oc","prompt":"hi","stream":false,"format":${deep(5000)}}`],
  ];
  for (const [what, path, body] of cases) {
    it(`in ${what} → 400 in Ollama's shape; the gateway goes on`, async () => {
      const res = await post(t.url, path, body);
      expect(res.status, res.text).toBe(400);
      expect(res.json).toEqual({ error: expect.stringMatching(/nested too deeply/) });
    });
  }

  it('a schema of ordinary depth still goes through', async () => {
    const res = await post(t.url, '/api/chat', `{"model":"oc","stream":false,"messages":[${user}],"format":${deep(50)}}`);
    expect(res.status, res.text).toBe(200);
    expect((await http(t.url, '/health')).status).toBe(200);
  });
});

describe('cosmetics', () => {
  it('an upstream error body that is not JSON keeps its text', async () => {
    const headers = { 'x-mock-status': '500', 'x-mock-error-body': 'Internal Server Error: CUDA error: device-side assert' };
    for (const stream of [false, true]) {
      const res = await post(t.url, '/api/chat', chatBody('oc', { stream }), headers);
      expect(res.status).toBe(500);
      expect(res.json).toEqual({ error: 'Internal Server Error: CUDA error: device-side assert' });
    }
    const emb = await post(t.url, '/api/embed', { model: 'oc', input: 'hi' }, headers);
    expect(emb.status).toBe(500);
    expect(emb.json).toEqual({ error: 'Internal Server Error: CUDA error: device-side assert' });
  });

  it("keep_alive 1e308 (past Go's largest duration) shows as -1, as keep_alive -1 does", async () => {
    for (const keep_alive of [-1, 1e308]) {
      const res = await post(t.url, '/api/generate', { model: 'oc', prompt: 'hi', stream: false, keep_alive });
      expect(res.status, res.text).toBe(200);
      const m = await t.model('oc');
      expect(m.keepAliveSeconds, String(keep_alive)).toBe(-1);
      expect(m.idleDeadline).toBeNull();
    }
  });
});
