// The real gateway with `runtime: docker` models against the real Docker engine (issue 3's Tests):
// the mock vLLM image (test/docker/build-mock-image.mjs), a static GPU, `pull: never`, no GPU
// requests, and a container prefix of this file's own. Tests run one after the other (each
// closes its gateway, which stops its containers); the Docker daemon restart comes last.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DockerModelConfig } from '../../gateway/config/types.js';
import { containerName } from '../../gateway/runtimes/docker-naming.js';
import { DockerRuntime } from '../../gateway/runtimes/docker-runtime.js';
import { gpuMemoryUtilization } from '../../gateway/scheduler/placement.js';
import { errorOf, http, post, chat, waitUntil } from '../integration/helpers.js';
import { dockerAvailability, restartableDockerd, suiteName } from './docker-available.js';
import { MOCK_IMAGE, containersOfPrefix, exists, removePrefix, startRequest, uniquePrefix } from './helpers.js';
import {
  adminPost,
  chatStream,
  closeAllGateways,
  configEnv,
  dockerYaml,
  killAllChildren,
  median,
  parseDockerYaml,
  spawnGateway,
  startDockerGateway,
  writeConfig,
  type DockerGateway,
} from './gateway-helpers.js';
// @ts-expect-error: plain ESM helper without types
import { buildMockImage } from './build-mock-image.mjs';
import { envWithoutMarkers } from '../lifecycle/run-marker.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const avail = await dockerAvailability();
const docker = avail.docker;
const figures: Record<string, number[]> = {};
/** The daemon's socket this machine's tests use (DOCKER_HOST unix:// or the default). */
const dockerSocket = () => (process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice(7) : '/var/run/docker.sock');
const record = (k: string, v: number) => (figures[k] ??= []).push(Math.round(v));

describe.skipIf(!avail.available)(suiteName('gateway with docker models (real engine)', avail), () => {
  const prefix = uniquePrefix('gw');
  const otherPrefix = uniquePrefix('gwother');
  const name = (id: string) => containerName(prefix, id);
  const modelContainers = async (id: string) =>
    (await containersOfPrefix(docker, prefix)).filter((c) => c.Labels['vllm-gateway.model'] === id);

  beforeAll(async () => {
    await buildMockImage({ tag: MOCK_IMAGE });
  }, 120_000);

  afterEach(async () => {
    await closeAllGateways();
    await killAllChildren();
  }, 30_000);

  afterAll(async () => {
    await closeAllGateways();
    await killAllChildren();
    await removePrefix(docker, prefix);
    await removePrefix(docker, otherPrefix);
    const summary = Object.fromEntries(
      Object.entries(figures).map(([k, xs]) => [k, { n: xs.length, medianMs: median(xs), minMs: Math.min(...xs), maxMs: Math.max(...xs) }]),
    );
    console.log(`[gateway docker figures] ${JSON.stringify(summary)}`);
  }, 60_000);

  it('/ready answers 503 "Docker is not running" when the socket is absent (DOCKER_HOST unset)', async () => {
    const yaml = dockerYaml(prefix, { m: {} }, { docker: 'socketPath: /nonexistent.sock' });
    const t = await startDockerGateway(yaml, configEnv(false));
    expect(t.gw.config.docker.dockerHost).toBeNull();
    const res = await http(t.url, '/ready');
    expect(res.status).toBe(503);
    expect(res.json.reasons.join('\n')).toContain('Docker is not running');
    expect((await http(t.url, '/health')).status).toBe(200);
  });

  it('Docker started after the gateway: /ready returns to 200 and the running container is adopted then', async () => {
    // A container of this prefix left running (as by a killed gateway) for the model below.
    const yaml = (sock: string) => dockerYaml(prefix, { late: {} }, { docker: `socketPath: ${JSON.stringify(sock)}` });
    const real = parseDockerYaml(yaml('/var/run/docker.sock'));
    const rt = new DockerRuntime(real.docker);
    const model = real.models.find((m) => m.id === 'late') as DockerModelConfig;
    const leftover = await rt.start(startRequest(model, { util: gpuMemoryUtilization(model.vramGiB, 24 * 1024) }));
    await rt.close();
    const [c] = await modelContainers('late');

    // The gateway starts while its socket does not exist yet; then "Docker starts" there.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vgw-sock-'));
    const sock = path.join(dir, 'docker.sock');
    const t = await startDockerGateway(yaml(sock), configEnv(false));
    const piped = new Set<Socket>();
    const forwarder = createServer((client) => {
      const upstream = connect(dockerSocket());
      piped.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const end = () => (client.destroy(), upstream.destroy());
      client.on('error', end);
      upstream.on('error', end);
    });
    try {
      const before = await http(t.url, '/ready');
      expect(before.status).toBe(503);
      expect(before.json.reasons.join('\n')).toContain('Docker is not running');
      expect(t.model('late').state).toBe('stopped');
      expect(t.gw.scheduler.reconcilePending).toBe(true);
      const early = await post(t.url, '/v1/chat/completions', chat('late'));
      expect(early.status).toBe(503);
      expect(errorOf(early)).toMatchObject({ code: 'model_start_failed' });
      expect(errorOf(early).message).toContain('Docker is not running');
      await new Promise<void>((r) => forwarder.listen(sock, r));
      // Adopted as soon as Docker answers (retried in the background), before any start.
      await waitUntil(() => t.model('late').state === 'ready', 10_000, 'the leftover container to be adopted', 50);
      expect(t.gw.scheduler.reconcilePending).toBe(false);
      expect(t.model('late').error).toBeNull(); // the failed start while Docker was down is forgotten
      await waitUntil(async () => (await http(t.url, '/ready')).status === 200, 5000, '/ready to return to 200', 100);
      expect(t.model('late').endpoint).toBe(leftover.endpoint);
      expect((await post(t.url, '/v1/chat/completions', chat('late'))).status).toBe(200);
      expect((await modelContainers('late')).map((x) => x.Id)).toEqual([c.Id]);
    } finally {
      await t.close();
      for (const sck of piped) sck.destroy(); // keep-alive connections would hold close() up
      await new Promise((r) => forwarder.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts a container on demand and streams a chat completion through it; measures start overhead', async () => {
    const startDelayMs = 300;
    const t = await startDockerGateway(dockerYaml(prefix, { qwen: { args: ['--mock-start-delay-ms', String(startDelayMs)] }, quick: {} }));
    expect((await http(t.url, '/ready')).status).toBe(200);
    expect(t.model('qwen').state).toBe('stopped');
    expect(await modelContainers('qwen')).toHaveLength(0);

    const s = await chatStream(t.url, 'qwen');
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toContain('text/event-stream');
    const body = await s.rest();
    expect(body.error).toBeNull();
    expect(body.done).toBe(true);
    expect(body.text).toContain('"content":"h"');
    record('first request → first byte, minus mock start delay (300 ms)', s.firstByteMs - startDelayMs);

    const m = t.model('qwen');
    expect(m.state).toBe('ready');
    expect(m.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const list = await modelContainers('qwen');
    expect(list).toHaveLength(1);
    expect(list[0].Names).toEqual([`/${name('qwen')}`]);
    expect(list[0].State).toBe('running');
    // The mock saw the request as the gateway sent it.
    const received = (await (await fetch(`${m.endpoint}/mock/received`)).json()) as Array<{ path: string }>;
    expect(received.some((r) => r.path === '/v1/chat/completions')).toBe(true);

    // A warm request: the gateway's own overhead, for comparison.
    const warm = await chatStream(t.url, 'qwen');
    await warm.rest();
    record('warm request → first byte', warm.firstByteMs);

    // Start-to-ready without a start delay, a few times (unload between), with the gateway's log times.
    for (let i = 0; i < 5; i++) {
      const from = t.logs.length;
      const tSent = Date.now();
      const q = await chatStream(t.url, 'quick');
      expect(q.status).toBe(200);
      expect((await q.rest()).done).toBe(true);
      record('first request → first byte (no start delay)', q.firstByteMs);
      const at = (msg: string) => t.logs.slice(from).find((l) => l.msg === msg && l.model === 'quick')!.time;
      record('  request → container created (placement, image check, create)', at('container created') - tSent);
      record('  container created → started (docker start + inspect)', at('container started') - at('container created'));
      record('  container started → ready (/health 200)', at('model ready') - at('container started'));
      expect((await adminPost(t.url, '/gateway/models/quick/unload')).status).toBe(200);
    }
    await t.close();
    expect(await containersOfPrefix(docker, prefix)).toHaveLength(0); // shutdown stops its containers
  });

  it('two simultaneous first requests start one container', async () => {
    const t = await startDockerGateway(dockerYaml(prefix, { twin: { args: ['--mock-start-delay-ms', '300'] } }));
    const creates: string[] = [];
    const events = await docker.getEvents({ filters: { label: [`vllm-gateway.prefix=${prefix}`], event: ['create'] } });
    events.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) creates.push((JSON.parse(line) as { id: string }).id);
    });
    try {
      const [a, b, c] = await Promise.all([
        post(t.url, '/v1/chat/completions', chat('twin')),
        post(t.url, '/v1/chat/completions', chat('twin')),
        post(t.url, '/v1/completions', { model: 'twin', prompt: 'x' }),
      ]);
      expect([a.status, b.status, c.status]).toEqual([200, 200, 200]);
      const list = await modelContainers('twin');
      expect(list).toHaveLength(1);
      await waitUntil(() => creates.length >= 1, 2000, 'the create event');
      await new Promise((r) => setTimeout(r, 200));
      expect(creates).toEqual([list[0].Id]);
    } finally {
      (events as unknown as { destroy(): void }).destroy();
    }
  });

  it('LRU eviction removes the evicted container before the new one starts; measures eviction time', async () => {
    // 12 + 12 GiB > 24 − 0.5 GiB: one at a time.
    const t = await startDockerGateway(dockerYaml(prefix, { a: { vramGiB: 12 }, b: { vramGiB: 12 } }));
    for (let round = 0; round < 3; round++) {
      const [from, to] = round % 2 === 0 ? ['a', 'b'] : ['b', 'a'];
      if (round === 0) expect((await post(t.url, '/v1/chat/completions', chat(from))).status).toBe(200);
      const old = (await modelContainers(from))[0];
      expect(old?.State).toBe('running');
      const startedCount = t.logs.filter((l) => l.msg === 'container created').length;
      const tSent = Date.now();
      const res = await post(t.url, '/v1/chat/completions', chat(to));
      expect(res.status).toBe(200);
      record('request needing an eviction → response (evict + start + answer)', Date.now() - tSent);
      expect(await exists(docker, old.Id)).toBe(false);
      const fresh = await modelContainers(to);
      expect(fresh).toHaveLength(1);
      expect(fresh[0].State).toBe('running');
      expect(await modelContainers(from)).toHaveLength(0);
      expect(t.model(from).state).toBe('stopped');
      expect(t.model(to).state).toBe('ready');
      // The evicted container was gone before the new one was created.
      const stopping = t.transitions.filter((x) => x.id === from && x.state === 'stopping').at(-1)!;
      const stopped = t.transitions.filter((x) => x.id === from && x.state === 'stopped').at(-1)!;
      const created = t.logs.filter((l) => l.msg === 'container created')[startedCount];
      expect(created?.model).toBe(to);
      expect(stopped.at).toBeLessThanOrEqual(created.time);
      record('eviction: stopping → stopped (docker stop + remove)', stopped.at - stopping.at);
      const evictLog = t.logs.filter((l) => l.msg === 'evicting least recently used models').at(-1)!;
      expect(evictLog.evict).toEqual([from]);
    }
    expect(t.gw.scheduler.evictions).toBe(3);
  });

  it('idle stop removes the container after ttlSeconds', async () => {
    const t = await startDockerGateway(dockerYaml(prefix, { idle: { ttlSeconds: 1 } }));
    expect((await post(t.url, '/v1/chat/completions', chat('idle'))).status).toBe(200);
    const answeredAt = Date.now();
    const [c] = await modelContainers('idle');
    expect(c.State).toBe('running');
    await waitUntil(async () => !(await exists(docker, c.Id)), 6000, 'the idle container to be removed', 100);
    // Not before the model had been idle for ttlSeconds (counted by the gateway from the end of the
    // response, a few ms before the client read it).
    const stopping = t.transitions.find((x) => x.id === 'idle' && x.state === 'stopping')!;
    expect(stopping.at - answeredAt).toBeGreaterThanOrEqual(1000 - 50);
    expect(t.model('idle').state).toBe('stopped');
    expect(t.logs.some((l) => l.msg === 'stopping model' && l.why === 'idle')).toBe(true);
  });

  it('unload removes the container; its logs stay available', async () => {
    const t = await startDockerGateway(dockerYaml(prefix, { un: {} }));
    expect((await post(t.url, '/v1/chat/completions', chat('un'))).status).toBe(200);
    const [c] = await modelContainers('un');
    expect((await http(t.url, '/gateway/models/un/unload', { method: 'POST' })).status).toBe(401);
    const res = await adminPost(t.url, '/gateway/models/un/unload');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ id: 'un', state: 'stopped', inFlight: 0, queued: 0 });
    expect(await exists(docker, c.Id)).toBe(false);
    expect(await exists(docker, name('un'))).toBe(false);
    const logs = await http(t.url, '/gateway/models/un/logs?tail=50');
    expect(logs.status).toBe(200);
    expect(logs.headers['content-type']).toContain('text/plain');
    expect(logs.text).toContain('Uvicorn running on http://0.0.0.0:8000');
    expect(logs.text).toContain('Shutting down (SIGTERM)');
  });

  it('a start failure answers 503 model_start_failed with the log tail, removes the container, then cools down', async () => {
    const msg = 'CUDA out of memory. Tried to allocate 20.00 GiB (mock)';
    const t = await startDockerGateway(dockerYaml(prefix, { broken: { args: ['--mock-fail-at-start', msg] } }));
    const res = await post(t.url, '/v1/chat/completions', chat('broken'));
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('10'); // model_start_failed's Retry-After (docs/http-api.md)
    const e = errorOf(res);
    expect(e.code).toBe('model_start_failed');
    expect(e.type).toBe('server_error');
    expect(e.message).toContain(msg);
    expect(e.message).toContain('Engine core initialization failed');
    await waitUntil(async () => !(await exists(docker, name('broken'))), 5000, 'the failed container to be removed');
    expect(t.model('broken').state).toBe('failed');
    const again = await post(t.url, '/v1/chat/completions', chat('broken'));
    expect(again.status).toBe(503);
    const cooling = errorOf(again);
    expect(cooling.code).toBe('model_cooling_down');
    // Retry-After is what is left of the first cool-down (10 s), as the message says.
    const left = Number(/cooling down for (\d+) s/.exec(cooling.message)?.[1]);
    expect(again.headers['retry-after']).toBe(String(left));
    expect(left).toBeGreaterThanOrEqual(1);
    expect(left).toBeLessThanOrEqual(10);
    expect(await modelContainers('broken')).toHaveLength(0);
    const logs = await http(t.url, '/gateway/models/broken/logs');
    expect(logs.text).toContain(msg);
  });

  it('a container that dies while starting: 503 model_start_failed, failed with cool-down, container removed', async () => {
    const t = await startDockerGateway(dockerYaml(prefix, { slow: { args: ['--mock-start-delay-ms', '5000'] } }));
    const pending = post(t.url, '/v1/chat/completions', chat('slow'));
    await waitUntil(async () => (await modelContainers('slow')).some((c) => c.State === 'running'), 5000, 'the container to run');
    const [c] = await modelContainers('slow');
    expect(t.model('slow').state).toBe('starting');
    await docker.getContainer(c.Id).kill();
    const res = await pending;
    expect(res.status).toBe(503);
    expect(errorOf(res).code).toBe('model_start_failed');
    expect(errorOf(res).message).toContain('SIGKILL');
    expect(t.model('slow').state).toBe('failed');
    await waitUntil(async () => !(await exists(docker, c.Id)), 5000, 'the dead container to be removed');
    expect(errorOf(await post(t.url, '/v1/chat/completions', chat('slow'))).code).toBe('model_cooling_down');
  });

  it('pull: never with a missing image answers 503 model_start_failed saying the image is missing', async () => {
    const t = await startDockerGateway(dockerYaml(prefix, { noimg: { image: 'vllm-gw-test/does-not-exist:1' } }));
    const res = await post(t.url, '/v1/chat/completions', chat('noimg'));
    expect(res.status).toBe(503);
    const e = errorOf(res);
    expect(e.code).toBe('model_start_failed');
    expect(e.message).toMatch(/vllm-gw-test\/does-not-exist:1 is not on this machine/);
    expect(e.message).toContain('never');
    expect(await modelContainers('noimg')).toHaveLength(0);
  });

  it('docker kill mid-stream: the stream ends in an error, counters return to 0, the model is stopped, the next request starts a new container', async () => {
    const t = await startDockerGateway(dockerYaml(prefix, { victim: { args: ['--mock-token-delay-ms', '100', '--mock-tokens', '200'] } }));
    const s = await chatStream(t.url, 'victim');
    expect(s.status).toBe(200);
    expect(await s.next()).toContain('data: ');
    expect(t.model('victim').inFlight).toBe(1);
    const [c] = await modelContainers('victim');
    await docker.getContainer(c.Id).kill();
    const body = await s.rest();
    expect(body.done).toBe(false);
    // The gateway cut the client's connection before the chunked body's last chunk: undici says
    // so one of two ways, as the close reaches it (a FIN: an incomplete body; a reset: a socket error).
    expect(['Response does not match the HTTP/1.1 protocol (Invalid EOF state)', 'UND_ERR_SOCKET']).toContain(body.error);
    await waitUntil(() => t.model('victim').state === 'stopped', 5000, 'the model to be stopped');
    await waitUntil(() => t.model('victim').inFlight === 0 && t.model('victim').queued === 0, 2000, 'counters back to 0');
    expect(t.model('victim').error).toContain('SIGKILL');
    await waitUntil(async () => !(await exists(docker, c.Id)), 5000, 'the dead container to be removed');

    const again = await post(t.url, '/v1/chat/completions', chat('victim'), { 'x-mock-tokens': '3', 'x-mock-token-delay-ms': '0' });
    expect(again.status).toBe(200);
    const now = await modelContainers('victim');
    expect(now).toHaveLength(1);
    expect(now[0].Id).not.toBe(c.Id);
    expect(t.model('victim')).toMatchObject({ state: 'ready', inFlight: 0, queued: 0 });
  });

  it('SIGKILLed gateway restarted: the running container is adopted (same id, ready at once, no duplicate); a changed config removes it; another prefix is left alone', async () => {
    // A leftover of another gateway (another prefix): must survive every reconcile of ours.
    const foreign = await docker.createContainer({
      name: `${otherPrefix}-keep`,
      Image: MOCK_IMAGE,
      Labels: {
        'vllm-gateway.managed': 'true',
        'vllm-gateway.prefix': otherPrefix,
        'vllm-gateway.model': 'keep',
        'vllm-gateway.config-hash': '0000000000000000',
      },
    });
    await foreign.start();
    const models = { keep: { args: ['--max-model-len', '4096'] } };
    const file = writeConfig(dockerYaml(prefix, models));
    const g1 = await spawnGateway(file);
    expect((await post(g1.url, '/v1/chat/completions', chat('keep'))).status).toBe(200);
    const [before] = await modelContainers('keep');
    expect(before.State).toBe('running');
    await g1.kill('SIGKILL');
    expect(await exists(docker, before.Id)).toBe(true); // nobody stopped it

    const g2 = await spawnGateway(file);
    const status = (await http(g2.url, '/gateway/status')).json as {
      models: Array<{ id: string; state: string; endpoint: string | null }>;
    };
    expect(status.models.find((m) => m.id === 'keep')?.state).toBe('ready'); // at once, no start
    expect((await http(g2.url, '/ready')).status).toBe(200);
    const after = await modelContainers('keep');
    expect(after.map((c) => c.Id)).toEqual([before.Id]);
    const res = await post(g2.url, '/v1/chat/completions', chat('keep'));
    expect(res.status).toBe(200);
    expect(await modelContainers('keep')).toHaveLength(1);
    expect(g2.output.join('')).toContain('adopted running model server');
    await g2.kill('SIGKILL');

    // Same model, different args: the old container no longer matches; removed before /ready, never duplicated.
    const changed = writeConfig(dockerYaml(prefix, { keep: { args: ['--max-model-len', '8192'] } }));
    const g3 = await spawnGateway(changed);
    expect(await exists(docker, before.Id)).toBe(false);
    const s3 = (await http(g3.url, '/gateway/status')).json as { models: Array<{ id: string; state: string }> };
    expect(s3.models.find((m) => m.id === 'keep')?.state).toBe('stopped');
    expect(await modelContainers('keep')).toHaveLength(0);
    expect((await post(g3.url, '/v1/chat/completions', chat('keep'))).status).toBe(200);
    const fresh = await modelContainers('keep');
    expect(fresh).toHaveLength(1);
    expect(fresh[0].Id).not.toBe(before.Id);
    const cmd = (await docker.getContainer(fresh[0].Id).inspect()).Config.Cmd;
    expect(cmd.slice(-2)).toEqual(['--max-model-len', '8192']);
    await g3.kill('SIGTERM'); // graceful: stops its container
    await waitUntil(async () => (await modelContainers('keep')).length === 0, 10_000, 'the container stopped at shutdown');

    const theirs = await containersOfPrefix(docker, otherPrefix);
    expect(theirs.map((c) => c.Id)).toEqual([foreign.id]);
    expect(theirs[0].State).toBe('running');
    await foreign.remove({ force: true });
  }, 60_000);

  it('keeps serving across a Docker daemon restart, and /ready returns to 200', async (ctx) => {
    const dockerd = restartableDockerd(); // only a daemon the tests started, never the system's
    if (dockerd.skip !== null) {
      ctx.skip(dockerd.skip);
      return;
    }
    const liveRestore = Boolean(((await docker.info()) as { LiveRestoreEnabled?: boolean }).LiveRestoreEnabled);
    const t: DockerGateway = await startDockerGateway(dockerYaml(prefix, { survivor: {} }));
    expect((await post(t.url, '/v1/chat/completions', chat('survivor'))).status).toBe(200);
    const [c] = await modelContainers('survivor');

    const pid = dockerd.pid;
    const t0 = Date.now();
    const log = (what: string) => console.log(`[daemon restart +${Date.now() - t0} ms] ${what}`);
    process.kill(pid, 'SIGTERM');
    let duringDown: { ready: number; chat: number } | undefined;
    try {
      await waitUntil(
        () => {
          try {
            process.kill(pid, 0);
            return false;
          } catch {
            return true;
          }
        },
        30_000,
        'dockerd to exit',
        50,
      );
      log('dockerd exited');
      duringDown = {
        ready: (await http(t.url, '/ready')).status,
        chat: liveRestore ? (await post(t.url, '/v1/chat/completions', chat('survivor'))).status : 0,
      };
    } finally {
      await run(path.join(here, 'start-dockerd.sh'), [], { timeout: 90_000, env: envWithoutMarkers() }); // the shared engine outlives the run
    }
    log('dockerd answers again');
    expect(duringDown?.ready).toBe(503);
    await waitUntil(async () => (await http(t.url, '/ready')).status === 200, 20_000, '/ready to return to 200', 100);
    record('dockerd restart → /ready 200 again', Date.now() - t0);

    if (liveRestore) {
      // The container kept running; its published port may have been down with the daemon.
      console.log(`[daemon restart] a request while dockerd was down got ${duringDown?.chat}`);
      expect(t.model('survivor').state).toBe('ready');
      expect((await post(t.url, '/v1/chat/completions', chat('survivor'))).status).toBe(200);
      expect((await modelContainers('survivor')).map((x) => x.Id)).toEqual([c.Id]);
      // Still watched: a death after the restart is seen and the next request recovers.
      log(
        `model ${t.model('survivor').state} at ${t.model('survivor').endpoint}; container ${(await docker.getContainer(c.Id).inspect()).NetworkSettings.Ports['8000/tcp']?.[0]?.HostPort}`,
      );
      await docker.getContainer(c.Id).kill();
      await waitUntil(() => t.model('survivor').state === 'stopped', 10_000, 'the killed container to be seen');
      log('kill seen');
    }
    expect((await post(t.url, '/v1/chat/completions', chat('survivor'))).status).toBe(200);
    expect(t.model('survivor').state).toBe('ready');
    expect(await modelContainers('survivor')).toHaveLength(1);
  }, 90_000);
});
