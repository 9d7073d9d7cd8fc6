// DockerRuntime against the real Docker engine, with the mock vLLM image built locally
// (test/docker/build-mock-image.mjs). Tests in this file run one after the other; the daemon
// restart comes last.
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../gateway/runtimes/docker-runtime.js';
import { containerName, modelConfigHash } from '../../gateway/runtimes/docker-naming.js';
import type { Instance } from '../../gateway/runtimes/runtime.js';
import { GatewayError } from '../../gateway/errors.js';
import { dockerAvailability, restartableDockerd, suiteName } from './docker-available.js';
import {
  MOCK_IMAGE,
  containersOfPrefix,
  dockerConfig,
  exists,
  mockModel,
  removePrefix,
  startRequest,
  streamChat,
  uniquePrefix,
  waitFor,
  waitHealthy,
  within,
} from './helpers.js';
// @ts-expect-error: plain ESM helper without types
import { buildMockImage } from './build-mock-image.mjs';
import { envWithoutMarkers } from '../lifecycle/run-marker.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const avail = await dockerAvailability();
const docker = avail.docker;
const figures: Record<string, number[]> = {};
const record = (k: string, v: number) => (figures[k] ??= []).push(v);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe.skipIf(!avail.available)(suiteName('DockerRuntime (real engine)', avail), () => {
  const prefix = uniquePrefix('rt');
  const otherPrefix = uniquePrefix('other');
  const runtimes: DockerRuntime[] = [];
  const newRuntime = (p = prefix, over: Parameters<typeof dockerConfig>[1] = {}) => {
    const rt = new DockerRuntime(dockerConfig(p, over), { eventsInitialDelayMs: 100, eventsMaxDelayMs: 2000 });
    runtimes.push(rt);
    return rt;
  };

  beforeAll(async () => {
    await buildMockImage({ tag: MOCK_IMAGE });
  }, 120_000);

  afterAll(async () => {
    for (const rt of runtimes) await rt.close();
    await removePrefix(docker, prefix);
    await removePrefix(docker, otherPrefix);
    const summary = Object.fromEntries(
      Object.entries(figures).map(([k, xs]) => [k, { n: xs.length, medianMs: median(xs), minMs: Math.min(...xs), maxMs: Math.max(...xs) }]),
    );
    console.log(`[docker figures] ${JSON.stringify(summary)}`);
  }, 60_000);

  it('health() is ok with a daemon, and says how to start Docker without one', async () => {
    expect(await newRuntime().health()).toEqual({ ok: true, reason: null });
    const missing = newRuntime(prefix, { socketPath: '/nonexistent/docker.sock', dockerHost: null });
    const h = await missing.health();
    expect(h.ok).toBe(false);
    expect(h.reason).toContain('Docker is not running');
    expect(h.reason).toContain('sudo systemctl start docker');
  });

  it('DOCKER_HOST as unix:// wins over socketPath', async () => {
    const rt = newRuntime(prefix, { socketPath: '/nonexistent/docker.sock', dockerHost: 'unix:///var/run/docker.sock' });
    expect(await rt.health()).toEqual({ ok: true, reason: null });
  });

  it('GPU requests on an engine without the NVIDIA toolkit fail the start saying how to install it', async (ctx) => {
    const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
    if (info.Runtimes && 'nvidia' in info.Runtimes) {
      ctx.skip('this engine has the NVIDIA runtime: a GPU request would not fail here');
      return;
    }
    const rt = newRuntime(prefix, { gpuRequests: true });
    const err = (await rt.start(startRequest(mockModel('gpu-please'), { gpuIndices: [0] })).catch((e: unknown) => e)) as GatewayError;
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.code).toBe('model_start_failed');
    expect(err.message).toContain('NVIDIA Container Toolkit');
    expect(await exists(docker, containerName(prefix, 'gpu-please'))).toBe(false);
  });

  it('starts a container that answers /health and streams a chat completion through its endpoint', async () => {
    const rt = newRuntime();
    const model = mockModel('Qwen/Qwen2.5-7B');
    const req = startRequest(model);
    const t0 = Date.now();
    const inst = await rt.start(req);
    const tStarted = Date.now() - t0;
    await waitHealthy(inst.endpoint);
    record('start() resolve', tStarted);
    record('create → health 200', Date.now() - t0);
    expect(req.phases).toEqual(['starting']);
    expect(inst.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const chat = await streamChat(inst.endpoint, model.id);
    expect(chat.status).toBe(200);
    expect(chat.done).toBe(true);
    expect(chat.chunks).toBeGreaterThan(2);
    expect(chat.text.length).toBeGreaterThan(0);
    const pids = await inst.pids();
    const info = await docker.getContainer(containerName(prefix, model.id)).inspect();
    expect(pids).toContain(info.State.Pid);
    await inst.stop(5000);
  });

  it('creates the container the contract describes (name, labels, hash, command, env, ports on 127.0.0.1)', async () => {
    const rt = newRuntime();
    const model = mockModel('spec-check', {
      args: ['--max-model-len', '4096', '--served-model-name', 'spec-check', '--port', '${PORT}'],
      env: { HF_TOKEN: 'secret-ish', SERVED: '${MODEL_ID}@${PORT}' },
    });
    const inst = await rt.start(startRequest(model, { util: 0.42, gpuIndices: [1] }));
    await waitHealthy(inst.endpoint);
    // Found by its labels, not by the name under test.
    const found = (await containersOfPrefix(docker, prefix)).filter((x) => x.Labels['vllm-gateway.model'] === 'spec-check');
    expect(found).toHaveLength(1);
    const info = await docker.getContainer(found[0]!.Id).inspect();
    expect(info.Name).toBe(`/${prefix}-spec-check`);
    expect(info.Config.Labels).toMatchObject({
      'vllm-gateway.managed': 'true',
      'vllm-gateway.prefix': prefix,
      'vllm-gateway.model': 'spec-check',
      'vllm-gateway.config-hash': modelConfigHash(model, 0.42),
    });
    expect(info.Config.Cmd).toEqual([
      '--model',
      'facebook/opt-125m',
      '--served-model-name',
      'spec-check',
      '--host',
      '0.0.0.0',
      '--port',
      '8000',
      '--gpu-memory-utilization',
      '0.42',
      '--max-model-len',
      '4096',
      '--served-model-name',
      'spec-check',
      '--port',
      '8000',
    ]);
    expect(info.Config.Entrypoint).toEqual(['/usr/local/bin/node', '/app/mock-vllm.mjs']);
    // Only the model's env (plus whatever the image itself sets: this image sets nothing).
    expect(info.Config.Env.filter((e) => !e.startsWith('PATH='))).toEqual(['HF_TOKEN=secret-ish', 'SERVED=spec-check@8000']);
    const bindings = info.HostConfig.PortBindings as Record<string, Array<{ HostIp: string; HostPort: string }>>;
    expect(bindings['8000/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: '' }]);
    const ports = info.NetworkSettings.Ports as Record<string, Array<{ HostIp: string; HostPort: string }>>;
    expect(ports['8000/tcp'].every((b) => b.HostIp === '127.0.0.1')).toBe(true);
    expect(inst.endpoint).toBe(`http://127.0.0.1:${ports['8000/tcp'][0].HostPort}`);
    expect(info.HostConfig.RestartPolicy?.Name).toBe('no');
    expect(info.HostConfig.IpcMode).toBe('host');
    expect(info.HostConfig.Init).toBe(true);
    expect(info.HostConfig.DeviceRequests ?? []).toEqual([]);
    expect(info.HostConfig.Binds).toEqual([`${dockerConfig(prefix).hfCacheDir}:/root/.cache/huggingface`]);
    await inst.stop(5000);
  });

  it('a server that fails while starting: exited settles with its exit code, the output is kept, the container removed', async () => {
    const rt = newRuntime();
    // The failure comes 1.5 s after the process starts, so start() has resolved by then: the
    // lifecycle sees `exited` and reads logs() (a container dead before start() returns is the
    // unit test's case, see test/unit/docker-runtime.test.ts).
    const model = mockModel('fails', {
      args: ['--mock-start-delay-ms', '1500', '--mock-fail-at-start', 'CUDA out of memory: tried to allocate 20 GiB'],
    });
    const inst = await rt.start(startRequest(model));
    const exit = await inst.exited;
    expect(exit).toMatchObject({ code: 1, requested: false, oomKilled: false });
    expect(exit.reason).toContain('exited with code 1');
    expect(await inst.logs(40)).toContain('CUDA out of memory: tried to allocate 20 GiB');
    await waitFor('removal of the failed container', async () => !(await exists(docker, containerName(prefix, 'fails'))));
  });

  it('reports a container that dies while serving (docker kill): exited settles with the reason, container removed, logs kept', async () => {
    const rt = newRuntime();
    const inst = await rt.start(startRequest(mockModel('killed')));
    await waitHealthy(inst.endpoint);
    const name = containerName(prefix, 'killed');
    const t0 = Date.now();
    await docker.getContainer(name).kill();
    const exit = await within(inst.exited, 5000);
    record('docker kill → exited settles', Date.now() - t0);
    expect(exit).toMatchObject({ code: 137, signal: 'SIGKILL', oomKilled: false, requested: false });
    expect(exit.reason).toContain('SIGKILL');
    await waitFor('removal of the dead container', async () => !(await exists(docker, name)));
    expect(await inst.logs(100)).toContain('Uvicorn running on http://0.0.0.0:8000');
    expect(await inst.pids()).toEqual([]);
  });

  it("docker kill mid-stream: the client's stream ends in an error (no [DONE]) and exited settles", async () => {
    const rt = newRuntime();
    const inst = await rt.start(startRequest(mockModel('midstream', { args: ['--mock-token-delay-ms', '200', '--mock-tokens', '50'] })));
    await waitHealthy(inst.endpoint);
    const res = await fetch(`${inst.endpoint}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'midstream', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    const first = await reader.read();
    text += Buffer.from(first.value ?? []).toString();
    await docker.getContainer(containerName(prefix, 'midstream')).kill();
    let failure: unknown = null;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
      }
    } catch (err) {
      failure = err;
    }
    // The chunked body ends without its last chunk: an error for the client, never a clean end nor [DONE].
    expect(failure).toMatchObject({ name: 'TypeError', message: 'terminated' });
    expect(text).not.toContain('[DONE]');
    expect(text).toContain('data: ');
    expect(await within(inst.exited, 5000)).toMatchObject({ code: 137, signal: 'SIGKILL', requested: false });
  });

  it('stop() stops and removes the container, is idempotent, and its logs survive the removal', async () => {
    const rt = newRuntime();
    const inst = await rt.start(startRequest(mockModel('stopme')));
    await waitHealthy(inst.endpoint);
    const name = containerName(prefix, 'stopme');
    const t0 = Date.now();
    await Promise.all([inst.stop(10_000), inst.stop(10_000)]);
    record('stop + remove', Date.now() - t0);
    expect(await exists(docker, name)).toBe(false);
    const exit = await inst.exited;
    expect(exit.requested).toBe(true);
    expect(exit.code).toBe(0); // the mock exits 0 on SIGTERM
    const logs = await inst.logs(5);
    expect(logs).toContain('Finished server process');
    expect(logs.split('\n').length).toBeLessThanOrEqual(5);
    await inst.stop(1000); // again, after removal: no error
  });

  it('starts and stops the same model five times in a row: each start healthy, each stop leaves no container', async () => {
    const rt = newRuntime();
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      const inst = await rt.start(startRequest(mockModel('bench')));
      record('start() resolve', Date.now() - t0);
      await waitHealthy(inst.endpoint);
      record('create → health 200', Date.now() - t0);
      const t1 = Date.now();
      await inst.stop(10_000);
      record('stop + remove', Date.now() - t1);
      expect(await inst.exited).toMatchObject({ requested: true, code: 0 });
      expect(await exists(docker, containerName(prefix, 'bench'))).toBe(false);
    }
  }, 60_000);

  it('serialises concurrent starts of one model: one container', async () => {
    const rt = newRuntime();
    const model = mockModel('twice');
    const [a, b, c] = await Promise.all([rt.start(startRequest(model)), rt.start(startRequest(model)), rt.start(startRequest(model))]);
    expect(b).toBe(a);
    expect(c).toBe(a);
    const list = (await containersOfPrefix(docker, prefix)).filter((x) => x.Labels['vllm-gateway.model'] === 'twice');
    expect(list).toHaveLength(1);
    await a.stop(5000);
  });

  it('pull: never with a missing image fails with model_start_failed saying so, and creates nothing', async () => {
    const rt = newRuntime(prefix, { pull: 'never' });
    const req = startRequest(mockModel('noimage', { image: 'vllm-gw-test/does-not-exist:1' }));
    const err = await rt.start(req).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('model_start_failed');
    expect((err as GatewayError).message).toMatch(/vllm-gw-test\/does-not-exist:1 is not on this machine.*"never"/);
    expect(req.phases).toEqual([]);
    expect(await exists(docker, containerName(prefix, 'noimage'))).toBe(false);
  });

  it('pull: missing with an unreachable registry fails with model_start_failed after entering "pulling"', async () => {
    const rt = newRuntime(prefix, { pull: 'missing' });
    const req = startRequest(mockModel('unreachable', { image: '127.0.0.1:1/vllm-gw/nope:latest' }));
    const err = await rt.start(req).catch((e: unknown) => e);
    expect((err as GatewayError).code).toBe('model_start_failed');
    expect((err as GatewayError).message).toContain('pulling image 127.0.0.1:1/vllm-gw/nope:latest failed');
    expect(req.phases).toEqual(['pulling']);
    expect(req.progress[0]).toMatchObject({ phase: 'pulling' });
    expect(await exists(docker, containerName(prefix, 'unreachable'))).toBe(false);
  }, 30_000);

  it('replaces a stale container of the same name left by an earlier run', async () => {
    const rt1 = newRuntime();
    const model = mockModel('stale');
    const first = await rt1.start(startRequest(model));
    await rt1.close(); // forget it, as a killed gateway would
    const rt2 = newRuntime();
    const second = await rt2.start(startRequest(model));
    await waitHealthy(second.endpoint);
    expect(second).not.toBe(first);
    const list = (await containersOfPrefix(docker, prefix)).filter((x) => x.Labels['vllm-gateway.model'] === 'stale');
    expect(list).toHaveLength(1);
    await second.stop(5000);
  });

  it('refuses to remove a container with its name that it does not manage, and leaves it alone', async () => {
    const rt = newRuntime();
    const name = containerName(prefix, 'squatted');
    // Someone else's container, no gateway labels (labelled with this test's prefix only so cleanup finds it).
    const theirs = await docker.createContainer({ name, Image: MOCK_IMAGE, Labels: { 'vllm-gateway.prefix': prefix } });
    const err = (await rt.start(startRequest(mockModel('squatted'))).catch((e: unknown) => e)) as GatewayError;
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.code).toBe('model_start_failed');
    expect(err.message).toContain('that the gateway does not manage');
    expect((await docker.getContainer(name).inspect()).Id).toBe(theirs.id);
    await theirs.remove({ force: true });
  });

  it('reconcile adopts matching running containers, removes the others of its prefix, leaves another prefix alone', async () => {
    const old = newRuntime();
    const keep = mockModel('keep');
    const changed = mockModel('changed');
    const gone = mockModel('gone');
    const keepInst = await old.start(startRequest(keep, { util: 0.3, gpuIndices: [1] }));
    // Started on a larger GPU 2, with that GPU's smaller memory share.
    const wide = mockModel('wide');
    await old.start(startRequest(wide, { util: 0.15, gpuIndices: [2] }));
    await old.start(startRequest(changed, { util: 0.3 }));
    await old.start(startRequest(gone, { util: 0.3 }));
    // A managed container of this prefix that is not running, with a matching hash.
    const stopped = mockModel('stopped-one');
    const stoppedInst = await old.start(startRequest(stopped, { util: 0.3 }));
    await docker.getContainer(containerName(prefix, 'stopped-one')).stop({ t: 0 });
    const other = newRuntime(otherPrefix);
    const otherInst = await other.start(startRequest(mockModel('keep'), { util: 0.3 }));
    await waitHealthy(keepInst.endpoint);
    await old.close(); // the old gateway is gone without stopping anything
    void stoppedInst;

    const fresh = newRuntime();
    const adopted = await fresh.reconcile([
      { model: keep, gpuIndices: [0], gpuMemoryUtilization: 0.3 },
      // Compared with the share on the GPUs the container has, not on the first GPU.
      { model: wide, gpuIndices: [0], gpuMemoryUtilization: 0.3, utilizationOn: (on) => (on.includes(2) ? 0.15 : 0.3) },
      { model: { ...changed, args: ['--max-model-len', '1024'] }, gpuIndices: [0], gpuMemoryUtilization: 0.3 },
      { model: stopped, gpuIndices: [0], gpuMemoryUtilization: 0.3 },
    ]);
    expect([...adopted.keys()].sort()).toEqual(['keep', 'wide']);
    expect((adopted.get('wide') as Instance).gpuIndices).toEqual([2]);
    await adopted.get('wide')!.stop(2000);
    const inst = adopted.get('keep') as Instance;
    // Placement may pick another GPU for `gpus: auto` now; the container says which it has.
    expect((inst as Instance & { gpuIndices: number[] | null }).gpuIndices).toEqual([1]);
    expect(inst.endpoint).toBe(keepInst.endpoint);
    await waitHealthy(inst.endpoint, 2000);
    const mine = await containersOfPrefix(docker, prefix);
    expect(mine.map((c) => c.Labels['vllm-gateway.model'])).toEqual(['keep']); // wide was stopped above
    const theirs = await containersOfPrefix(docker, otherPrefix);
    expect(theirs).toHaveLength(1);
    expect(theirs[0].State).toBe('running');

    // The adopted instance is watched like any other.
    await docker.getContainer(containerName(prefix, 'keep')).kill();
    const exit = await within(inst.exited, 5000);
    expect(exit).not.toBe('pending');
    await otherInst.stop(2000);
  }, 60_000);

  it('follows the event stream across a daemon restart', async (ctx) => {
    const dockerd = restartableDockerd(); // only a daemon the tests started, never the system's
    if (dockerd.skip !== null) {
      ctx.skip(dockerd.skip);
      return;
    }
    const rt = newRuntime();
    const inst = await rt.start(startRequest(mockModel('survivor')));
    await waitHealthy(inst.endpoint);
    await waitFor('event stream connected', () => rt.eventStream.connected);
    const liveRestore = Boolean(((await docker.info()) as { LiveRestoreEnabled?: boolean }).LiveRestoreEnabled);

    const pid = dockerd.pid;
    const t0 = Date.now();
    process.kill(pid, 'SIGTERM');
    try {
      await waitFor(
        'dockerd to exit',
        () => {
          try {
            process.kill(pid, 0);
            return false;
          } catch {
            return true;
          }
        },
        30_000,
      );
      await waitFor('event stream to notice', () => !rt.eventStream.connected, 10_000);
    } finally {
      await run(path.join(here, 'start-dockerd.sh'), [], { timeout: 90_000, env: envWithoutMarkers() }); // the shared engine outlives the run
    }
    await waitFor('event stream to reconnect', () => rt.eventStream.connected && rt.eventStream.reconnects >= 1, 20_000);
    record('dockerd restart → events reconnected', Date.now() - t0);

    if (liveRestore) {
      // The container kept running; a death after the restart must still be seen.
      expect(await within(inst.exited, 300)).toBe('pending');
      await waitHealthy(inst.endpoint, 5000);
      await docker.getContainer(containerName(prefix, 'survivor')).kill();
      const exit = await within(inst.exited, 5000);
      expect(exit).not.toBe('pending');
      if (exit !== 'pending') expect(exit.requested).toBe(false);
    } else {
      // Without live-restore the daemon stopped the container on its way down.
      const exit = await within(inst.exited, 10_000);
      expect(exit).not.toBe('pending');
    }
  }, 120_000);
});
