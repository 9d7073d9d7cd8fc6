// DockerRuntime's decisions against a fake engine, only for paths a real engine cannot be made to
// take on demand here: a container dead before start() returns, the kernel's OOM kill, a create
// that races another for the name, image pulls (no registry). Everything else runs against the
// real engine in test/docker/docker-runtime.test.ts.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { DockerRuntime, demuxDockerLogs, dockerConnection, exitInfoFromState } from '../../gateway/runtimes/docker-runtime.js';
import { containerName } from '../../gateway/runtimes/docker-naming.js';
import { GatewayError } from '../../gateway/errors.js';
import type { DockerModelConfig, GatewayConfig } from '../../gateway/config/types.js';
import type { ModelProgress } from '../../gateway/status-types.js';
import type { StartRequest } from '../../gateway/runtimes/runtime.js';

const pullFixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/docker-pull-stream.jsonl');

function mux(...frames: Array<[1 | 2, string]>): Buffer {
  return Buffer.concat(
    frames.map(([stream, text]) => {
      const payload = Buffer.from(text);
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(payload.length, 4);
      return Buffer.concat([header, payload]);
    }),
  );
}

function apiError(statusCode: number, message: string): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode}) x - ${message} `), { statusCode, json: { message } });
}

interface FakeContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  running: boolean;
  exitCode: number;
  oom: boolean;
  log: Buffer;
}

class FakeEngine {
  containers = new Map<string, FakeContainer>();
  images = new Set<string>(['img:1']);
  removed: string[] = [];
  pullStream: (() => NodeJS.ReadableStream) | null = null;
  createErrors: Error[] = [];
  onStart: ((c: FakeContainer) => void) | null = null;
  seq = 0;

  find(idOrName: string): FakeContainer | undefined {
    return this.containers.get(idOrName) ?? [...this.containers.values()].find((c) => c.name === idOrName);
  }

  container(idOrName: string) {
    const need = () => {
      const c = this.find(idOrName);
      if (!c) throw apiError(404, `No such container: ${idOrName}`);
      return c;
    };
    return {
      id: idOrName,
      inspect: async () => {
        const c = need();
        return {
          Id: c.id,
          Name: `/${c.name}`,
          Config: { Labels: c.labels },
          State: {
            Running: c.running,
            Status: c.running ? 'running' : 'exited',
            ExitCode: c.exitCode,
            OOMKilled: c.oom,
            Pid: c.running ? 4242 : 0,
          },
          NetworkSettings: { Ports: c.running ? { '8000/tcp': [{ HostIp: '127.0.0.1', HostPort: '49153' }] } : {} },
        };
      },
      start: async () => {
        const c = need();
        c.running = true;
        this.onStart?.(c);
      },
      stop: async () => {
        const c = need();
        if (!c.running) throw apiError(304, 'container already stopped');
        c.running = false;
        c.exitCode = 0;
      },
      remove: async () => {
        const c = need();
        this.containers.delete(c.id);
        this.removed.push(c.name);
      },
      logs: async () => need().log,
      wait: () => new Promise(() => {}),
      top: async () => ({ Titles: ['PID'], Processes: [['4242'], ['4243']] }),
    };
  }

  asDocker(): Dockerode {
    return {
      createContainer: async (opts: Dockerode.ContainerCreateOptions) => {
        const err = this.createErrors.shift();
        if (err) throw err;
        if (this.find(opts.name!)) throw apiError(409, `Conflict. The container name "/${opts.name}" is already in use`);
        const id = `c${++this.seq}`.padEnd(64, '0');
        this.containers.set(id, {
          id,
          name: opts.name!,
          labels: opts.Labels ?? {},
          running: false,
          exitCode: 0,
          oom: false,
          log: Buffer.alloc(0),
        });
        return this.container(id);
      },
      getContainer: (id: string) => this.container(id),
      getImage: (name: string) => ({
        inspect: async () => {
          if (!this.images.has(name)) throw apiError(404, `no such image: ${name}`);
          return { Id: name };
        },
      }),
      pull: async (name: string) => {
        if (!this.pullStream)
          throw apiError(500, 'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host');
        const s = this.pullStream();
        s.on('end', () => this.images.add(name));
        return s;
      },
      listContainers: async () => [],
      getEvents: async () => new PassThrough(),
      ping: async () => 'OK',
    } as unknown as Dockerode;
  }
}

const config = (over: Partial<GatewayConfig['docker']> = {}): GatewayConfig['docker'] => ({
  socketPath: '/var/run/docker.sock',
  dockerHost: null,
  containerPrefix: 'vllm-gw',
  pull: 'never',
  hfCacheDir: '/tmp/vllm-gw-unit-hf',
  gpuRequests: false,
  ...over,
});
const model = (over: Partial<DockerModelConfig> = {}): DockerModelConfig => ({
  id: 'm1',
  runtime: 'docker',
  image: 'img:1',
  model: 'org/m',
  vramGiB: 1,
  gpus: 'auto',
  args: [],
  env: {},
  aliases: [],
  maxConcurrent: 1,
  maxQueue: 1,
  ttlSeconds: 0,
  pinned: false,
  preload: false,
  healthPath: '/health',
  ...over,
});
function request(m: DockerModelConfig) {
  const controller = new AbortController();
  const phases: string[] = [];
  const progress: ModelProgress[] = [];
  const req: StartRequest = {
    model: m,
    gpuIndices: [0],
    gpuMemoryUtilization: 0.5,
    signal: controller.signal,
    onPhase: (p) => phases.push(p),
    onProgress: (p) => progress.push(p),
  };
  return { req, phases, progress, controller };
}
function setup(over: Partial<GatewayConfig['docker']> = {}, host?: string) {
  const engine = new FakeEngine();
  const rt = new DockerRuntime(config(over), { docker: engine.asDocker(), progressIntervalMs: 0, host });
  return { engine, rt };
}

describe('DockerRuntime (fake engine)', () => {
  it('rejects with model_start_failed holding the log tail when the container is dead before start() returns, and removes it', async () => {
    const { engine, rt } = setup();
    engine.onStart = (c) => {
      c.running = false;
      c.exitCode = 1;
      c.log = mux([1, 'INFO loading weights\n'], [2, 'torch.OutOfMemoryError: CUDA out of memory\n']);
    };
    const err = (await rt.start(request(model()).req).catch((e: unknown) => e)) as GatewayError;
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.code).toBe('model_start_failed');
    expect(err.message).toContain('the container exited with code 1 while starting');
    expect(err.message).toContain('INFO loading weights\ntorch.OutOfMemoryError: CUDA out of memory');
    expect(engine.removed).toEqual([containerName('vllm-gw', 'm1')]);
    await rt.close();
  });

  it('says OOM when the kernel killed it during start', async () => {
    const { engine, rt } = setup();
    engine.onStart = (c) => {
      c.running = false;
      c.exitCode = 137;
      c.oom = true;
    };
    const err = (await rt.start(request(model()).req).catch((e: unknown) => e)) as GatewayError;
    expect(err.message).toContain('killed (OOM)');
    await rt.close();
  });

  it('removes a leftover managed container of the same name, and retries a create that hit a name conflict', async () => {
    const { engine, rt } = setup();
    const name = containerName('vllm-gw', 'm1');
    engine.containers.set('old', {
      id: 'old',
      name,
      labels: { 'vllm-gateway.managed': 'true', 'vllm-gateway.prefix': 'vllm-gw' },
      running: true,
      exitCode: 0,
      oom: false,
      log: Buffer.alloc(0),
    });
    engine.createErrors.push(apiError(409, `Conflict. The container name "/${name}" is already in use by container "x"`));
    const inst = await rt.start(request(model()).req);
    expect(inst.endpoint).toBe('http://127.0.0.1:49153');
    expect(engine.removed).toEqual([name]);
    expect([...engine.containers.values()].map((c) => c.name)).toEqual([name]);
    expect(await inst.pids()).toEqual([4242, 4243]);
    await rt.close();
  });

  for (const host of [undefined, 'gpu-a']) {
    it(`pulls a missing image (pull: missing), reporting phase "pulling" and progress up to 100, then starts${host ? ' (on a remote host: the progress says where)' : ''}`, async () => {
      const { engine, rt } = setup({ pull: 'missing' }, host);
      const raw = readFileSync(pullFixture);
      engine.pullStream = () => {
        const s = new PassThrough();
        let i = 0;
        const tick = () => {
          if (i >= raw.length) return void s.end();
          s.write(raw.subarray(i, i + 300));
          i += 300;
          setImmediate(tick);
        };
        setImmediate(tick);
        return s;
      };
      const r = request(model({ image: 'vllm/vllm-openai:v0.6.3' }));
      const inst = await rt.start(r.req);
      expect(inst.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:/);
      expect(r.phases).toEqual(['pulling', 'starting']);
      const percents = r.progress.map((p) => p.percent).filter((p): p is number => p !== null);
      expect(percents.at(-1)).toBe(100);
      expect(percents.length).toBeGreaterThan(3);
      for (let i = 1; i < percents.length; i++) expect(percents[i]).toBeGreaterThanOrEqual(percents[i - 1]);
      expect(r.progress.every((p) => p.phase === 'pulling')).toBe(true);
      expect(r.progress.every((p) => p.message.endsWith(' (on gpu-a)'))).toBe(host === 'gpu-a');
      await rt.close();
    });
  }

  it('a pull failure is model_start_failed naming the image; an aborted pull stops at once', async () => {
    const { engine, rt } = setup({ pull: 'missing' });
    const r = request(model({ image: 'vllm/vllm-openai:latest' }));
    const err = (await rt.start(r.req).catch((e: unknown) => e)) as GatewayError;
    expect(err.code).toBe('model_start_failed');
    expect(err.message).toContain('pulling image vllm/vllm-openai:latest failed');
    expect(err.message).toContain('the registry cannot be reached');

    engine.pullStream = () => new PassThrough(); // never ends
    const r2 = request(model({ image: 'vllm/vllm-openai:latest' }));
    const p = rt.start(r2.req).catch((e: unknown) => e);
    await new Promise((res) => setTimeout(res, 20));
    r2.controller.abort(new Error('unloaded'));
    const aborted = (await p) as GatewayError;
    expect(aborted.code).toBe('model_start_failed');
    expect(aborted.message).toContain('start abandoned (unloaded)');
    expect(engine.containers.size).toBe(0);
    await rt.close();
  });

  it('pull: always falls back to the local image when the registry cannot be reached', async () => {
    const { rt } = setup({ pull: 'always' });
    const r = request(model());
    const inst = await rt.start(r.req);
    expect(r.phases).toEqual(['pulling', 'starting']);
    expect(inst.endpoint).toBe('http://127.0.0.1:49153');
    await rt.close();
  });
});

describe('docker runtime helpers', () => {
  it('dockerConnection: DOCKER_HOST (unix:// or tcp://) wins over socketPath', () => {
    expect(dockerConnection({ socketPath: '/var/run/docker.sock', dockerHost: null }).options).toEqual({
      socketPath: '/var/run/docker.sock',
    });
    expect(dockerConnection({ socketPath: '/x', dockerHost: 'unix:///run/user/1000/docker.sock' }).options).toEqual({
      socketPath: '/run/user/1000/docker.sock',
    });
    const tcp = dockerConnection({ socketPath: '/x', dockerHost: 'tcp://10.0.0.5:2375' });
    expect(tcp.options).toEqual({ host: '10.0.0.5', port: '2375', protocol: 'http' });
    expect(tcp.where).toBe('tcp://10.0.0.5:2375');
    expect(dockerConnection({ socketPath: '/x', dockerHost: 'tcp://h:2376' }).options).toMatchObject({ protocol: 'https' });
    expect(() => dockerConnection({ socketPath: '/x', dockerHost: 'ssh://u@h' })).toThrow(/not supported/);
  });

  it('demuxDockerLogs merges stdout and stderr frames in order, and passes raw TTY output through', () => {
    expect(demuxDockerLogs(mux([1, 'a\n'], [2, 'b\n'], [1, 'c']))).toBe('a\nb\nc');
    expect(demuxDockerLogs(Buffer.from('plain text output\n'))).toBe('plain text output\n');
    expect(demuxDockerLogs(Buffer.alloc(0))).toBe('');
  });

  it('exitInfoFromState names the reason', () => {
    expect(exitInfoFromState({ ExitCode: 137, OOMKilled: true }, { requested: false, sawOom: false })).toMatchObject({
      oomKilled: true,
      reason: 'killed (OOM)',
      signal: 'SIGKILL',
    });
    expect(exitInfoFromState({ ExitCode: 137 }, { requested: false, sawOom: false }).reason).toBe('killed by SIGKILL (exit code 137)');
    expect(exitInfoFromState({ ExitCode: 1 }, { requested: false, sawOom: false }).reason).toBe('exited with code 1');
    expect(exitInfoFromState({ ExitCode: 0 }, { requested: true, sawOom: false })).toMatchObject({
      requested: true,
      reason: 'stopped (exit code 0)',
    });
    expect(exitInfoFromState(null, { requested: false, sawOom: false }).reason).toBe('container removed');
    expect(exitInfoFromState(null, { requested: false, sawOom: true }).oomKilled).toBe(true);
  });
});
