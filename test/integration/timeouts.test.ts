// Timeouts (P4): no total timeout on streams; a first-byte timeout (504 upstream_timeout) and an
// idle timeout between chunks, each aborting the upstream request.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  baseYaml,
  chat,
  cleanupAll,
  errorOf,
  post,
  CUT_CHUNKED_BODY,
  CUT_SIZED_BODY,
  postAndRead,
  spawnMock,
  startGateway,
  type Mock,
  type TestGateway,
  waitUntil,
} from './helpers.js';

// The idle timeout differs from the first-byte one, so a test can tell which of them fired.
const FIRST_BYTE_MS = 600;
const IDLE_MS = 1200;

let t: TestGateway;
let mock: Mock;

beforeAll(async () => {
  mock = await spawnMock(['--served-model-name', 'rm']);
  t = await startGateway(
    baseYaml(`models:\n  rm: { runtime: remote, url: "${mock.url}" }`, {
      timeouts: `{ connectSeconds: 1, firstByteSeconds: ${FIRST_BYTE_MS / 1000}, idleSeconds: ${IDLE_MS / 1000}, startSeconds: 5 }`,
    }),
  );
});
afterAll(cleanupAll);

describe('no total timeout', () => {
  it('a stream longer than firstByte + idle, with small gaps, completes', async () => {
    const started = Date.now();
    const res = await post(t.url, '/v1/chat/completions', chat('rm', { stream: true }), {
      'x-mock-tokens': '12',
      'x-mock-token-delay-ms': '200',
    });
    expect(Date.now() - started).toBeGreaterThan(FIRST_BYTE_MS + IDLE_MS); // it did outlast both timeouts together
    expect(res.status).toBe(200);
    expect(res.text.match(/^data: \{/gm)!.length).toBeGreaterThanOrEqual(12);
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

  it('a stream that goes silent trips the idle timeout after idleSeconds of silence: the connection is cut, the upstream aborted', async () => {
    const r = await postAndRead(t.url, '/v1/chat/completions', chat('rm', { stream: true }), {
      'x-mock-silent-after': '3',
      'x-request-id': 'went-silent',
    });
    expect(r.status).toBe(200);
    expect(r.events).toBe(3); // what came before the silence reached the client
    expect(r.text).not.toContain('[DONE]');
    // The response had started: the gateway can only cut the connection, so the client sees a body that ends without its last chunk.
    expect(r.error).toMatchObject(CUT_CHUNKED_BODY);
    // Cut after idleSeconds of silence, neither at the first-byte timeout nor long after.
    expectAbout(r.endedAt - r.lastChunkAt, IDLE_MS);
    await waitUntil(async () => (await mock.aborted()).includes('went-silent'), 1000, 'upstream aborted');
    await waitUntil(async () => (await t.model('rm')).inFlight === 0, 1000, 'in flight back to 0');
  });

  it('a non-streamed body that stalls mid-way trips the idle timeout too', async () => {
    const r = await postAndRead(
      t.url,
      '/v1/completions',
      { model: 'rm', prompt: 'x' },
      { 'x-mock-silent-after': '20', 'x-request-id': 'body-stall' },
    );
    expect(r.status).toBe(200);
    expect(r.text.length).toBe(20); // the bytes sent before the stall
    expect(r.error).toMatchObject(CUT_SIZED_BODY);
    expectAbout(r.endedAt - r.lastChunkAt, IDLE_MS);
    await waitUntil(async () => (await mock.aborted()).includes('body-stall'), 1000, 'upstream aborted');
  });
});

/**
 * `ms`, seen by the client, is one timeout of `expected` ms as the gateway counted it: the client
 * saw the last chunk a little after the gateway (so up to a fifth less under load, still well
 * above the first-byte timeout of half as long), and the cut before a second timeout would end.
 */
function expectAbout(ms: number, expected: number): void {
  expect(ms).toBeGreaterThanOrEqual(expected * 0.8);
  expect(ms).toBeLessThan(expected * 2);
}
