// Timeouts (P4): no total timeout on streams; a first-byte timeout (504 upstream_timeout) and an
// idle timeout between chunks, each aborting the upstream request.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseYaml, chat, cleanupAll, errorOf, post, spawnMock, startGateway, type Mock, type TestGateway, waitUntil } from './helpers.js';

let t: TestGateway;
let mock: Mock;

beforeAll(async () => {
  mock = await spawnMock(['--served-model-name', 'rm']);
  t = await startGateway(
    baseYaml(`models:\n  rm: { runtime: remote, url: "${mock.url}" }`, {
      timeouts: '{ connectSeconds: 1, firstByteSeconds: 0.6, idleSeconds: 0.6, startSeconds: 5 }',
    }),
  );
});
afterAll(cleanupAll);

describe('no total timeout', () => {
  it('a stream longer than firstByte + idle, with small gaps, completes', async () => {
    const started = Date.now();
    const res = await post(t.url, '/v1/chat/completions', chat('rm', { stream: true }), {
      'x-mock-tokens': '8',
      'x-mock-token-delay-ms': '200',
    });
    expect(Date.now() - started).toBeGreaterThan(1200 + 100); // it did outlast both timeouts together
    expect(res.status).toBe(200);
    expect(res.text.match(/^data: \{/gm)!.length).toBeGreaterThanOrEqual(8);
    expect(res.text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('a non-streamed answer that arrives inside the first-byte timeout is fine', async () => {
    const res = await post(t.url, '/v1/chat/completions', chat('rm'), { 'x-mock-delay-ms': '300' });
    expect(res.status).toBe(200);
  });
});

describe('timeouts fire and abort the upstream', () => {
  it('no response headers within firstByteSeconds → 504 upstream_timeout; upstream aborted', async () => {
    const res = await post(t.url, '/v1/chat/completions', chat('rm'), { 'x-mock-delay-ms': '5000', 'x-request-id': 'first-byte-late' });
    expect(res.status).toBe(504);
    const e = errorOf(res);
    expect(e.code).toBe('upstream_timeout');
    expect(e.type).toBe('server_error');
    await waitUntil(async () => (await mock.aborted()).includes('first-byte-late'), 1000, 'upstream aborted');
    expect((await mock.received()).filter((r) => r.requestId === 'first-byte-late')).toHaveLength(1); // not retried
  });

  it('a stream that goes silent trips the idle timeout: the client sees an error, the upstream is aborted', async () => {
    const outcome = await post(t.url, '/v1/chat/completions', chat('rm', { stream: true }), {
      'x-mock-silent-after': '3',
      'x-request-id': 'went-silent',
    }).then(
      (r) => ({ ok: true as const, r }),
      (err: Error) => ({ ok: false as const, err }),
    );
    expect(outcome.ok).toBe(false);
    await waitUntil(async () => (await mock.aborted()).includes('went-silent'), 1000, 'upstream aborted');
    await waitUntil(async () => (await t.model('rm')).inFlight === 0, 1000, 'in flight back to 0');
  });

  it('a non-streamed body that stalls mid-way trips the idle timeout too', async () => {
    const outcome = await post(
      t.url,
      '/v1/completions',
      { model: 'rm', prompt: 'x' },
      { 'x-mock-silent-after': '20', 'x-request-id': 'body-stall' },
    ).then(
      (r) => ({ ok: true as const, r }),
      (err: Error) => ({ ok: false as const, err }),
    );
    expect(outcome.ok).toBe(false);
    await waitUntil(async () => (await mock.aborted()).includes('body-stall'), 1000, 'upstream aborted');
  });
});
