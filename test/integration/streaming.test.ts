// Streams pass through byte for byte with backpressure (P7): a 1-byte-slicing upstream gives the
// same bytes (SSE events and multi-byte UTF-8 intact); a client that does not read pauses the
// upstream instead of buffering in the gateway.

import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, baseYaml, chat, cleanupAll, sleep, spawnMock, startGateway, type Mock, type TestGateway, waitUntil } from './helpers.js';
import { request } from 'undici';

let t: TestGateway;
let mock: Mock;

beforeAll(async () => {
  mock = await spawnMock(['--served-model-name', 'rm']);
  t = await startGateway(baseYaml(`models:\n  rm: { runtime: remote, url: "${mock.url}" }`));
});
afterAll(cleanupAll);

const TEXT = 'Grüße, 世界! 🚀🎉 naïve café — ok ✓ 𝄞 end';

async function bytes(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Buffer> {
  const res = await request(base + path, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
    dispatcher: agent,
  });
  expect(res.statusCode).toBe(200);
  return Buffer.from(await res.body.arrayBuffer());
}

/** Random ids and timestamps differ per response; everything else must be byte-identical. */
function normalise(b: Buffer): Buffer {
  const s = b.toString('latin1'); // 1:1 on bytes: no decoding of UTF-8 here
  return Buffer.from(s.replace(/"id":"[^"]*"/g, '"id":"X"').replace(/"created":\d+/g, '"created":0'), 'latin1');
}

describe('byte-identical streams', () => {
  for (const [path, body] of [
    ['/v1/chat/completions', chat('rm', { stream: true })],
    ['/v1/completions', { model: 'rm', prompt: 'p', stream: true }],
    ['/v1/chat/completions', chat('rm')],
  ] as const) {
    it(`1-byte upstream chunks give the same bytes: ${path}${'stream' in body ? ' (stream)' : ''}`, async () => {
      const knobs = { 'x-mock-text': Buffer.from(TEXT).toString('base64') };
      const direct = await bytes(mock.url, path, body, knobs);
      const sliced = await bytes(t.url, path, body, { ...knobs, 'x-mock-chunk-bytes': '1' });
      expect(normalise(sliced).equals(normalise(direct))).toBe(true);
      const text = sliced.toString('utf8');
      expect(text).not.toContain('\ufffd');
      if ('stream' in body) {
        const content = text
          .split('\n\n')
          .filter((e) => e.startsWith('data: {'))
          .map((e) => JSON.parse(e.slice(6)))
          .map((j) => j.choices[0].delta?.content ?? j.choices[0].text ?? '')
          .join('');
        expect(content).toBe(TEXT);
      }
    });
  }
});

describe('backpressure', () => {
  it('a client that does not read pauses the upstream; closing it aborts the upstream', async () => {
    const { port } = new URL(t.url);
    const completedBefore = (await mock.stats()).completed as number;
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const body = JSON.stringify(chat('rm', { stream: true, max_tokens: 10_000_000 }));
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nx-request-id: never-reads\r\nx-mock-tokens: 5000000\r\n\r\n${body}`,
    );
    socket.pause(); // never read: the kernel buffers fill, then the gateway's, then the upstream's
    const rssBefore = process.memoryUsage().rss;
    await waitUntil(async () => (await t.model('rm')).inFlight === 1, 2000, 'in flight');
    await sleep(1500);
    const stats = await mock.stats();
    expect(stats.inProgress).toBe(1);
    expect(stats.completed).toBe(completedBefore); // 5M tokens (~700 MB of SSE) would have been produced without backpressure
    const grown = process.memoryUsage().rss - rssBefore;
    expect(grown).toBeLessThan(150 * 1024 * 1024);
    socket.destroy();
    await waitUntil(async () => (await mock.aborted()).includes('never-reads'), 1000, 'upstream aborted');
    await waitUntil(async () => (await t.model('rm')).inFlight === 0, 1000, 'slot freed');
  });
});
