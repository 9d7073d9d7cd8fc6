// P9: inFlight and queued return to 0 after any mix of successes, failures, aborts and timeouts.

import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  admin,
  agent,
  allIdle,
  baseYaml,
  chat,
  cleanupAll,
  http,
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
        processModel('c1', { extra: 'maxConcurrent: 3\nmaxQueue: 6' }),
        processModel('c2', { knobs: ['--mock-fail-at-start', 'boom'] }),
      ].join('\n'),
      {
        limits: '{ queueTimeoutSeconds: 1 }',
        timeouts: '{ connectSeconds: 1, firstByteSeconds: 0.8, idleSeconds: 0.8, startSeconds: 5 }',
      },
    ),
  );
  expect((await admin(t.url, '/gateway/models/c1/load')).status).toBe(200);
});
afterAll(cleanupAll);

function aborted(headers: Record<string, string>, afterMs: number, stream = false): Promise<unknown> {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), afterMs);
  return request(`${t.url}/v1/chat/completions`, {
    method: 'POST',
    body: JSON.stringify(chat('c1', { stream })),
    headers: { 'content-type': 'application/json', ...headers },
    signal: ac.signal,
    dispatcher: agent,
  })
    .then((r) => r.body.text())
    .catch(() => 'aborted');
}

const settle = (p: Promise<unknown>) =>
  p.then(
    (r) => (r && typeof r === 'object' && 'status' in r ? (r as { status: number }).status : 'ok'),
    () => 'error',
  );

describe('counts are views of live sets', () => {
  it('return to 0 after a burst of successes, errors, aborts, timeouts, rejections', async () => {
    const jobs: Array<Promise<unknown>> = [];
    for (let i = 0; i < 4; i++) jobs.push(post(t.url, '/v1/chat/completions', chat('c1'), { 'x-mock-delay-ms': '100' }));
    for (let i = 0; i < 2; i++)
      jobs.push(post(t.url, '/v1/chat/completions', chat('c1', { stream: true }), { 'x-mock-tokens': '5', 'x-mock-token-delay-ms': '50' }));
    jobs.push(post(t.url, '/v1/chat/completions', chat('c1'), { 'x-mock-status': '500' }));
    jobs.push(post(t.url, '/v1/chat/completions', chat('c1'), { 'x-mock-reset': '1' }));
    jobs.push(post(t.url, '/v1/chat/completions', chat('c1'), { 'x-mock-delay-ms': '3000' })); // first-byte timeout
    jobs.push(post(t.url, '/v1/chat/completions', chat('c1', { stream: true }), { 'x-mock-silent-after': '2' })); // idle timeout
    jobs.push(post(t.url, '/v1/chat/completions', chat('c1', { stream: true }), { 'x-mock-truncate-after': '2' }));
    jobs.push(aborted({ 'x-mock-delay-ms': '2000' }, 150));
    jobs.push(aborted({ 'x-mock-tokens': '100', 'x-mock-token-delay-ms': '30' }, 300, true));
    jobs.push(aborted({}, 5));
    jobs.push(post(t.url, '/v1/chat/completions', chat('c2'))); // start failure
    jobs.push(post(t.url, '/v1/chat/completions', chat('c2'))); // cooling down or the same failure
    jobs.push(post(t.url, '/v1/chat/completions', '{"model":'));
    for (let i = 0; i < 6; i++) jobs.push(post(t.url, '/v1/chat/completions', chat('c1'), { 'x-mock-delay-ms': '400' })); // some queue_full / queue_timeout
    const outcomes = await Promise.all(jobs.map(settle));
    expect(outcomes).toContain(200);
    expect(outcomes.some((o) => o === 429 || o === 503)).toBe(true);
    await waitUntil(() => allIdle(t), 3000, 'all counts at 0');
    const s = await t.status();
    for (const m of s.models) expect([m.id, m.inFlight, m.queued]).toEqual([m.id, 0, 0]);
    const metrics = (await http(t.url, '/metrics')).text;
    expect(metrics).toMatch(/^vllm_gateway_model_in_flight_requests\{model="c1"\} 0$/m);
    expect(metrics).toMatch(/^vllm_gateway_model_queued_requests\{model="c1"\} 0$/m);
    // And the model still serves at full concurrency.
    const again = await Promise.all([1, 2, 3].map(() => post(t.url, '/v1/chat/completions', chat('c1'))));
    expect(again.map((r) => r.status)).toEqual([200, 200, 200]);
  });
});
