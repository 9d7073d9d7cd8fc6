// Admission (P8): a bounded FIFO per model with maxConcurrent slots; a full queue answers 429
// queue_full with Retry-After at once; a queued request waits at most queueTimeoutSeconds.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
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

let t: TestGateway;

beforeAll(async () => {
  t = await startGateway(
    baseYaml(`models:\n${processModel('q1', { extra: 'maxConcurrent: 1\nmaxQueue: 2' })}`, { limits: '{ queueTimeoutSeconds: 1 }' }),
  );
  expect((await admin(t.url, '/gateway/models/q1/load')).status).toBe(200);
});
afterAll(cleanupAll);

const slow = (id: string, ms: number) =>
  post(t.url, '/v1/chat/completions', chat('q1'), { 'x-request-id': id, 'x-mock-delay-ms': String(ms) });

describe('queue bounds', () => {
  it('a full queue answers 429 queue_full with Retry-After at once; FIFO order upstream', async () => {
    const holder = slow('hold-1', 700);
    await waitUntil(async () => (await t.model('q1')).inFlight === 1, 2000, 'slot taken');
    const a = post(t.url, '/v1/chat/completions', chat('q1'), { 'x-request-id': 'fifo-a' });
    await waitUntil(async () => (await t.model('q1')).queued === 1, 2000, 'a queued');
    const b = post(t.url, '/v1/chat/completions', chat('q1'), { 'x-request-id': 'fifo-b' });
    await waitUntil(async () => (await t.model('q1')).queued === 2, 2000, 'b queued');
    const full = await post(t.url, '/v1/chat/completions', chat('q1'), { 'x-request-id': 'rejected' });
    expect(full.status).toBe(429);
    const e = errorOf(full);
    expect(e.code).toBe('queue_full');
    expect(e.type).toBe('rate_limit_error');
    expect(Number(full.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Still 2 queued and 1 in flight: the rejection was immediate.
    const m = await t.model('q1');
    expect([m.inFlight, m.queued]).toEqual([1, 2]);
    expect((await holder).status).toBe(200);
    expect((await a).status).toBe(200);
    expect((await b).status).toBe(200);
    const received = (await (await mockOf(t, 'q1')).received()).map((r) => r.requestId);
    const order = received.filter((id) => ['hold-1', 'fifo-a', 'fifo-b', 'rejected'].includes(id));
    expect(order).toEqual(['hold-1', 'fifo-a', 'fifo-b']);
    await waitUntil(
      async () => {
        const s = await t.model('q1');
        return s.inFlight === 0 && s.queued === 0;
      },
      1000,
      'counts at 0',
    );
  });

  it('a request queued longer than queueTimeoutSeconds gets 503 queue_timeout with Retry-After', async () => {
    const holder = slow('hold-2', 1500);
    await waitUntil(async () => (await t.model('q1')).inFlight === 1, 2000, 'slot taken');
    const started = Date.now();
    const late = await post(t.url, '/v1/chat/completions', chat('q1'), { 'x-request-id': 'times-out' });
    const waited = Date.now() - started;
    expect(late.status).toBe(503);
    const e = errorOf(late);
    expect(e.code).toBe('queue_timeout');
    expect(e.type).toBe('server_error');
    expect(Number(late.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(waited).toBeGreaterThanOrEqual(900); // it did wait for the timeout, not fail at once
    expect((await t.model('q1')).queued).toBe(0);
    expect((await holder).status).toBe(200);
    const received = (await (await mockOf(t, 'q1')).received()).map((r) => r.requestId);
    expect(received).not.toContain('times-out');
  });
});
