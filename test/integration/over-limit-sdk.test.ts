// A body over limits.maxBodyBytes sent by an official SDK gets the 413 body_too_large, not a
// connection error: clients write their whole body before they read the answer, so a gateway that
// closes the connection as soon as it has answered resets it under them (EPIPE, ECONNRESET) and the
// answer is lost. As nginx's lingering close does, the gateway half-closes and reads on, discarding,
// for a bounded time and amount before it closes: on the fast path and through Fastify's router.
// The gateway runs as its own process (`node gateway/bin.mjs serve`): in the test's own process
// the client's writes and the gateway's close take turns on one event loop and the race is hidden.

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveCli } from './cli-serve.js';
import { ensureBuilt } from './ensure-built.js';
import { baseYaml, chat, cleanupAll, killChild, post, spawnMock } from './helpers.js';

const LIMIT = 1024 * 1024;
let child: ChildProcess;
let url: string;
let openai: OpenAI;
let dir: string;

beforeAll(async () => {
  ensureBuilt();
  const mock = await spawnMock(['--served-model-name', 'r1']);
  dir = mkdtempSync(path.join(tmpdir(), 'gw-over-limit-'));
  const file = path.join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    baseYaml(`models:\n  r1: { runtime: remote, url: "${mock.url}" }`, { limits: `{ queueTimeoutSeconds: 5, maxBodyBytes: ${LIMIT} }` }),
  );
  ({ child, url } = await serveCli(file));
  openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20_000 });
}, 240_000);
afterAll(async () => {
  if (child) await killChild(child);
  await cleanupAll();
  rmSync(dir, { recursive: true, force: true });
});

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { status?: number; code?: string; message: string }) => (e.status ? `${e.status} ${e.code}` : `no answer: ${e.message}`),
  );

describe('an over-limit body from the openai SDK is answered 413', () => {
  it('chat completions (the fast path), 3 and 12 MiB', async () => {
    for (const size of [3, 12, 3, 12, 3, 12]) {
      const content = 'x'.repeat(size * LIMIT);
      expect(await outcome(openai.chat.completions.create({ model: 'r1', messages: [{ role: 'user', content }] }))).toBe(
        '413 body_too_large',
      );
    }
  });

  it('a transcription (multipart, through Fastify’s router), 3 and 12 MiB', async () => {
    for (const size of [3, 12, 3, 12, 3, 12]) {
      const file = await toFile(Buffer.alloc(size * LIMIT), 'a.wav');
      expect(await outcome(openai.audio.transcriptions.create({ model: 'r1', file }))).toBe('413 body_too_large');
    }
  });

  it('the gateway goes on serving', async () => {
    expect((await post(url, '/v1/chat/completions', chat('r1', { max_tokens: 2 }))).status).toBe(200);
  });
});
