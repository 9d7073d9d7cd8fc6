// A client that goes away (P5, P6) — while queued, while its model starts, before the first
// token, mid-stream — leaves its queue place or slot at once and the upstream request is aborted.

import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  agent,
  baseYaml,
  chat,
  cleanupAll,
  mockOf,
  post,
  processModel,
  startGateway,
  type TestGateway,
  waitUntil,
} from './helpers.js';

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(
    baseYaml(
      [
        'models:',
        processModel('ab', { extra: 'maxConcurrent: 1' }),
        processModel('slowstart', { knobs: ['--mock-start-delay-ms', 1500] }),
      ].join('\n'),
    ),
  );
  expect((await admin(t.url, '/gateway/models/ab/load')).status).toBe(200);
});
afterAll(cleanupAll);

/** Sends a request the test can abort; resolves `started` once response headers arrived. */
function abortable(model: string, id: string, headers: Record<string, string> = {}, body: Record<string, unknown> = {}) {
  const ac = new AbortController();
  const req = request(`${t.url}/v1/chat/completions`, {
    method: 'POST',
    body: JSON.stringify(chat(model, body)),
    headers: { 'content-type': 'application/json', 'x-request-id': id, ...headers },
    signal: ac.signal,
    dispatcher: agent,
  });
  req.catch(() => {});
  return { ac, req };
}

const counts = async (id: string) => {
  const m = await t.model(id);
  return [m.inFlight, m.queued];
};

describe('client gone', () => {
  it('while queued: leaves the queue at once and never reaches the server', async () => {
    const holder = abortable('ab', 'q-holder', { 'x-mock-delay-ms': '3000' });
    await waitUntil(async () => (await t.model('ab')).inFlight === 1, 2000, 'slot held');
    const queued = abortable('ab', 'q-leaver');
    await waitUntil(async () => (await t.model('ab')).queued === 1, 2000, 'queued');
    queued.ac.abort();
    await waitUntil(async () => (await t.model('ab')).queued === 0, 1000, 'queue place freed');
    holder.ac.abort();
    await waitUntil(async () => (await counts('ab')).every((n) => n === 0), 1000, 'counts at 0');
    const mock = await mockOf(t, 'ab');
    await waitUntil(async () => (await mock.aborted()).includes('q-holder'), 1000, 'holder aborted upstream');
    expect((await mock.received()).map((r) => r.requestId)).not.toContain('q-leaver');
  });

  it('while its model starts: leaves at once; the start goes on', async () => {
    const r = abortable('slowstart', 'during-start');
    await waitUntil(
      async () => (await t.model('slowstart')).state === 'starting' && (await t.model('slowstart')).queued === 1,
      2000,
      'starting with one queued',
    );
    r.ac.abort();
    await waitUntil(async () => (await t.model('slowstart')).queued === 0, 1000, 'queue place freed');
    await waitUntil(async () => (await t.model('slowstart')).state === 'ready', 5000, 'ready anyway');
    const mock = await mockOf(t, 'slowstart');
    expect((await mock.received()).map((x) => x.requestId)).not.toContain('during-start');
  });

  it('before the first token: the upstream request is aborted and the slot freed', async () => {
    const r = abortable('ab', 'before-first', { 'x-mock-delay-ms': '5000' });
    const mock = await mockOf(t, 'ab');
    await waitUntil(async () => (await mock.received()).some((x) => x.requestId === 'before-first'), 2000, 'upstream got it');
    r.ac.abort();
    await waitUntil(async () => (await mock.aborted()).includes('before-first'), 1000, 'upstream saw the abort');
    await waitUntil(async () => (await counts('ab')).every((n) => n === 0), 1000, 'counts at 0');
  });

  it('mid-stream: the upstream request is aborted and the slot freed', async () => {
    const r = abortable('ab', 'mid-stream', { 'x-mock-tokens': '200', 'x-mock-token-delay-ms': '50' }, { stream: true });
    const res = await r.req;
    expect(res.statusCode).toBe(200);
    const it = res.body[Symbol.asyncIterator]();
    const first = await it.next();
    expect(String(first.value)).toContain('data: ');
    r.ac.abort();
    const mock = await mockOf(t, 'ab');
    await waitUntil(async () => (await mock.aborted()).includes('mid-stream'), 1000, 'upstream saw the abort');
    await waitUntil(async () => (await counts('ab')).every((n) => n === 0), 1000, 'counts at 0');
    const stats = await mock.stats();
    expect(stats.inProgress).toBe(0);
    // The slot the gone client freed serves the next request.
    const next = await post(t.url, '/v1/chat/completions', chat('ab'));
    expect(next.status).toBe(200);
    const s = await t.status();
    const entry = s.recentRequests?.find((x) => x.id === 'mid-stream');
    expect(entry?.status).toBe(200); // headers were sent before the client left
  });
});
