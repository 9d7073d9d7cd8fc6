// Priority lanes and turns for GPU memory, with real mock vLLM servers: two 14 GiB models on a
// static 24 GiB GPU do not fit together. A model serving interactive requests keeps its memory
// against a model only batch requests wait for until scheduling.batchSwapAfterSeconds after it
// became ready (not just swapAfterSeconds); then the batch request gets its turn.

import { afterEach, describe, expect, it } from 'vitest';
import { baseYaml, chat, cleanupAll, post, processModel, type TestGateway, startGateway, waitUntil } from './helpers.js';

afterEach(cleanupAll);

const SWAP_AFTER_S = 1;
const BATCH_SWAP_AFTER_S = 4;
/** One streamed interactive request: 10 tokens 100 ms apart (1 s), as an IDE sends. */
const STREAM_HEADERS = { 'x-mock-tokens': '10', 'x-mock-token-delay-ms': '100', 'x-priority': 'interactive' };

/** A client that streams to `model` one request after another until `until()` says stop. */
async function client(t: TestGateway, model: string, until: () => boolean, statuses: number[]): Promise<void> {
  while (!until()) statuses.push((await post(t.url, '/v1/chat/completions', chat(model, { stream: true }), STREAM_HEADERS)).status);
}

/** The batch work that wants b: a batch request, or an Ollama load-only request marked batch. */
const BATCH_ARRIVALS = [
  {
    way: 'a batch chat request',
    send: (t: TestGateway) => post(t.url, '/v1/chat/completions', chat('pt-b'), { 'x-priority': 'batch', 'x-request-id': 'the-batch' }),
    queued: { interactive: 0, batch: 1 },
  },
  {
    way: 'an Ollama load-only request with X-Priority: batch',
    send: (t: TestGateway) =>
      post(`http://127.0.0.1:${t.gw.ollamaPort}`, '/api/generate', { model: 'pt-b', prompt: '' }, { 'x-priority': 'batch' }),
    queued: { interactive: 0, batch: 0 }, // a load waits for the start, not in the queue
  },
];

describe('batch waiters and an interactive holder', () => {
  it.each(BATCH_ARRIVALS)(
    'do not displace it before batchSwapAfterSeconds, and get their turn after it: $way',
    async (arrival) => {
      const t = await startGateway(
        baseYaml(
          [
            'models:',
            ...['a', 'b'].map((id) =>
              processModel(`pt-${id}`, { vramGiB: 14, knobs: ['--mock-start-delay-ms', 300], extra: 'ttlSeconds: 0' }),
            ),
          ].join('\n'),
          {
            limits: '{ queueTimeoutSeconds: 60 }',
            extra: `scheduling: { swapAfterSeconds: ${SWAP_AFTER_S}, batchSwapAfterSeconds: ${BATCH_SWAP_AFTER_S} }`,
          },
        ).replace('listen: { host: 127.0.0.1, port: 0 }', 'listen: { host: 127.0.0.1, port: 0, ollamaPort: 0 }'),
      );
      let stop = false;
      const statuses: number[] = [];
      // Two IDE clients keep a busy with interactive streams.
      const clients = [0, 1].map(() => client(t, 'pt-a', () => stop, statuses));
      await waitUntil(async () => (await t.model('pt-a')).inFlight === 2, 10_000, 'a serving two streams');
      const aReadyAt = Date.parse((await t.model('pt-a')).stateSince);

      const batch = arrival.send(t).then((r) => ({
        status: r.status,
        at: Date.now(),
      }));
      // Past swapAfterSeconds, before batchSwapAfterSeconds: a keeps its memory and b waits for it.
      await waitUntil(() => Date.now() >= aReadyAt + (SWAP_AFTER_S + 1.5) * 1000, 10_000, 'past swapAfterSeconds');
      const [a, b] = [await t.model('pt-a'), await t.model('pt-b')];
      expect(a.state).toBe('ready');
      expect(a.yielding).toBe(false);
      expect(b.waitingForMemory?.blockedBy).toEqual(['pt-a']);
      expect(b.queuedByPriority).toEqual(arrival.queued);

      const answered = await batch;
      stop = true;
      await Promise.all(clients);
      expect(answered.status).toBe(200);
      // It was answered only after a's turn against batch work ended (and within it plus a's last
      // streams, b's start and its answer).
      expect(answered.at - aReadyAt).toBeGreaterThanOrEqual(BATCH_SWAP_AFTER_S * 1000);
      expect(answered.at - aReadyAt).toBeLessThan((BATCH_SWAP_AFTER_S + 8) * 1000);
      // Every interactive request was answered (the ones waiting while b had its turn too).
      expect(statuses.every((s) => s === 200)).toBe(true);
    },
    40_000,
  );
});
