// Turn-taking under contention, with real mock vLLM servers: two 14 GiB models on a static 24 GiB
// GPU do not fit together. A model kept busy by clients that send their next stream as soon as
// the last one ends yields after scheduling.swapAfterSeconds to a model whose request waits; its
// own requests wait (not failed) for its turn back; nothing thrashes.

import { afterEach, describe, expect, it } from 'vitest';
import { baseYaml, chat, cleanupAll, post, processModel, type Res, startGateway, type TestGateway, waitUntil } from './helpers.js';

afterEach(cleanupAll);

const SWAP_AFTER_S = 3;
/** One streamed request: 10 tokens 100 ms apart (1 s), as an autocomplete or chat client sends. */
const STREAM_HEADERS = { 'x-mock-tokens': '10', 'x-mock-token-delay-ms': '100' };
const STREAM_MS = 1000;

function twoModels(swapAfterSeconds = SWAP_AFTER_S): string {
  return baseYaml(
    [
      'models:',
      ...['a', 'b'].map((id) => processModel(`tt-${id}`, { vramGiB: 14, knobs: ['--mock-start-delay-ms', 300], extra: 'ttlSeconds: 0' })),
    ].join('\n'),
    { limits: '{ queueTimeoutSeconds: 60 }', extra: `scheduling: { swapAfterSeconds: ${swapAfterSeconds} }` },
  );
}

interface Answer {
  model: string;
  client: number;
  status: number;
  done: boolean;
  sentAt: number;
  endedAt: number;
}

/** A client that streams to `model` one request after another until `until()` says stop. */
async function client(t: TestGateway, model: string, n: number, until: () => boolean, out: Answer[]): Promise<void> {
  while (!until()) {
    const sentAt = Date.now();
    const res: Res = await post(t.url, '/v1/chat/completions', chat(model, { stream: true }), STREAM_HEADERS);
    out.push({ model, client: n, status: res.status, done: res.text.includes('data: [DONE]'), sentAt, endedAt: Date.now() });
  }
}

/** The gateway's JSON log lines with this message. */
const logged = (t: TestGateway, msg: string) =>
  t.logs.map((l) => JSON.parse(l) as Record<string, unknown> & { time: number }).filter((l) => l.msg === msg);

describe('a busy model yields after swapAfterSeconds', () => {
  it('b is answered within swapAfterSeconds plus its start; every request of a is answered; a restarts once for its turn back', async () => {
    const t = await startGateway(twoModels());
    const answers: Answer[] = [];
    let stop = false;
    // Two clients keep a busy: each sends its next 1 s stream as soon as the last one ended.
    const clients = [0, 1].map((n) => client(t, 'tt-a', n, () => stop, answers));
    await waitUntil(async () => (await t.model('tt-a')).inFlight === 2, 10_000, 'a serving two streams');
    const aReadyAt = Date.parse((await t.model('tt-a')).stateSince);

    const bSent = Date.now();
    const b = await post(t.url, '/v1/chat/completions', chat('tt-b'));
    const bMs = Date.now() - bSent;
    expect(b.status).toBe(200);

    // a's queued requests waited; a gets its turn back once b is idle, and serves again.
    await waitUntil(() => t.runtime.starts.length >= 3, 30_000, 'a started again');
    const restarted = Date.now();
    await waitUntil(() => answers.some((x) => x.model === 'tt-a' && x.endedAt > restarted), 30_000, 'a serving again');
    stop = true;
    await Promise.all(clients);

    expect(answers.length).toBeGreaterThan(2);
    for (const x of answers) expect([x.status, x.done]).toEqual([200, true]);
    expect(t.runtime.starts).toEqual(['tt-a', 'tt-b', 'tt-a']); // a: first start + one turn back; no thrash

    const [yielded] = logged(t, 'model yields its GPU memory');
    expect(yielded).toMatchObject({ model: 'tt-a', to: 'tt-b' });
    expect(yielded.readyForMs as number).toBeGreaterThanOrEqual(SWAP_AFTER_S * 1000);
    // b's wait: what was left of a's turn when b asked, a's streams in flight finishing, then a's
    // stop and b's own start (both from the logs); 1 s for the scheduling in between.
    const stopA = logged(t, 'stopping model').find((l) => l.model === 'tt-a')!;
    expect(stopA.why).toBe('yielded');
    const bReady = logged(t, 'model ready').find((l) => l.model === 'tt-b')!;
    const stopAndStartMs = bReady.time - stopA.time;
    const turnLeftMs = Math.max(0, aReadyAt + SWAP_AFTER_S * 1000 - bSent);
    console.log(
      `b answered in ${bMs} ms: turn left ${turnLeftMs} ms, a's stop + b's start ${stopAndStartMs} ms (b's server start ${bReady.startMs as number} ms); ` +
        `${answers.length} answers to a, starts ${t.runtime.starts.join(',')}`,
    );
    expect(bMs).toBeLessThanOrEqual(turnLeftMs + STREAM_MS + stopAndStartMs + 1000);
  }, 60_000);

  it("swapAfterSeconds: 0 keeps today's rule: the busy model is never displaced, b waits out its queue timeout", async () => {
    const t = await startGateway(twoModels(0).replace('queueTimeoutSeconds: 60', 'queueTimeoutSeconds: 4'));
    const answers: Answer[] = [];
    let stop = false;
    const clients = [0, 1].map((n) => client(t, 'tt-a', n, () => stop, answers));
    await waitUntil(async () => (await t.model('tt-a')).inFlight === 2, 10_000, 'a serving two streams');
    const b = await post(t.url, '/v1/chat/completions', chat('tt-b'));
    stop = true;
    await Promise.all(clients);
    expect(b.status).toBe(503);
    expect((JSON.parse(b.text) as { error: { code: string } }).error.code).toBe('queue_timeout');
    expect(Number(b.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(t.runtime.starts).toEqual(['tt-a']);
    for (const x of answers) expect(x.status).toBe(200);
  }, 30_000);
});

describe('alternating load', () => {
  it('six clients alternating between two models over 24 s: every client is answered, starts are a small fraction of requests', async () => {
    const t = await startGateway(twoModels());
    const answers: Answer[] = [];
    const endAt = Date.now() + 24_000;
    await Promise.all([0, 1, 2, 3, 4, 5].map((n) => client(t, n % 2 ? 'tt-b' : 'tt-a', n, () => Date.now() >= endAt, answers)));
    const starts = t.runtime.starts.length;
    const perClient = [0, 1, 2, 3, 4, 5].map((n) => answers.filter((x) => x.client === n).length);
    const waits = answers.map((x) => x.endedAt - x.sentAt).sort((p, q) => p - q);
    console.log(
      `alternating: ${answers.length} requests, ${starts} starts (${t.runtime.starts.join(',')}), per client ${perClient.join('/')}, ` +
        `p50 ${waits[Math.floor(waits.length / 2)]} ms, max ${waits.at(-1)} ms`,
    );
    for (const x of answers) expect([x.status, x.done]).toEqual([200, true]);
    for (const n of perClient) expect(n).toBeGreaterThanOrEqual(2);
    expect(starts).toBeGreaterThanOrEqual(3); // the models did take turns
    expect(starts * 5).toBeLessThanOrEqual(answers.length);
  }, 60_000);
});
