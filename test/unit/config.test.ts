import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { substituteModelPlaceholders } from '../../gateway/config/env-substitution.js';
import { parseConfigText } from '../../gateway/config/load-config.js';
import type { DockerModelConfig, GatewayConfig, ProcessModelConfig, RemoteModelConfig } from '../../gateway/config/types.js';

const ENV = { HOME: '/home/tester' };

/** Parses `text` and expects no issue. */
function ok(text: string, env: NodeJS.ProcessEnv = ENV): GatewayConfig {
  const { config, issues } = parseConfigText(text, 'test.yaml', env);
  expect(issues).toEqual([]);
  expect(config).not.toBeNull();
  return config!;
}

/** Parses `text` and returns its issues as "path: message" lines; config must be null. */
function bad(text: string, env: NodeJS.ProcessEnv = ENV): string[] {
  const { config, issues } = parseConfigText(text, 'test.yaml', env);
  expect(config).toBeNull();
  expect(issues.length).toBeGreaterThan(0);
  for (const issue of issues) expect(issue.file).toBe('test.yaml');
  return issues.map((i) => `${i.path}: ${i.message}`);
}

/** Expects exactly one issue at `path` whose message matches `message`. */
function badAt(text: string, path: string, message: RegExp, env: NodeJS.ProcessEnv = ENV): void {
  const lines = bad(text, env);
  const at = lines.filter((l) => l.startsWith(`${path}: `));
  expect(at, lines.join('\n')).toHaveLength(1);
  expect(at[0]).toMatch(message);
}

const DOCKER = `
    runtime: docker
    image: vllm/vllm-openai:latest
    model: Qwen/Qwen2.5-1.5B-Instruct
    vramGiB: 8`;

const PROCESS = `
    runtime: process
    command: ["vllm", "serve", "m", "--port", "\${PORT}"]
    vramGiB: 4`;

const REMOTE = `
    runtime: remote
    url: http://127.0.0.1:9000`;

describe('defaults (docs/configuration.md)', () => {
  it('an almost empty file gets every default', () => {
    const config = ok('models: {}\n');
    const { sourcePath, ...rest } = config;
    expect(sourcePath).toBe(resolve('test.yaml'));
    expect(rest).toEqual({
      hosts: [],
      listen: { host: '127.0.0.1', port: 8080, ollamaPort: null },
      auth: { apiKeys: [], keyPriorities: [], adminToken: 'auto', allowedHosts: [], allowedOrigins: [] },
      limits: { maxQueuePerModel: 200, maxConcurrentPerModel: 50, queueTimeoutSeconds: 600, maxBodyBytes: 33554432 },
      retry: { maxAttempts: 3, initialDelaySeconds: 1, backoff: 1.5 },
      timeouts: { connectSeconds: 10, firstByteSeconds: 300, idleSeconds: 300, startSeconds: 900 },
      shutdown: { drainSeconds: 30, stopModels: true },
      scheduling: { swapAfterSeconds: 30, batchSwapAfterSeconds: 300, defaultPriority: 'interactive', sleepHostRamGiB: 'auto' },
      streaming: { progressComments: false },
      gpu: { probe: 'auto', nvidiaSmiPath: 'nvidia-smi', pollSeconds: 1, reserveGiB: 0.5, static: [] },
      docker: {
        socketPath: '/var/run/docker.sock',
        dockerHost: null,
        containerPrefix: 'vllm-gw',
        pull: 'missing',
        hfCacheDir: '/home/tester/.cache/huggingface',
        gpuRequests: true,
      },
      models: [],
    });
  });

  it('empty sections (YAML null) and an empty models map are fine', () => {
    const config = ok('listen:\nauth:\nmodels:\n');
    expect(config.listen.port).toBe(8080);
    expect(config.models).toEqual([]);
  });

  it('resolves each model kind with its defaults, in file order', () => {
    const config = ok(`models:\n  d:${DOCKER}\n  p:${PROCESS}\n  r:${REMOTE}\n`);
    expect(config.models.map((m) => m.id)).toEqual(['d', 'p', 'r']);
    for (const m of config.models) expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
    const common = {
      aliases: [],
      maxConcurrent: 50,
      maxQueue: 200,
      ttlSeconds: 1800,
      pinned: false,
      preload: false,
      healthPath: '/health',
    };
    expect(config.models[0]).toEqual<DockerModelConfig>({
      id: 'd',
      runtime: 'docker',
      image: 'vllm/vllm-openai:latest',
      model: 'Qwen/Qwen2.5-1.5B-Instruct',
      vramGiB: 8,
      sleep: { level: 0, residualGiB: 1, hostRamGiB: 'auto' },
      gpus: 'auto',
      args: [],
      env: {},
      ...common,
    });
    expect(config.models[1]).toEqual<ProcessModelConfig>({
      id: 'p',
      runtime: 'process',
      command: ['vllm', 'serve', 'm', '--port', '${PORT}'],
      vramGiB: 4,
      sleep: { level: 0, residualGiB: 1, hostRamGiB: 'auto' },
      gpus: 'auto',
      args: [],
      env: {},
      ...common,
    });
    expect(config.models[2]).toEqual<RemoteModelConfig>({
      id: 'r',
      runtime: 'remote',
      url: 'http://127.0.0.1:9000',
      apiKey: '',
      scrapeMetrics: false,
      ...common,
    });
  });

  it('maxConcurrent / maxQueue fall back to the limits, a model value wins', () => {
    const config = ok(
      `limits: { maxConcurrentPerModel: 7, maxQueuePerModel: 9 }\nmodels:\n  a:${REMOTE}\n  b:${REMOTE}\n    maxConcurrent: 2\n    maxQueue: 3\n`,
    );
    expect(config.models.map((m) => [m.maxConcurrent, m.maxQueue])).toEqual([
      [7, 9],
      [2, 3],
    ]);
  });

  it('defaults: are merged under every model, only the keys its runtime has; env maps merge', () => {
    const config = ok(`
defaults:
  runtime: docker
  image: vllm/vllm-openai:v0.9
  ttlSeconds: 60
  pinned: true
  gpus: [0]
  env: { HF_TOKEN: t, A: "1" }
models:
  d:
    model: m
    vramGiB: 3
    env: { A: "2" }
  p:${PROCESS}
    ttlSeconds: 0
  r:${REMOTE}
`);
    const [d, p, r] = config.models as [DockerModelConfig, ProcessModelConfig, RemoteModelConfig];
    expect(d).toMatchObject({ runtime: 'docker', image: 'vllm/vllm-openai:v0.9', ttlSeconds: 60, pinned: true, gpus: [0] });
    expect(d.env).toEqual({ HF_TOKEN: 't', A: '2' });
    expect(p).toMatchObject({ runtime: 'process', ttlSeconds: 0, pinned: true, gpus: [0], env: { HF_TOKEN: 't', A: '1' } });
    expect(p).not.toHaveProperty('image');
    expect(r).toMatchObject({ runtime: 'remote', ttlSeconds: 60, pinned: true });
    expect(r).not.toHaveProperty('gpus');
    expect(r).not.toHaveProperty('env');
  });

  it('DOCKER_HOST fills docker.dockerHost; ~ is expanded in hfCacheDir, other paths kept', () => {
    expect(ok('models: {}', { ...ENV, DOCKER_HOST: 'tcp://10.0.0.2:2375' }).docker.dockerHost).toBe('tcp://10.0.0.2:2375');
    expect(ok('docker: { hfCacheDir: "~" }').docker.hfCacheDir).toBe('/home/tester');
    expect(ok('docker: { hfCacheDir: /data/hf }').docker.hfCacheDir).toBe('/data/hf');
  });

  it('numbers in args/env become strings; numeric strings are accepted for numbers', () => {
    const config = ok(
      `listen: { port: "9090" }\nmodels:\n  d:${DOCKER}\n    args: ["--max-model-len", 8192]\n    env: { VLLM_USE_V1: 1 }\n`,
    );
    expect(config.listen.port).toBe(9090);
    const d = config.models[0] as DockerModelConfig;
    expect(d.args).toEqual(['--max-model-len', '8192']);
    expect(d.env).toEqual({ VLLM_USE_V1: '1' });
  });

  it('YAML anchors and merge keys work', () => {
    const config = ok(`
models:
  a: &remote { runtime: remote, url: "http://127.0.0.1:9000", ttlSeconds: 7 }
  b: { <<: *remote, ttlSeconds: 5 }
`);
    expect(config.models.map((m) => [m.id, m.ttlSeconds, (m as RemoteModelConfig).url])).toEqual([
      ['a', 7, 'http://127.0.0.1:9000'],
      ['b', 5, 'http://127.0.0.1:9000'],
    ]);
  });

  it('JSON is valid YAML', () => {
    expect(ok('{"listen": {"port": 0}, "models": {}}').listen.port).toBe(0);
  });

  it('a file name in angle brackets gives no sourcePath', () => {
    expect(parseConfigText('models: {}', '<inline>', ENV).config!.sourcePath).toBeNull();
  });
});

describe('the result is deep-frozen', () => {
  it('no level can be changed', () => {
    const config = ok(`models:\n  d:${DOCKER}\n    args: ["--x"]\n    env: { A: b }\n`);
    const d = config.models[0] as DockerModelConfig;
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => ((config.listen as { port: number }).port = 1)).toThrow(TypeError);
    expect(() => (config.models as unknown[]).push({})).toThrow(TypeError);
    expect(() => d.args.push('--y')).toThrow(TypeError);
    expect(() => (d.env.A = 'c')).toThrow(TypeError);
    expect(() => (config.auth.apiKeys as string[]).push('k')).toThrow(TypeError);
  });
});

describe('YAML problems', () => {
  it('a syntax error says where', () => {
    const lines = bad('listen:\n  port: [1,\nmodels: {}\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^: YAML syntax error at line \d+, column \d+: /);
  });

  it('duplicate keys are an error with their line', () => {
    const lines = bad('listen:\n  port: 1\n  port: 2\n');
    expect(lines.join('\n')).toMatch(/YAML syntax error at line 3, column 3: Map keys must be unique/);
  });

  it('an empty file (or only comments) is an error', () => {
    expect(bad('')).toEqual([': the file is empty: a config needs at least `models: {}`']);
    expect(bad('# nothing\n')[0]).toMatch(/empty/);
  });

  it('the top level must be a mapping', () => {
    expect(bad('- a\n- b\n')[0]).toMatch(/top level must be a mapping.*got a list/);
    expect(bad('hello\n')[0]).toMatch(/got string/);
  });
});

describe('validation rules (each with its key path)', () => {
  it('unknown keys anywhere, with a close valid name', () => {
    badAt('listen: { prot: 1 }', 'listen.prot', /unknown key "prot" \(did you mean "port"\?\)/);
    badAt('lisen: {}', 'lisen', /unknown key "lisen" \(did you mean "listen"\?\)/);
    badAt('gpu: { static: [{ name: a, totalGib: 2 }] }', 'gpu.static.0.totalGib', /did you mean "totalGiB"/);
    badAt(`models:\n  d:${DOCKER}\n    vramGB: 3`, 'models.d.vramGB', /unknown key "vramGB" \(did you mean "vramGiB"\?\)/);
    badAt('defaults: { ttl: 3 }', 'defaults.ttl', /unknown key "ttl"/);
    badAt('whatever: 1', 'whatever', /^whatever: unknown key "whatever"$/);
    badAt(`models:\n  r:${REMOTE}\n    __proto__: { pinned: true }`, 'models.r.__proto__', /unknown key "__proto__"/);
  });

  it('types and ranges', () => {
    badAt('listen: { port: 70000 }', 'listen.port', /<= 65535/);
    badAt('listen: { port: -1 }', 'listen.port', />= 0/);
    badAt('listen: { port: 80.5 }', 'listen.port', /int/);
    badAt('listen: { port: abc }', 'listen.port', /expected number, got string "abc"/);
    badAt('listen: { ollamaPort: 70000 }', 'listen.ollamaPort', /<= 65535/);
    badAt('listen: { port: 11434, ollamaPort: 11434 }', 'listen.ollamaPort', /must differ from listen\.port \(11434\)/);
    expect(ok('listen: { ollamaPort: 11434 }\nmodels: {}\n').listen.ollamaPort).toBe(11434);
    expect(ok('listen: { ollamaPort: "11434" }\nmodels: {}\n').listen.ollamaPort).toBe(11434);
    badAt('limits: { maxQueuePerModel: 0 }', 'limits.maxQueuePerModel', /> 0/);
    badAt('limits: { maxConcurrentPerModel: -3 }', 'limits.maxConcurrentPerModel', /> 0/);
    badAt('limits: { maxBodyBytes: 0 }', 'limits.maxBodyBytes', /> 0/);
    badAt('limits: { queueTimeoutSeconds: 0 }', 'limits.queueTimeoutSeconds', /> 0/);
    badAt('retry: { maxAttempts: 0 }', 'retry.maxAttempts', />= 1/);
    badAt('retry: { backoff: 0.5 }', 'retry.backoff', />= 1/);
    badAt('retry: { initialDelaySeconds: -1 }', 'retry.initialDelaySeconds', />= 0/);
    for (const key of ['connectSeconds', 'firstByteSeconds', 'idleSeconds', 'startSeconds']) {
      badAt(`timeouts: { ${key}: 0 }`, `timeouts.${key}`, /> 0/);
    }
    badAt('gpu: { pollSeconds: 0 }', 'gpu.pollSeconds', /> 0/);
    badAt('gpu: { reserveGiB: -0.1 }', 'gpu.reserveGiB', />= 0/);
    badAt('gpu: { probe: nvml }', 'gpu.probe', /must be "auto" \| "nvidia-smi" \| "static", got string "nvml"/);
    badAt('shutdown: { stopModels: maybe }', 'shutdown.stopModels', /expected boolean/);
    badAt('docker: { pull: sometimes }', 'docker.pull', /"never" \| "missing" \| "always"/);
    badAt('listen: []', 'listen', /expected object, got a list/);
  });

  it('values of credentials are not echoed in messages', () => {
    expect(bad('auth: { adminToken: 123456789 }')).toEqual(['auth.adminToken: expected string, got number']);
    expect(bad('auth: { apiKeys: [987654321] }')).toEqual([
      'auth.apiKeys.0: must be a key (a non-empty string) or { key, priority: "interactive" | "batch" }',
    ]);
    expect(bad('auth: { apiKeys: [{ key: 987654321, priority: batch }] }').join()).not.toMatch(/987654321/);
  });

  it('priority lanes: apiKeys entries {key, priority} beside plain keys; defaultPriority and batchSwapAfterSeconds', () => {
    const config = ok(
      'auth: { apiKeys: [k-plain, { key: k-eval, priority: batch }, { key: k-ide, priority: interactive }] }\n' +
        'scheduling: { defaultPriority: batch, batchSwapAfterSeconds: 120 }\n',
    );
    expect(config.auth.apiKeys).toEqual(['k-plain', 'k-eval', 'k-ide']); // every key lets its client in
    expect(config.auth.keyPriorities).toEqual([
      { key: 'k-eval', priority: 'batch' },
      { key: 'k-ide', priority: 'interactive' },
    ]);
    expect([config.scheduling.defaultPriority, config.scheduling.batchSwapAfterSeconds]).toEqual(['batch', 120]);
    badAt('auth: { apiKeys: [{ key: k1, priority: urgent }] }', 'auth.apiKeys.0', /priority: "interactive" \| "batch"/);
    badAt('auth: { apiKeys: [{ key: k1, prio: batch }] }', 'auth.apiKeys.0', /priority: "interactive" \| "batch"/);
    // A key with a class listed again (plain, or with another class) would get one of them silently.
    badAt('auth: { apiKeys: [k1, { key: k1, priority: batch }] }', 'auth.apiKeys.1', /auth\.apiKeys\.0/);
    badAt(
      'auth: { apiKeys: [{ key: k1, priority: batch }, k2, { key: k1, priority: interactive }] }',
      'auth.apiKeys.2',
      /auth\.apiKeys\.0/,
    );
    expect(bad('auth: { apiKeys: [k-secret-1, { key: k-secret-1, priority: batch }] }').join()).not.toMatch(/k-secret-1/);
    expect(ok('auth: { apiKeys: [k1, k1, { key: k2, priority: batch }] }').auth.apiKeys).toEqual(['k1', 'k1', 'k2']);
    badAt('scheduling: { defaultPriority: low }', 'scheduling.defaultPriority', /"interactive" \| "batch"/);
    badAt('scheduling: { batchSwapAfterSeconds: -1 }', 'scheduling.batchSwapAfterSeconds', />= 0/);
  });

  it('listen.port 0 is allowed (tests)', () => {
    expect(ok('listen: { port: 0 }').listen.port).toBe(0);
  });

  it('runtime is required, and one of docker | process | remote', () => {
    badAt('models:\n  a:\n    vramGiB: 3', 'models.a.runtime', /required: docker \| process \| remote/);
    badAt('models:\n  a:\n    runtime: podman', 'models.a.runtime', /must be docker \| process \| remote, got "podman"/);
    badAt('models:\n  a: 3', 'models.a', /must be a mapping/);
  });

  it('vramGiB: required > 0 for docker and process, forbidden for remote', () => {
    badAt('models:\n  d:\n    runtime: docker\n    image: i\n    model: m', 'models.d.vramGiB', /required/);
    badAt('models:\n  p:\n    runtime: process\n    command: [x]', 'models.p.vramGiB', /required/);
    badAt(`models:\n  d:${DOCKER.replace('vramGiB: 8', 'vramGiB: 0')}`, 'models.d.vramGiB', /> 0/);
    badAt(`models:\n  r:${REMOTE}\n    vramGiB: 4`, 'models.r.vramGiB', /not allowed for runtime "remote"/);
  });

  it('docker needs image and model', () => {
    const lines = bad('models:\n  d:\n    runtime: docker\n    vramGiB: 2');
    expect(lines).toContain('models.d.image: required (string)');
    expect(lines).toContain('models.d.model: required (string)');
    badAt(`models:\n  d:${DOCKER.replace('image: vllm/vllm-openai:latest', 'image: ""')}`, 'models.d.image', /must not be empty/);
    badAt(`models:\n  d:${DOCKER}\n    command: [x]`, 'models.d.command', /not allowed for runtime "docker" \(only for process models\)/);
  });

  it('process needs a non-empty command array', () => {
    badAt('models:\n  p:\n    runtime: process\n    vramGiB: 1', 'models.p.command', /required/);
    badAt('models:\n  p:\n    runtime: process\n    vramGiB: 1\n    command: []', 'models.p.command', /non-empty list/);
    badAt('models:\n  p:\n    runtime: process\n    vramGiB: 1\n    command: "vllm serve"', 'models.p.command', /expected array/);
    badAt(`models:\n  p:${PROCESS}\n    image: x`, 'models.p.image', /not allowed for runtime "process"/);
  });

  it('remote needs an http(s) url and no image or command', () => {
    badAt('models:\n  r:\n    runtime: remote', 'models.r.url', /required/);
    badAt('models:\n  r:\n    runtime: remote\n    url: ftp://x', 'models.r.url', /http:\/\/ or https:\/\//);
    badAt('models:\n  r:\n    runtime: remote\n    url: not a url', 'models.r.url', /http:\/\/ or https:\/\//);
    badAt(`models:\n  r:${REMOTE}\n    image: x`, 'models.r.image', /not allowed for runtime "remote"/);
    badAt(`models:\n  r:${REMOTE}\n    command: [x]`, 'models.r.command', /not allowed for runtime "remote"/);
    expect(ok(`models:\n  r:\n    runtime: remote\n    url: https://api.example.com/`).models[0]).toMatchObject({
      url: 'https://api.example.com/',
    });
  });

  it('gpus: "auto" or a non-empty list of distinct non-negative integers', () => {
    expect((ok(`models:\n  d:${DOCKER}\n    gpus: [1, 0]`).models[0] as DockerModelConfig).gpus).toEqual([1, 0]);
    badAt(`models:\n  d:${DOCKER}\n    gpus: []`, 'models.d.gpus', /at least one GPU index/);
    badAt(`models:\n  d:${DOCKER}\n    gpus: [0, 0]`, 'models.d.gpus', /distinct/);
    badAt(`models:\n  d:${DOCKER}\n    gpus: some`, 'models.d.gpus', /"auto" or a non-empty list/);
    const negative = bad(`models:\n  d:${DOCKER}\n    gpus: [-1]`);
    expect(negative).toEqual(['models.d.gpus.0: GPU indices are ≥ 0']);
  });

  it('alias collisions', () => {
    badAt(`models:\n  a:${REMOTE}\n    aliases: [b]\n  b:${REMOTE}`, 'models.a.aliases.0', /"b" is the id of another model/);
    badAt(
      `models:\n  a:${REMOTE}\n    aliases: [x]\n  b:${REMOTE}\n    aliases: [y, x]`,
      'models.b.aliases.1',
      /already an alias of model "a"/,
    );
    badAt(`models:\n  a:${REMOTE}\n    aliases: [a]`, 'models.a.aliases.0', /own id/);
    badAt(`models:\n  a:${REMOTE}\n    aliases: [x, x]`, 'models.a.aliases.1', /already listed/);
  });

  it('model ids and aliases: 1-128 characters without whitespace or control characters', () => {
    badAt(`models:\n  "has space":${REMOTE}`, 'models.has space', /whitespace/);
    badAt(`models:\n  "tab\\there":${REMOTE}`, 'models.tab\there', /whitespace or control/);
    badAt(`models:\n  "bell\\a":${REMOTE}`, 'models.bell\u0007', /control/);
    badAt(`models:\n  ${'x'.repeat(129)}:${REMOTE}`, `models.${'x'.repeat(129)}`, /at most 128/);
    badAt(`models:\n  "":${REMOTE}`, 'models.', /must not be empty/);
    badAt(`models:\n  a:${REMOTE}\n    aliases: ["two words"]`, 'models.a.aliases.0', /whitespace/);
    expect(ok(`models:\n  ${'x'.repeat(128)}:${REMOTE}\n  "Qwen/Qwen2.5-7B:q4":${REMOTE}`).models).toHaveLength(2);
  });

  it('a non-loopback listen.host needs auth.apiKeys', () => {
    for (const host of ['0.0.0.0', '192.168.1.5', '::', 'example.com']) {
      badAt(`listen: { host: "${host}" }`, 'listen.host', /not a loopback address.*set auth\.apiKeys/);
    }
    for (const host of ['127.0.0.1', '127.5.6.7', '::1', '[::1]', 'localhost', 'LOCALHOST']) {
      expect(ok(`listen: { host: "${host}" }`).listen.host).toBe(host);
    }
    expect(ok('listen: { host: 0.0.0.0 }\nauth: { apiKeys: [k1] }').auth.apiKeys).toEqual(['k1']);
    badAt('auth: { apiKeys: [""] }', 'auth.apiKeys.0', /must not be empty/);
  });

  it('containerPrefix must match ^[a-z0-9][a-z0-9_.-]*$', () => {
    expect(ok('docker: { containerPrefix: my.gw_2-x }').docker.containerPrefix).toBe('my.gw_2-x');
    badAt('docker: { containerPrefix: My-GW }', 'docker.containerPrefix', /\^\[a-z0-9\]/);
    badAt('docker: { containerPrefix: -gw }', 'docker.containerPrefix', /\^\[a-z0-9\]/);
  });

  it('gpu.probe static needs gpu.static', () => {
    badAt('gpu: { probe: static }', 'gpu.static', /list at least one GPU/);
    const config = ok('gpu: { probe: static, static: [{ name: Simulated GPU, totalGiB: 24 }] }');
    expect(config.gpu.static).toEqual([{ name: 'Simulated GPU', totalGiB: 24 }]);
    badAt('gpu: { static: [{ name: x, totalGiB: 0 }] }', 'gpu.static.0.totalGiB', /> 0/);
  });

  it('other model fields', () => {
    badAt(`models:\n  r:${REMOTE}\n    healthPath: health`, 'models.r.healthPath', /start with "\/"/);
    badAt(`models:\n  r:${REMOTE}\n    ttlSeconds: -5`, 'models.r.ttlSeconds', />= 0/);
    badAt(`models:\n  r:${REMOTE}\n    maxConcurrent: 0`, 'models.r.maxConcurrent', /> 0/);
    badAt(`models:\n  d:${DOCKER}\n    env: { "BAD-NAME": x }`, 'models.d.env.BAD-NAME', /invalid key/);
    badAt(`models:\n  d:${DOCKER}\n    pinned: 3`, 'models.d.pinned', /expected boolean/);
    badAt('models: [a, b]', 'models', /expected record, got a list/);
  });

  it('a problem in a value taken from defaults: is reported once, at defaults', () => {
    const lines = bad(`defaults:\n  gpus: [0, 0]\nmodels:\n  a:${DOCKER}\n  b:${PROCESS}\n`);
    expect(lines).toEqual(['defaults.gpus: GPU indices must be distinct']);
  });

  it('several errors are reported together', () => {
    const lines = bad(`
listen: { port: 99999 }
retry: { maxAttempts: 0, backof: 2 }
gpu: { probe: static }
models:
  a:
    runtime: docker
    image: i
  b:${REMOTE}
    aliases: [a]
    vramGiB: 3
`);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^listen\.port: /),
        expect.stringMatching(/^retry\.maxAttempts: /),
        expect.stringMatching(/^retry\.backof: unknown key "backof" \(did you mean "backoff"\?\)/),
        expect.stringMatching(/^gpu\.static: /),
        'models.a.model: required (string)',
        'models.a.vramGiB: required (number)',
        expect.stringMatching(/^models\.b\.vramGiB: not allowed/),
        'models.b.aliases.0: alias "a" is the id of another model',
      ]),
    );
    expect(lines).toHaveLength(8);
  });

  it('a non-loopback host without API keys is reported even when listen has another error', () => {
    const lines = bad(`listen: { host: 0.0.0.0, prot: 8080 }\n`);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^listen\.prot: unknown key/),
        expect.stringMatching(/^listen\.host: "0\.0\.0\.0" is not a loopback address/),
      ]),
    );
    expect(lines).toHaveLength(2);
  });
});

describe('${VAR} substitution', () => {
  it('replaces variables in any string, with :-defaults', () => {
    const config = ok(`listen: { host: "\${HOST}" }\nauth: { apiKeys: ["k-\${KEY}-\${MISSING:-dflt}", "\${EMPTY:-fallback}"] }\n`, {
      ...ENV,
      HOST: '127.0.0.2',
      KEY: 'abc',
      EMPTY: '',
    });
    expect(config.listen.host).toBe('127.0.0.2');
    expect(config.auth.apiKeys).toEqual(['k-abc-dflt', 'fallback']);
  });

  it('substituted numbers are accepted where numbers go', () => {
    expect(ok('listen: { port: "${P:-9000}" }').listen.port).toBe(9000);
    expect(ok('listen: { port: "${P}" }', { ...ENV, P: '1234' }).listen.port).toBe(1234);
  });

  it('an unset variable is an issue at its key path (reported once)', () => {
    expect(bad('listen: { port: "${NOPE}" }')).toEqual([
      'listen.port: environment variable NOPE is not set (write ${NOPE:-default} to give a default)',
    ]);
    badAt(`models:\n  r:${REMOTE}\n    apiKey: "\${REMOTE_KEY}"`, 'models.r.apiKey', /REMOTE_KEY is not set/);
  });

  it('a set but empty variable is used as is', () => {
    expect(ok(`models:\n  r:${REMOTE}\n    apiKey: "\${K}"`, { ...ENV, K: '' }).models[0]).toMatchObject({ apiKey: '' });
    expect(ok(`models:\n  r:${REMOTE}\n    scrapeMetrics: true`).models[0]).toMatchObject({ scrapeMetrics: true });
  });

  it('$${ is a literal ${', () => {
    expect(ok('auth: { adminToken: "a$${B}c" }').auth.adminToken).toBe('a${B}c');
    // Scanned left to right: "$" then the escape "$${".
    expect(ok('auth: { adminToken: "$$${X}" }', { ...ENV, X: 'x' }).auth.adminToken).toBe('$${X}');
    expect(ok('auth: { adminToken: "$${X} ${X}" }', { ...ENV, X: 'x' }).auth.adminToken).toBe('${X} x');
  });

  it('a malformed reference is an issue', () => {
    badAt('auth: { adminToken: "${not valid}" }', 'auth.adminToken', /malformed reference/);
    badAt('auth: { adminToken: "abc${" }', 'auth.adminToken', /malformed reference/);
  });

  it('values are substituted after parsing: they cannot inject YAML', () => {
    const config = ok('auth: { adminToken: "${T}" }', { ...ENV, T: 'x"\n  apiKeys: [evil]\nlisten: {host: 0.0.0.0}' });
    expect(config.auth.adminToken).toBe('x"\n  apiKeys: [evil]\nlisten: {host: 0.0.0.0}');
    expect(config.auth.apiKeys).toEqual([]);
    expect(config.listen.host).toBe('127.0.0.1');
  });

  it('keeps the four gateway placeholders in command, args and env, also from defaults:', () => {
    const env = { ...ENV, PORT: '1', MODEL_ID: '2', GPU_MEMORY_UTILIZATION: '3', CUDA_VISIBLE_DEVICES: '4', TOKEN: 'tok' };
    const config = ok(
      `
defaults:
  args: ["--served-model-name", "\${MODEL_ID}"]
  env: { CVD: "\${CUDA_VISIBLE_DEVICES}" }
models:
  p:
    runtime: process
    vramGiB: 1
    command: ["srv", "--port", "\${PORT}", "--gmu", "\${GPU_MEMORY_UTILIZATION}", "--token", "\${TOKEN}", "$\${PORT}"]
    env: { P: "\${PORT}", T: "\${TOKEN}" }
  r:
    runtime: remote
    url: "http://127.0.0.1:\${PORT}"
    apiKey: "\${MODEL_ID}"
`,
      env,
    );
    const p = config.models[0] as ProcessModelConfig;
    expect(p.command).toEqual(['srv', '--port', '${PORT}', '--gmu', '${GPU_MEMORY_UTILIZATION}', '--token', 'tok', '$${PORT}']);
    expect(p.args).toEqual(['--served-model-name', '${MODEL_ID}']);
    expect(p.env).toEqual({ CVD: '${CUDA_VISIBLE_DEVICES}', P: '${PORT}', T: 'tok' });
    // Outside command/args/env they are ordinary variables.
    expect(config.models[1]).toMatchObject({ url: 'http://127.0.0.1:1', apiKey: '2' });
  });

  it('an unset placeholder-named variable is no error in a model command', () => {
    expect(ok(`models:\n  p:${PROCESS}`).models[0]).toMatchObject({ command: ['vllm', 'serve', 'm', '--port', '${PORT}'] });
  });

  it('substituteModelPlaceholders fills the placeholders and resolves $${', () => {
    const values = { PORT: '8000', MODEL_ID: 'qwen', GPU_MEMORY_UTILIZATION: '0.42', CUDA_VISIBLE_DEVICES: '0,1' };
    expect(substituteModelPlaceholders('--port=${PORT} ${MODEL_ID} ${GPU_MEMORY_UTILIZATION} ${CUDA_VISIBLE_DEVICES}', values)).toBe(
      '--port=8000 qwen 0.42 0,1',
    );
    expect(substituteModelPlaceholders('$${PORT} ${OTHER} $x', values)).toBe('${PORT} ${OTHER} $x');
  });

  it('an environment value containing ${ stays literal through both passes', () => {
    const config = ok(`models:\n  p:${PROCESS}\n    env: { A: "\${V}" }`, { ...ENV, V: 'a${PORT}b$${c' });
    const p = config.models[0] as ProcessModelConfig;
    const values = { PORT: '8000', MODEL_ID: 'p', GPU_MEMORY_UTILIZATION: '0.5', CUDA_VISIBLE_DEVICES: '0' };
    expect(substituteModelPlaceholders(p.env.A, values)).toBe('a${PORT}b$${c');
    expect(substituteModelPlaceholders(p.command[4], values)).toBe('8000');
  });
});

describe('environment overrides win over the file', () => {
  const FILE = `
limits: { maxQueuePerModel: 1, maxConcurrentPerModel: 1 }
retry: { maxAttempts: 1, initialDelaySeconds: 1, backoff: 1 }
timeouts: { firstByteSeconds: 1, connectSeconds: 1 }
defaults: { ttlSeconds: 1 }
docker: { containerPrefix: file }
models:
  r:${REMOTE}
  s:${REMOTE}
    ttlSeconds: 5
`;

  it('every variable sets its key', () => {
    const config = ok(FILE, {
      ...ENV,
      GATEWAY_MAX_QUEUE_SIZE: '300',
      GATEWAY_MAX_CONCURRENT: '20',
      GATEWAY_MAX_RETRIES: '5',
      GATEWAY_RETRY_DELAY: '0.25',
      GATEWAY_RETRY_BACKOFF: '2',
      GATEWAY_REQUEST_TIMEOUT: '120',
      GATEWAY_CONNECT_TIMEOUT: '3.5',
      VLLM_INACTIVITY_TIMEOUT: '0',
      VLLM_CONTAINER_PREFIX: 'env-prefix',
    });
    expect(config.limits).toMatchObject({ maxQueuePerModel: 300, maxConcurrentPerModel: 20 });
    expect(config.retry).toEqual({ maxAttempts: 5, initialDelaySeconds: 0.25, backoff: 2 });
    expect(config.timeouts).toMatchObject({ firstByteSeconds: 120, connectSeconds: 3.5 });
    expect(config.docker.containerPrefix).toBe('env-prefix');
    // Resolved model values follow: defaults.ttlSeconds and the limits, unless the model sets its own.
    expect(config.models.map((m) => [m.ttlSeconds, m.maxQueue, m.maxConcurrent])).toEqual([
      [0, 300, 20],
      [5, 300, 20],
    ]);
  });

  it('the file applies without them, and an empty variable counts as unset', () => {
    const config = ok(FILE, { ...ENV, GATEWAY_MAX_QUEUE_SIZE: '' });
    expect(config.limits.maxQueuePerModel).toBe(1);
    expect(config.docker.containerPrefix).toBe('file');
  });

  it('a bad value is an issue at env.NAME', () => {
    const cases: Array<[string, string]> = [
      ['GATEWAY_MAX_QUEUE_SIZE', 'abc'],
      ['GATEWAY_MAX_CONCURRENT', '0'],
      ['GATEWAY_MAX_RETRIES', '1.5'],
      ['GATEWAY_RETRY_DELAY', '-1'],
      ['GATEWAY_RETRY_BACKOFF', '0.9'],
      ['GATEWAY_REQUEST_TIMEOUT', '0'],
      ['GATEWAY_CONNECT_TIMEOUT', 'soon'],
      ['VLLM_INACTIVITY_TIMEOUT', '-5'],
      ['VLLM_CONTAINER_PREFIX', 'Bad Prefix'],
    ];
    for (const [name, value] of cases) {
      badAt(FILE, `env.${name}`, new RegExp(`^env\\.${name}: "${value}" is not valid for `), { ...ENV, [name]: value });
    }
  });

  it('bad env values are reported together with file issues', () => {
    const lines = bad('listen: { port: -1 }', { ...ENV, GATEWAY_MAX_RETRIES: 'x', GATEWAY_RETRY_BACKOFF: 'y' });
    expect(lines.map((l) => l.split(':')[0]).sort()).toEqual(['env.GATEWAY_MAX_RETRIES', 'env.GATEWAY_RETRY_BACKOFF', 'listen.port']);
  });
});

describe('sleep mode, scheduling and streaming (docs/configuration.md)', () => {
  it('sleep: defaults, values, and `defaults:` merged key by key', () => {
    const config = ok(
      `scheduling: { sleepHostRamGiB: 48 }\nstreaming: { progressComments: true }\ndefaults:\n  sleep: { level: 1, residualGiB: 0.75 }\nmodels:\n  d:${DOCKER}\n    sleep: { hostRamGiB: 6 }\n  e:${DOCKER}\n    sleep: { level: 2 }\n  f:${DOCKER}\n    sleep:\n`,
    );
    expect(config.scheduling).toEqual({
      swapAfterSeconds: 30,
      batchSwapAfterSeconds: 300,
      defaultPriority: 'interactive',
      sleepHostRamGiB: 48,
    });
    expect(config.streaming).toEqual({ progressComments: true });
    const [d, e, f] = config.models as DockerModelConfig[];
    expect(d.sleep).toEqual({ level: 1, residualGiB: 0.75, hostRamGiB: 6 });
    expect(e.sleep).toEqual({ level: 2, residualGiB: 0.75, hostRamGiB: 'auto' });
    // `sleep:` written empty is YAML null: the model's own (empty) map, on top of the defaults' one
    expect(f.sleep).toEqual({ level: 1, residualGiB: 0.75, hostRamGiB: 'auto' });
  });

  it('scheduling.swapAfterSeconds: 0 (never displace busy models) and fractions are accepted', () => {
    expect(ok(`scheduling: { swapAfterSeconds: 0 }\nmodels: {}\n`).scheduling.swapAfterSeconds).toBe(0);
    expect(ok(`scheduling: { swapAfterSeconds: 2.5 }\nmodels: {}\n`).scheduling.swapAfterSeconds).toBe(2.5);
  });

  it('bad sleep values, unknown sleep keys, and sleep on a remote model', () => {
    badAt(`models:\n  d:${DOCKER}\n    sleep: { level: 3 }\n`, 'models.d.sleep.level', /must be 0 \(off\), 1 .* or 2/);
    badAt(`models:\n  d:${DOCKER}\n    sleep: { level: 1, residualGiB: -1 }\n`, 'models.d.sleep.residualGiB', /0/);
    badAt(`models:\n  d:${DOCKER}\n    sleep: { hostRamGiB: lots }\n`, 'models.d.sleep.hostRamGiB', /"auto" \(= vramGiB\) or a number/);
    badAt(`models:\n  d:${DOCKER}\n    sleep: { lvl: 1 }\n`, 'models.d.sleep.lvl', /unknown key "lvl" \(did you mean "level"\?\)/);
    badAt(`models:\n  r:${REMOTE}\n    sleep: { level: 1 }\n`, 'models.r.sleep', /not allowed for runtime "remote"/);
    badAt(`scheduling: { sleepHostRamGiB: half }\nmodels: {}\n`, 'scheduling.sleepHostRamGiB', /"auto" \(half of the host's RAM\)/);
    badAt(`scheduling: { swapAfterSeconds: -1 }\nmodels: {}\n`, 'scheduling.swapAfterSeconds', /0/);
    badAt(`scheduling: { swapAfterSeconds: soon }\nmodels: {}\n`, 'scheduling.swapAfterSeconds', /number/);
    badAt(`streaming: { progressComments: sometimes }\nmodels: {}\n`, 'streaming.progressComments', /bool/i);
  });

  it('a residue at least the budget is an error, at the key that set it', () => {
    badAt(`models:\n  d:${DOCKER}\n    sleep: { level: 1, residualGiB: 8 }\n`, 'models.d.sleep.residualGiB', /less than vramGiB \(8\)/);
    badAt(
      `defaults:\n  sleep: { residualGiB: 9 }\nmodels:\n  d:${DOCKER}\n    sleep: { level: 1 }\n`,
      'defaults.sleep.residualGiB',
      /less than vramGiB/,
    );
    ok(`models:\n  d:${DOCKER}\n    sleep: { level: 0, residualGiB: 8 }\n`); // off: not checked
  });

  it('a process model that sleeps must pass --enable-sleep-mode itself', () => {
    badAt(
      `models:\n  p:${PROCESS}\n    sleep: { level: 1 }\n`,
      'models.p.sleep.level',
      /needs vLLM's --enable-sleep-mode in the model's command or args/,
    );
    const withArg = ok(`models:\n  p:${PROCESS}\n    args: ["--enable-sleep-mode"]\n    sleep: { level: 1 }\n`);
    expect((withArg.models[0] as ProcessModelConfig).sleep.level).toBe(1);
    ok(
      `models:\n  p:\n    runtime: process\n    command: ["vllm", "serve", "m", "--enable_sleep_mode=true"]\n    vramGiB: 4\n    sleep: { level: 2 }\n`,
    );
    badAt(
      `models:\n  p:\n    runtime: process\n    command: ["vllm", "serve", "m", "--enable-sleep-mode=false"]\n    vramGiB: 4\n    sleep: { level: 2 }\n`,
      'models.p.sleep.level',
      /--enable-sleep-mode/,
    );
    ok(`models:\n  p:${PROCESS}\n    sleep: { level: 0 }\n`); // off: the flag is not needed
  });
});
