// vLLM sleep mode with a `runtime: docker` model against the real Docker engine: the gateway gives
// the container `--enable-sleep-mode` and VLLM_SERVER_DEV_MODE=1 (docs/configuration.md), puts it to
// sleep through the admin route, keeps the container running while it sleeps, and wakes the same
// container for the next request. The mock vLLM image (test/docker/build-mock-image.mjs) implements
// vLLM's sleep API and dies on a generation request while asleep, as vLLM's engine does.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chat, errorOf, post } from '../integration/helpers.js';
import { dockerAvailability, suiteName } from './docker-available.js';
import { MOCK_IMAGE, containersOfPrefix, removePrefix, uniquePrefix } from './helpers.js';
import { adminPost, closeAllGateways, dockerYaml, startDockerGateway } from './gateway-helpers.js';
// @ts-expect-error: plain ESM helper without types
import { buildMockImage } from './build-mock-image.mjs';

const avail = await dockerAvailability();
const docker = avail.docker;

describe.skipIf(!avail.available)(suiteName('docker model in sleep mode (real engine)', avail), () => {
  const prefix = uniquePrefix('sleep');

  beforeAll(async () => {
    await buildMockImage({ tag: MOCK_IMAGE });
  }, 120_000);

  afterEach(async () => {
    await closeAllGateways();
  }, 30_000);

  afterAll(async () => {
    await closeAllGateways();
    await removePrefix(docker, prefix);
  }, 60_000);

  it('put to sleep through the admin route, the container keeps running; the next request wakes the same container', async () => {
    const t = await startDockerGateway(dockerYaml(prefix, { m: { extra: 'sleep: { level: 1 }' } }));
    const first = await post(t.url, '/v1/chat/completions', chat('m'));
    expect(first.status).toBe(200);
    const [c] = await containersOfPrefix(docker, prefix);
    expect(c.State).toBe('running');
    // The gateway added what vLLM's sleep API needs (the model's args and env list neither).
    const spec = await docker.getContainer(c.Id).inspect();
    expect(spec.Config.Cmd).toContain('--enable-sleep-mode');
    expect(spec.Config.Env).toContain('VLLM_SERVER_DEV_MODE=1');
    const endpoint = t.model('m').endpoint!;
    const stats = async () => (await (await fetch(`${endpoint}/mock/stats`)).json()) as { sleep: Record<string, unknown> };

    // The admin route needs the admin token, then answers with the sleeping entry.
    expect((await post(t.url, '/gateway/models/m/sleep', '')).status).toBe(401);
    const slept = await adminPost(t.url, '/gateway/models/m/sleep');
    expect(slept.status).toBe(200);
    expect(slept.json).toMatchObject({ id: 'm', state: 'sleeping', sleepLevel: 1 });
    expect(t.model('m')).toMatchObject({ state: 'sleeping', sleepLevel: 1, endpoint });
    expect((await stats()).sleep).toMatchObject({ state: 'weights_offloaded', sleeps: 1, wakes: 0 });
    const asleep = await containersOfPrefix(docker, prefix);
    expect(asleep.map((x) => [x.Id, x.State])).toEqual([[c.Id, 'running']]);
    const twice = await adminPost(t.url, '/gateway/models/m/sleep');
    expect([twice.status, errorOf(twice).code]).toEqual([409, 'model_not_ready']);

    // The next request wakes it: same container, same endpoint, answered.
    const again = await post(t.url, '/v1/chat/completions', chat('m'));
    expect(again.status).toBe(200);
    expect((again.json as { choices: Array<{ message: { content: string } }> }).choices[0].message.content.length).toBeGreaterThan(0);
    expect(t.model('m')).toMatchObject({ state: 'ready', endpoint });
    expect((await stats()).sleep).toMatchObject({ state: 'awake', sleeps: 1, wakes: 1 });
    const awake = await containersOfPrefix(docker, prefix);
    expect(awake.map((x) => [x.Id, x.State])).toEqual([[c.Id, 'running']]);
    expect([t.gw.scheduler.sleeps, t.gw.scheduler.wakes]).toEqual([1, 1]);
    // What the server saw: the generation came only after the wake.
    const seen = ((await (await fetch(`${endpoint}/mock/received`)).json()) as Array<{ path: string }>)
      .map((r) => r.path)
      .filter((p) => !['/is_sleeping', '/metrics', '/health'].includes(p));
    expect(seen).toEqual(['/v1/chat/completions', '/sleep?level=1', '/wake_up', '/v1/chat/completions']);

    await t.close();
    expect(await containersOfPrefix(docker, prefix)).toHaveLength(0); // shutdown stops the sleeper's container
  }, 60_000);
});
