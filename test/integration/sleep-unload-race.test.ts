// A sleep asked by hand that something overtakes while the server's /sleep runs (the mock's takes a
// second): an unload stopped the model, so the answer is 503 model_stopped (docs/http-api.md: the
// model was stopped while the request waited or ran), not a 502 as if its server had failed; a
// server that dies meanwhile is the 502 upstream_error it always was.

import { afterAll, describe, expect, it } from 'vitest';
import { admin, baseYaml, chat, cleanupAll, errorOf, mockOf, post, processModel, startGateway, waitUntil } from './helpers.js';

afterAll(cleanupAll);

describe('a sleep by hand overtaken while the server goes to sleep', () => {
  it('the unload wins: 200 for it, 503 model_stopped for the sleep, the model stopped and startable again', async () => {
    const t = await startGateway(
      baseYaml(
        `models:\n${processModel('sr', { knobs: ['--enable-sleep-mode', '--mock-sleep-delay-ms', 1000], extra: 'sleep: { level: 1 }' })}`,
      ),
    );
    expect((await admin(t.url, '/gateway/models/sr/load')).status).toBe(200);
    const sleeping = admin(t.url, '/gateway/models/sr/sleep');
    await waitUntil(async () => (await t.model('sr')).state === 'sleeping', 5000, 'sr falling asleep');
    const unload = await admin(t.url, '/gateway/models/sr/unload');
    expect(unload.status, unload.text).toBe(200);
    const slept = await sleeping;
    expect(slept.status, slept.text).toBe(503);
    expect(errorOf(slept).code).toBe('model_stopped');
    const m = await t.model('sr');
    expect(m.state).toBe('stopped');
    expect(m.error).toBeNull();
    expect((await post(t.url, '/v1/chat/completions', chat('sr', { max_tokens: 2 }))).status).toBe(200);
  });

  it('a server that dies while it is put to sleep is still a 502 upstream_error, with the reason', async () => {
    const t = await startGateway(
      baseYaml(
        `models:\n${processModel('sd', { knobs: ['--enable-sleep-mode', '--mock-sleep-delay-ms', 1000], extra: 'sleep: { level: 1 }' })}`,
      ),
    );
    expect((await admin(t.url, '/gateway/models/sd/load')).status).toBe(200);
    const pid = (await (await mockOf(t, 'sd')).stats()).pid as number;
    const sleeping = admin(t.url, '/gateway/models/sd/sleep');
    await waitUntil(async () => (await t.model('sd')).state === 'sleeping', 5000, 'sd falling asleep');
    process.kill(pid, 'SIGKILL');
    const slept = await sleeping;
    expect(slept.status, slept.text).toBe(502);
    expect(errorOf(slept).code).toBe('upstream_error');
    const m = await t.model('sd');
    expect(m.state).toBe('stopped');
    // Whichever sees it first gives the reason: the exit watcher, or the failed /sleep call.
    expect(m.error).toMatch(/exited|killed|signal|did not go to sleep/i);
  });
});
