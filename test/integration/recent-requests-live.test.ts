// The status document's recent requests as they happen: a request is listed from its arrival
// (status 0 while queued, its status once the response begins, durationMs null until it ends), and
// its first byte is shown twice: as the client saw it (a cold start and queueing included) and the
// model server's own. The same two figures are in the metrics and the request's log line.
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { RecentRequest } from '../../gateway/status-types.js';
import { baseYaml, chat, cleanupAll, http, processModel, startGateway, waitUntil } from './helpers.js';

afterAll(cleanupAll);

const COLD_MS = 1500; // the mock's health checks fail this long after it starts: a cold start

describe('recent requests in progress, and the first byte as the client saw it', () => {
  it('lists a streaming and a queued request before they end; firstByteMs includes the cold start', { timeout: 60_000 }, async () => {
    const t = await startGateway(
      baseYaml(`models:\n${processModel('live', { knobs: ['--mock-health-delay-ms', COLD_MS], extra: 'maxConcurrent: 1' })}`),
    );
    const sent = performance.now();
    const res = await request(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chat('live', { stream: true })),
      headers: { 'content-type': 'application/json', 'x-request-id': 'live-stream', 'x-mock-tokens': '30', 'x-mock-token-delay-ms': '100' },
    });
    const clientFirstByte = performance.now() - sent;
    expect(res.statusCode).toBe(200);
    const body = res.body.text();
    const queued = request(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(chat('live')),
      headers: { 'content-type': 'application/json', 'x-request-id': 'live-queued' },
    });
    const find = async (id: string) => ((await t.status()).recentRequests ?? []).find((r) => r.id === id);
    const queuedRow = await waitUntil(() => find('live-queued'), 5000, 'the queued request listed');
    expect(queuedRow).toMatchObject({ status: 0, firstByteMs: null, upstreamFirstByteMs: null, durationMs: null });
    const streaming = (await find('live-stream'))!;
    expect(streaming).toMatchObject({ status: 200, stream: true, durationMs: null });
    // The client waited for the cold start; the model server answered at once once it was up.
    expect(streaming.firstByteMs!).toBeGreaterThanOrEqual(COLD_MS);
    expect(streaming.firstByteMs!).toBeLessThanOrEqual(clientFirstByte + 50);
    expect(streaming.upstreamFirstByteMs!).toBeLessThan(streaming.firstByteMs! - 1000);

    expect(await body).toMatch(/data: \[DONE\]\s*$/);
    await (await queued).body.text();
    const done = await waitUntil(
      async () => {
        const list = (await t.status()).recentRequests ?? [];
        const rows = ['live-stream', 'live-queued'].map((id) => list.find((r) => r.id === id));
        return rows.every((r) => r && r.durationMs !== null) && (rows as RecentRequest[]);
      },
      5000,
      'both requests ended',
    );
    expect(done[0]!.durationMs!).toBeGreaterThan(done[0]!.firstByteMs!);
    expect(done[1]).toMatchObject({ status: 200, stream: false });
    // Queued behind the stream (maxConcurrent 1): its wait is in its first byte, not in upstream's.
    expect(done[1]!.firstByteMs! - done[1]!.upstreamFirstByteMs!).toBeGreaterThan(1000);

    const prom = (await http(t.url, '/metrics')).text;
    const sum = (name: string) => Number(new RegExp(`^${name}_sum\\{model="live"\\} (\\S+)$`, 'm').exec(prom)?.[1]);
    expect(sum('vllm_gateway_first_byte_seconds')).toBeGreaterThan(COLD_MS / 1000);
    expect(sum('vllm_gateway_upstream_first_byte_seconds')).toBeLessThan(sum('vllm_gateway_first_byte_seconds') - 1);
    const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.reqId === 'live-stream' && l.msg === 'request done');
    expect(line).toMatchObject({ ttfbMs: done[0]!.firstByteMs, upstreamTtfbMs: done[0]!.upstreamFirstByteMs });
  });
});
