// Retries (P1–P3): a POST is retried only when the upstream never received it (connection
// refused), with exponential backoff inside the first-byte deadline; never after the request was
// sent (reset) and never once a response byte reached the client.

import { afterEach, describe, expect, it } from 'vitest';
import {
  baseYaml,
  chat,
  cleanupAll,
  CUT_CHUNKED_BODY,
  CUT_SIZED_BODY,
  errorOf,
  freePort,
  http,
  post,
  postAndRead,
  spawnMock,
  startGateway,
  waitUntil,
} from './helpers.js';

afterEach(cleanupAll);

/** What a request that fails to connect costs besides the retry waits: refused connects on loopback, the round trip to the gateway. */
const CONNECT_OVERHEAD_MS = 400;

const remote = (port: number) => `models:\n  rm: { runtime: remote, url: "http://127.0.0.1:${port}" }`;

async function retriesCounted(url: string): Promise<number> {
  const text = (await http(url, '/metrics')).text;
  const m = /^vllm_gateway_upstream_retries_total\{model="rm"\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

describe('connection refused (never received)', () => {
  it('is retried until the server is up; the server receives the request once', async () => {
    const port = await freePort();
    const t = await startGateway(baseYaml(remote(port), { retry: '{ maxAttempts: 12, initialDelaySeconds: 0.05, backoff: 1.5 }' }));
    const pending = post(t.url, '/v1/chat/completions', chat('rm'), { 'x-request-id': 'late-server' });
    // The server comes up only once the gateway has been refused and is retrying.
    await waitUntil(async () => (await retriesCounted(t.url)) >= 1, 5000, 'a first retry');
    const mock = await spawnMock(['--served-model-name', 'rm'], port);
    const res = await pending;
    expect(res.status, res.text).toBe(200);
    expect(res.json.model).toBe('rm');
    const got = (await mock.received()).filter((r) => r.requestId === 'late-server');
    expect(got).toHaveLength(1);
    expect(await retriesCounted(t.url)).toBeGreaterThanOrEqual(1);
  });

  it('gives up after maxAttempts with 502 upstream_unreachable, having waited the backoff', async () => {
    const port = await freePort();
    const t = await startGateway(baseYaml(remote(port), { retry: '{ maxAttempts: 3, initialDelaySeconds: 0.2, backoff: 2 }' }));
    const started = Date.now();
    const res = await post(t.url, '/v1/chat/completions', chat('rm'));
    const elapsed = Date.now() - started;
    expect(res.status).toBe(502);
    const e = errorOf(res);
    expect(e.code).toBe('upstream_unreachable');
    expect(e.type).toBe('server_error');
    expect(e.message).toMatch(/after 3 attempts/);
    expect(e.message).toMatch(/ECONNREFUSED/);
    // Waits of 0.2 s and 0.4 s, ±10 % jitter: 0.54–0.66 s, plus three refused connects on loopback
    // and the round trip to the gateway.
    expect(elapsed).toBeGreaterThanOrEqual(540);
    expect(elapsed).toBeLessThan(660 + CONNECT_OVERHEAD_MS);
    expect(await retriesCounted(t.url)).toBe(2);
  });

  it('maxAttempts: 1 means no retry', async () => {
    const port = await freePort();
    const t = await startGateway(baseYaml(remote(port), { retry: '{ maxAttempts: 1, initialDelaySeconds: 5, backoff: 2 }' }));
    const started = Date.now();
    const res = await post(t.url, '/v1/chat/completions', chat('rm'));
    expect(res.status).toBe(502);
    expect(errorOf(res).code).toBe('upstream_unreachable');
    expect(Date.now() - started).toBeLessThan(CONNECT_OVERHEAD_MS); // never waited the 5 s delay
    expect(await retriesCounted(t.url)).toBe(0);
  });

  it('the retry sequence stays inside the first-byte deadline (P3)', async () => {
    const port = await freePort();
    const t = await startGateway(
      baseYaml(remote(port), {
        retry: '{ maxAttempts: 10, initialDelaySeconds: 0.4, backoff: 2 }',
        timeouts: '{ connectSeconds: 1, firstByteSeconds: 1, idleSeconds: 5, startSeconds: 5 }',
      }),
    );
    const started = Date.now();
    const res = await post(t.url, '/v1/chat/completions', chat('rm'));
    const elapsed = Date.now() - started;
    expect(res.status).toBe(502);
    expect(errorOf(res).code).toBe('upstream_unreachable');
    // 0.4 s fits in 1 s, 0.4 + 0.8 does not: two attempts, answered after the one wait of 0.4 s
    // (±10 %), neither waiting out the 1 s deadline nor the waits after it.
    expect(await retriesCounted(t.url)).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(360);
    expect(elapsed).toBeLessThan(440 + CONNECT_OVERHEAD_MS);
  });
});

describe('failures after the request was sent are not retried', () => {
  it('a reset after the server read the request (x-mock-reset: 1) → 502, received exactly once', async () => {
    const mock = await spawnMock(['--served-model-name', 'rm']);
    const t = await startGateway(baseYaml(remote(mock.port), { retry: '{ maxAttempts: 5, initialDelaySeconds: 0.05, backoff: 1 }' }));
    for (const mode of ['1', 'fin']) {
      const id = `reset-${mode}`;
      const res = await post(t.url, '/v1/chat/completions', chat('rm'), { 'x-mock-reset': mode, 'x-request-id': id });
      expect(res.status).toBe(502);
      // Reached, then cut before answering: the server failed, it was not unreachable.
      expect(errorOf(res)).toMatchObject({ code: 'upstream_error', type: 'server_error' });
      // A retry would have come before the gateway answered: no waiting needed to see there was none.
      expect((await mock.received()).filter((r) => r.requestId === id)).toHaveLength(1);
    }
    expect(await retriesCounted(t.url)).toBe(0);
  });

  it('a stream cut after response bytes reached the client ends in an error, not retried (P2)', async () => {
    const mock = await spawnMock(['--served-model-name', 'rm']);
    const t = await startGateway(baseYaml(remote(mock.port), { retry: '{ maxAttempts: 5, initialDelaySeconds: 0.05, backoff: 1 }' }));
    const r = await postAndRead(t.url, '/v1/chat/completions', chat('rm', { stream: true }), {
      'x-mock-truncate-after': '3',
      'x-request-id': 'trunc',
    });
    // The client sees a broken stream after the 3 events it got, never a clean but truncated end.
    expect(r.status).toBe(200);
    expect(r.events).toBe(3);
    expect(r.text).not.toContain('[DONE]');
    expect(r.error).toMatchObject(CUT_CHUNKED_BODY);
    expect((await mock.received()).filter((x) => x.requestId === 'trunc')).toHaveLength(1);
    const plain = await postAndRead(t.url, '/v1/chat/completions', chat('rm'), {
      'x-mock-truncate-after': '10',
      'x-request-id': 'trunc-body',
    });
    expect(plain.status).toBe(200);
    expect(plain.text).toHaveLength(10);
    expect(plain.error).toMatchObject(CUT_SIZED_BODY);
    expect((await mock.received()).filter((x) => x.requestId === 'trunc-body')).toHaveLength(1);
    expect(await retriesCounted(t.url)).toBe(0);
    expect((await t.model('rm')).inFlight).toBe(0);
  });
});
