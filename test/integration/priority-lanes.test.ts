// Priority lanes with the real gateway and real mock vLLM servers: a model's queue admits
// interactive requests before batch ones (the order the mock received them in); a request's class
// comes from X-Priority, else its API key, else scheduling.defaultPriority; a bad X-Priority is a
// 400 on the OpenAI routes (both ways in) and the Ollama routes; the engine priority is spliced into
// the body only for a model started with --scheduling-policy priority, every other body byte-exact.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  admin,
  baseYaml,
  chat,
  cleanupAll,
  errorOf,
  http,
  mockOf,
  post,
  processModel,
  startGateway,
  type TestGateway,
  waitUntil,
} from './helpers.js';

afterAll(cleanupAll);

interface Received {
  requestId: string;
  method: string;
  path: string;
  body: string;
  bodyBase64?: string;
  priority?: number;
}
/** What the model's mock received, in order (the engine scraper's GETs of /metrics left out). */
const receivedBy = async (t: TestGateway, model: string) =>
  ((await (await mockOf(t, model)).received()) as Received[]).filter((r) => r.method === 'POST');

describe('queue order and the request’s class', () => {
  let t: TestGateway;
  let ollamaUrl: string;
  const KEYS = { ide: 'sk-ide-0123456789', eval: 'sk-eval-0123456789', plain: 'sk-plain-0123456789' };

  beforeAll(async () => {
    const yaml = baseYaml(`models:\n${processModel('lane', { extra: 'maxConcurrent: 1\nmaxQueue: 10' })}`, {
      limits: '{ queueTimeoutSeconds: 20 }',
      extra: 'scheduling: { defaultPriority: interactive }',
    })
      .replace('listen: { host: 127.0.0.1, port: 0 }', 'listen: { host: 127.0.0.1, port: 0, ollamaPort: 0 }')
      .replace(
        `auth: { adminToken: ${ADMIN_TOKEN} }`,
        `auth: { adminToken: ${ADMIN_TOKEN}, apiKeys: ["${KEYS.plain}", { key: "${KEYS.ide}", priority: interactive }, { key: "${KEYS.eval}", priority: batch }] }`,
      );
    t = await startGateway(yaml);
    ollamaUrl = `http://127.0.0.1:${t.gw.ollamaPort}`;
    expect((await admin(t.url, '/gateway/models/lane/load')).status).toBe(200);
  });

  const send = (id: string, headers: Record<string, string>, ms = 0) =>
    post(t.url, '/v1/chat/completions', chat('lane'), {
      authorization: `Bearer ${KEYS.plain}`,
      'x-request-id': id,
      ...(ms ? { 'x-mock-delay-ms': String(ms) } : {}),
      ...headers,
    });
  const queued = async (n: number) => waitUntil(async () => (await t.model('lane')).queued === n, 5000, `${n} queued`);

  it('maxConcurrent 1: a long request in flight, three batch queued, then one interactive: the interactive is sent second', async () => {
    const hold = send('hold', {}, 1200);
    await waitUntil(async () => (await t.model('lane')).inFlight === 1, 5000, 'slot taken');
    const batch = [];
    for (const id of ['b1', 'b2', 'b3']) {
      batch.push(send(id, { 'x-priority': 'batch' }));
      await queued(batch.length);
    }
    const interactive = send('i1', { 'X-Priority': 'INTERACTIVE' }); // the value in any case
    await queued(4);
    expect((await t.model('lane')).queuedByPriority).toEqual({ interactive: 1, batch: 3 });
    const answers = await Promise.all([hold, ...batch, interactive]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    const order = (await receivedBy(t, 'lane')).map((r) => r.requestId).filter((id) => ['hold', 'b1', 'b2', 'b3', 'i1'].includes(id));
    expect(order).toEqual(['hold', 'i1', 'b1', 'b2', 'b3']);
    // Each request's class in the status document's recent requests and in its log line.
    const recent = (await t.status()).recentRequests!;
    expect(recent.find((r) => r.id === 'b1')?.priority).toBe('batch');
    expect(recent.find((r) => r.id === 'i1')?.priority).toBe('interactive');
    const done = t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request done' && l.reqId === 'b2');
    expect(done.map((l) => l.priority)).toEqual(['batch']);
    expect((await t.model('lane')).queuedByPriority).toEqual({ interactive: 0, batch: 0 });
    // Queue wait per class in /metrics: one observation each for b1..b3, two interactive (hold, i1).
    const metrics = (await http(t.url, '/metrics', { headers: { authorization: `Bearer ${KEYS.plain}` } })).text;
    expect(metrics).toMatch(/vllm_gateway_queue_wait_seconds_count\{model="lane",priority="batch"\} 3\b/);
    expect(metrics).toMatch(/vllm_gateway_queue_wait_seconds_count\{model="lane",priority="interactive"\} 2\b/);
  });

  it('a queue full of batch requests still takes an interactive one: the youngest batch request gets the 429', async () => {
    const hold = send('f-hold', {}, 1500);
    await waitUntil(async () => (await t.model('lane')).inFlight === 1, 5000, 'slot taken');
    const batch = [];
    for (let i = 0; i < 10; i++) {
      batch.push(send(`f-b${i}`, { 'x-priority': 'batch' })); // one at a time: f-b9 joins last
      await queued(i + 1);
    }
    const refused = await send('f-b10', { 'x-priority': 'batch' }); // full: a batch request is refused
    expect(refused.status).toBe(429);
    const interactive = send('f-i', {});
    const answers = await Promise.all([hold, ...batch, interactive]);
    expect(answers.at(-1)!.status).toBe(200);
    expect(answers.slice(1, 10).map((a) => a.status)).toEqual(Array(9).fill(200));
    const displaced = answers[10];
    expect(displaced.status).toBe(429);
    expect(errorOf(displaced)).toMatchObject({ code: 'queue_full' });
    expect(errorOf(displaced).message).toMatch(/an interactive request took its place/);
    expect(Number(displaced.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const order = (await receivedBy(t, 'lane')).map((r) => r.requestId).filter((id) => id.startsWith('f-'));
    expect(order.slice(0, 2)).toEqual(['f-hold', 'f-i']);
    expect(order).not.toContain('f-b9');
  });

  it('a key’s class, overridden by X-Priority; a plain key gets scheduling.defaultPriority', async () => {
    const hold = send('k-hold', {}, 1200);
    await waitUntil(async () => (await t.model('lane')).inFlight === 1, 5000, 'slot taken');
    const evalKey = send('k-eval', { authorization: `Bearer ${KEYS.eval}` }); // batch, by its key
    await queued(1);
    const evalAsked = send('k-eval-asks', { 'x-api-key': KEYS.eval, authorization: '', 'x-priority': 'interactive' }); // the header wins
    await queued(2);
    const ide = send('k-ide', { authorization: `Bearer ${KEYS.ide}` }); // interactive, by its key
    await queued(3);
    const plain = send('k-plain', {}); // the default: interactive
    await queued(4);
    expect((await t.model('lane')).queuedByPriority).toEqual({ interactive: 3, batch: 1 });
    expect((await Promise.all([hold, evalKey, evalAsked, ide, plain])).map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    const ids = ['k-hold', 'k-eval', 'k-eval-asks', 'k-ide', 'k-plain'];
    const order = (await receivedBy(t, 'lane')).map((r) => r.requestId).filter((id) => ids.includes(id));
    expect(order).toEqual(['k-hold', 'k-eval-asks', 'k-ide', 'k-plain', 'k-eval']);
  });

  it('a bad X-Priority is 400 invalid_request on the fast path, through Fastify’s router and on the Ollama routes; nothing is sent', async () => {
    const before = (await receivedBy(t, 'lane')).length;
    const headers = { authorization: `Bearer ${KEYS.plain}`, 'x-priority': 'urgent' };
    const fast = await post(t.url, '/v1/chat/completions', chat('lane'), { ...headers, 'x-request-id': 'bad-prio' });
    // A percent-encoded target is left to Fastify's router (fast-path.ts).
    const routed = await post(t.url, '/v1/chat/%63ompletions', chat('lane'), headers);
    for (const res of [fast, routed]) {
      expect(res.status).toBe(400);
      const e = errorOf(res);
      expect(e).toMatchObject({ code: 'invalid_request', type: 'invalid_request_error', param: 'X-Priority' });
      expect(e.message).toBe('X-Priority must be "interactive" or "batch", not "urgent"');
    }
    const ollama = await post(
      ollamaUrl,
      '/api/chat',
      { model: 'lane', messages: [{ role: 'user', content: 'hi' }], stream: false },
      headers,
    );
    expect(ollama.status).toBe(400);
    expect(Object.keys(ollama.json)).toEqual(['error']); // Ollama's error shape
    expect(ollama.json.error).toMatch(/X-Priority must be "interactive" or "batch"/);
    await waitUntil(async () => (await t.status()).recentRequests!.some((r) => r.id === 'bad-prio'), 2000, 'recorded');
    expect((await t.status()).recentRequests!.find((r) => r.id === 'bad-prio')).toMatchObject({ status: 400, priority: null });
    expect((await receivedBy(t, 'lane')).slice(before).map((r) => `${r.path} ${r.body}`)).toEqual([]);
    // The gateway stays up, and the same request with a good header goes through.
    expect((await post(t.url, '/v1/chat/completions', chat('lane'), { ...headers, 'x-priority': 'batch' })).status).toBe(200);
  });
});

describe('engine priority', () => {
  let t: TestGateway;
  let ollamaUrl: string;

  beforeAll(async () => {
    const yaml = baseYaml(
      `models:\n${processModel('eng-prio', { knobs: ['--scheduling-policy', 'priority'] })}\n${processModel('eng-fcfs')}\n` +
        // vLLM's parser: a repeated flag's last value wins, and `_` in a flag's name reads as `-`.
        `${processModel('eng-last', { knobs: ['--scheduling-policy', 'priority', '--scheduling-policy=fcfs'] })}\n` +
        `${processModel('eng-underscore', { knobs: ['--scheduling_policy', 'priority'] })}`,
    ).replace('listen: { host: 127.0.0.1, port: 0 }', 'listen: { host: 127.0.0.1, port: 0, ollamaPort: 0 }');
    t = await startGateway(yaml);
    ollamaUrl = `http://127.0.0.1:${t.gw.ollamaPort}`;
  });

  const last = async (model: string, id: string) => (await receivedBy(t, model)).find((r) => r.requestId === id)!;
  const bytes = (r: Received) => Buffer.from(r.bodyBase64 ?? '', 'base64').toString('utf8');

  it('--scheduling-policy priority: "priority": 0 | 1 spliced in after the opening brace, nothing else changed', async () => {
    const sent = '{"model":"eng-prio",  "messages":[{"role":"user","content":"hi \\"priority\\": 7"}], "n": 1.0}';
    for (const [id, header, value] of [
      ['sp-batch', 'batch', 1],
      ['sp-inter', 'interactive', 0],
    ] as const) {
      const res = await http(t.url, '/v1/chat/completions', { body: sent, headers: { 'x-request-id': id, 'x-priority': header } });
      expect(res.status).toBe(200);
      const got = await last('eng-prio', id);
      expect(bytes(got)).toBe(`{"priority":${value},${sent.slice(1)}`);
      expect(got.priority).toBe(value); // what the engine read
    }
  });

  it('a client’s own top-level priority is kept, byte for byte', async () => {
    const sent = '{"model":"eng-prio","priority":-3,"prompt":"x","max_tokens":1}';
    expect(
      (await http(t.url, '/v1/completions', { body: sent, headers: { 'x-request-id': 'sp-own', 'x-priority': 'batch' } })).status,
    ).toBe(200);
    const got = await last('eng-prio', 'sp-own');
    expect(bytes(got)).toBe(sent);
    expect(got.priority).toBe(-3);
  });

  it('routes whose vLLM request has no priority get none (tokenize), and Ollama routes get it too', async () => {
    const sent = '{"model":"eng-prio","prompt":"x"}';
    expect((await http(t.url, '/tokenize', { body: sent, headers: { 'x-request-id': 'sp-tok', 'x-priority': 'batch' } })).status).toBe(200);
    expect(bytes(await last('eng-prio', 'sp-tok'))).toBe(sent);
    const ol = await post(
      ollamaUrl,
      '/api/chat',
      { model: 'eng-prio', messages: [{ role: 'user', content: 'hi' }], stream: false },
      { 'x-request-id': 'sp-ollama', 'x-priority': 'batch' },
    );
    expect(ol.status).toBe(200);
    expect((await last('eng-prio', 'sp-ollama')).priority).toBe(1);
  });

  it('the flag as vLLM reads it: the last of a repeated --scheduling-policy, and --scheduling_policy', async () => {
    const sent = '{"model":"eng-last","messages":[{"role":"user","content":"hi"}]}';
    const res = await http(t.url, '/v1/chat/completions', { body: sent, headers: { 'x-request-id': 'last-fcfs', 'x-priority': 'batch' } });
    expect(res.status).toBe(200); // an fcfs engine refuses a priority other than 0
    expect(bytes(await last('eng-last', 'last-fcfs'))).toBe(sent);
    const under = '{"model":"eng-underscore","prompt":"x","max_tokens":1}';
    expect(
      (await http(t.url, '/v1/completions', { body: under, headers: { 'x-request-id': 'under', 'x-priority': 'batch' } })).status,
    ).toBe(200);
    expect((await last('eng-underscore', 'under')).priority).toBe(1);
  });

  it('without the flag the body is byte-exact (a spliced priority 1 would be refused by the engine)', async () => {
    const sent = '{"model":"eng-fcfs",\n "messages":[{"role":"user","content":"hi"}]}';
    const res = await http(t.url, '/v1/chat/completions', { body: sent, headers: { 'x-request-id': 'fcfs-batch', 'x-priority': 'batch' } });
    expect(res.status).toBe(200);
    expect(bytes(await last('eng-fcfs', 'fcfs-batch'))).toBe(sent);
  });
});

describe('Ollama load-only requests', () => {
  let t: TestGateway;
  let ollamaUrl: string;

  beforeAll(async () => {
    const yaml = baseYaml(`models:\n${processModel('cold')}\n${processModel('warm')}`).replace(
      'listen: { host: 127.0.0.1, port: 0 }',
      'listen: { host: 127.0.0.1, port: 0, ollamaPort: 0 }',
    );
    t = await startGateway(yaml);
    ollamaUrl = `http://127.0.0.1:${t.gw.ollamaPort}`;
    expect((await admin(t.url, '/gateway/models/warm/load')).status).toBe(200);
  });

  it('a bad X-Priority on a load (or unload) with nothing to generate is 400 too: nothing is started or stopped', async () => {
    const headers = { 'x-priority': 'urgent' };
    for (const [path, body] of [
      ['/api/generate', { model: 'cold', prompt: '' }],
      ['/api/chat', { model: 'cold', messages: [] }],
      ['/api/embed', { model: 'cold' }],
      ['/api/embeddings', { model: 'cold' }],
      ['/api/generate', { model: 'warm', prompt: '', keep_alive: 0 }],
      ['/api/chat', { model: 'warm', messages: [], keep_alive: 0 }],
    ] as const) {
      const res = await post(ollamaUrl, path, body, headers);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(res.json).toEqual({ error: 'X-Priority must be "interactive" or "batch", not "urgent"' });
    }
    expect((await t.model('cold')).state).toBe('stopped');
    const warm = await t.model('warm');
    expect(warm.state).toBe('ready');
    expect(warm.keepAliveSeconds ?? null).toBeNull(); // the refused keep_alive 0 was not applied
    // A good header loads as before.
    const ok = await post(ollamaUrl, '/api/generate', { model: 'cold', prompt: '' }, { 'x-priority': 'batch' });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ done: true, done_reason: 'load' });
  });
});
