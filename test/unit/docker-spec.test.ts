import { describe, expect, it } from 'vitest';
import { buildContainerSpec, formatUtilization, lastFlagValue } from '../../gateway/runtimes/docker-spec.js';
import { containerName, modelConfigHash } from '../../gateway/runtimes/docker-naming.js';
import type { DockerModelConfig } from '../../gateway/config/types.js';

const model = (over: Partial<DockerModelConfig> = {}): DockerModelConfig => ({
  id: 'qwen2.5-7b',
  runtime: 'docker',
  image: 'vllm/vllm-openai:latest',
  model: 'Qwen/Qwen2.5-7B-Instruct',
  vramGiB: 20,
  sleep: { level: 0, residualGiB: 1, hostRamGiB: 'auto' },
  gpus: 'auto',
  args: [],
  env: {},
  aliases: [],
  maxConcurrent: 50,
  maxQueue: 200,
  ttlSeconds: 1800,
  pinned: false,
  preload: false,
  healthPath: '/health',
  ...over,
});
const docker = { containerPrefix: 'vllm-gw', hfCacheDir: '/home/u/.cache/huggingface', gpuRequests: true };

describe('buildContainerSpec', () => {
  it('puts the gateway flags first, in order, then the model args', () => {
    const spec = buildContainerSpec(
      { model: model({ args: ['--max-model-len', '8192'] }), gpuIndices: [0], gpuMemoryUtilization: 0.14 },
      docker,
    );
    expect(spec.options.Cmd).toEqual([
      '--model',
      'Qwen/Qwen2.5-7B-Instruct',
      '--served-model-name',
      'qwen2.5-7b',
      '--host',
      '0.0.0.0',
      '--port',
      '8000',
      '--gpu-memory-utilization',
      '0.14',
      '--max-model-len',
      '8192',
    ]);
    expect(spec.options.Image).toBe('vllm/vllm-openai:latest');
    expect(spec.options.Entrypoint).toBeUndefined(); // the image's entrypoint is kept
  });

  it('keeps a flag repeated in args after ours, so it wins as in argparse', () => {
    const spec = buildContainerSpec(
      { model: model({ args: ['--gpu-memory-utilization', '0.5', '--host=127.0.0.1'] }), gpuIndices: [0], gpuMemoryUtilization: 0.3 },
      docker,
    );
    const cmd = spec.options.Cmd!;
    expect(lastFlagValue(cmd, '--gpu-memory-utilization')).toBe('0.5');
    expect(lastFlagValue(cmd, '--host')).toBe('127.0.0.1');
    expect(cmd.indexOf('0.3')).toBeLessThan(cmd.indexOf('0.5'));
  });

  it('publishes the port args override to, still on 127.0.0.1', () => {
    const spec = buildContainerSpec({ model: model({ args: ['--port', '9000'] }), gpuIndices: [0], gpuMemoryUtilization: 0.3 }, docker);
    expect(spec.containerPort).toBe(9000);
    expect(spec.options.HostConfig!.PortBindings).toEqual({ '9000/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] });
    expect(spec.options.ExposedPorts).toEqual({ '9000/tcp': {} });
  });

  it('substitutes the four placeholders in args and env (${PORT} is 8000), and nothing else', () => {
    const spec = buildContainerSpec(
      {
        model: model({
          args: ['--port', '${PORT}', '--x', '${MODEL_ID}:${GPU_MEMORY_UTILIZATION}', '--y', '${HOME}'],
          env: { B: '${CUDA_VISIBLE_DEVICES}', A: 'plain', HF_TOKEN: 'tok' },
        }),
        gpuIndices: [2, 3],
        gpuMemoryUtilization: 0.5,
      },
      docker,
    );
    expect(spec.options.Cmd!.slice(10)).toEqual(['--port', '8000', '--x', 'qwen2.5-7b:0.5', '--y', '${HOME}']);
    expect(spec.containerPort).toBe(8000);
    // Env is the model's env only, sorted; GPUs renumbered from 0 inside the container.
    expect(spec.options.Env).toEqual(['A=plain', 'B=0,1', 'HF_TOKEN=tok']);
  });

  it('requests the chosen GPUs through DeviceRequests, or none with gpuRequests: false', () => {
    const withGpus = buildContainerSpec({ model: model(), gpuIndices: [1, 3], gpuMemoryUtilization: 0.3 }, docker);
    expect(withGpus.options.HostConfig!.DeviceRequests).toEqual([{ Driver: '', Count: 0, DeviceIDs: ['1', '3'], Capabilities: [['gpu']] }]);
    expect(withGpus.options.Env).toEqual([]);
    const without = buildContainerSpec(
      { model: model(), gpuIndices: [1, 3], gpuMemoryUtilization: 0.3 },
      { ...docker, gpuRequests: false },
    );
    expect(without.options.HostConfig!.DeviceRequests).toBeUndefined();
    const cvd = buildContainerSpec(
      { model: model({ env: { C: '${CUDA_VISIBLE_DEVICES}' } }), gpuIndices: [1, 3], gpuMemoryUtilization: 0.3 },
      { ...docker, gpuRequests: false },
    );
    expect(cvd.options.Env).toEqual(['C=1,3']);
  });

  it('mounts the HF cache, shares IPC (or sizes /dev/shm), uses docker-init, no restart policy, and labels the container', () => {
    const spec = buildContainerSpec({ model: model(), gpuIndices: [0], gpuMemoryUtilization: 0.3 }, docker);
    const hc = spec.options.HostConfig!;
    expect(hc.Binds).toEqual(['/home/u/.cache/huggingface:/root/.cache/huggingface']);
    expect(hc.IpcMode).toBe('host');
    expect(hc.ShmSize).toBeUndefined();
    expect(hc.Init).toBe(true);
    expect(hc.RestartPolicy).toEqual({ Name: 'no' });
    expect(spec.name).toBe(containerName('vllm-gw', 'qwen2.5-7b'));
    expect(spec.options.name).toBe(spec.name);
    expect(spec.configHash).toBe(modelConfigHash(model(), 0.3));
    expect(spec.options.Labels).toMatchObject({
      'vllm-gateway.managed': 'true',
      'vllm-gateway.prefix': 'vllm-gw',
      'vllm-gateway.model': 'qwen2.5-7b',
      'vllm-gateway.config-hash': spec.configHash,
    });
    const shm = buildContainerSpec({ model: model(), gpuIndices: [0], gpuMemoryUtilization: 0.3 }, docker, { shm: 8 * 2 ** 30 });
    expect(shm.options.HostConfig!.IpcMode).toBeUndefined();
    expect(shm.options.HostConfig!.ShmSize).toBe(8 * 2 ** 30);
  });

  it('formats the utilization without trailing zeros', () => {
    expect(formatUtilization(0.9)).toBe('0.9');
    expect(formatUtilization(0.01)).toBe('0.01');
    expect(formatUtilization(0.83)).toBe('0.83');
    expect(formatUtilization(1)).toBe('1');
  });

  it('placeholders in args and env: the four are filled, others are left alone, $${ is a literal ${', () => {
    const spec = buildContainerSpec(
      {
        model: model({ args: ['--x', '${PORT}/${NOPE}/${MODEL_ID}', '--y', '$${PORT}'], env: { A: '$${MODEL_ID}-${MODEL_ID}' } }),
        gpuIndices: [0],
        gpuMemoryUtilization: 0.3,
      },
      docker,
    );
    const cmd = spec.options.Cmd as string[];
    expect(cmd[cmd.indexOf('--x') + 1]).toBe(`8000/\${NOPE}/${model().id}`);
    expect(cmd[cmd.indexOf('--y') + 1]).toBe('${PORT}');
    expect(spec.options.Env).toContain(`A=\${MODEL_ID}-${model().id}`);
  });

  it('sleep.level > 0: --enable-sleep-mode after the args and VLLM_SERVER_DEV_MODE=1, both in the config hash', () => {
    const off = model({ args: ['--max-model-len', '8192'], env: { A: 'x' } });
    const on = model({
      args: ['--max-model-len', '8192'],
      env: { A: 'x', VLLM_SERVER_DEV_MODE: '0' },
      sleep: { level: 1, residualGiB: 1, hostRamGiB: 'auto' },
    });
    const offSpec = buildContainerSpec({ model: off, gpuIndices: [0], gpuMemoryUtilization: 0.14 }, docker);
    const onSpec = buildContainerSpec({ model: on, gpuIndices: [0], gpuMemoryUtilization: 0.14 }, docker);
    expect(offSpec.options.Cmd).not.toContain('--enable-sleep-mode');
    expect(offSpec.options.Env).toEqual(['A=x']);
    expect(onSpec.options.Cmd!.slice(-3)).toEqual(['--max-model-len', '8192', '--enable-sleep-mode']);
    expect(onSpec.options.Env).toEqual(['A=x', 'VLLM_SERVER_DEV_MODE=1']); // the gateway's value wins
    expect(onSpec.configHash).not.toBe(offSpec.configHash);
    expect(onSpec.options.Labels!['vllm-gateway.config-hash']).toBe(onSpec.configHash);
    // level 1 and 2 run the same container; the flag already in args is not repeated
    const two = buildContainerSpec(
      { model: { ...on, sleep: { ...on.sleep, level: 2 } }, gpuIndices: [0], gpuMemoryUtilization: 0.14 },
      docker,
    );
    expect(two.configHash).toBe(onSpec.configHash);
    const own = model({ args: ['--enable-sleep-mode'], sleep: { level: 1, residualGiB: 1, hostRamGiB: 'auto' } });
    const ownCmd = buildContainerSpec({ model: own, gpuIndices: [0], gpuMemoryUtilization: 0.14 }, docker).options.Cmd!;
    expect(ownCmd.filter((a) => a === '--enable-sleep-mode')).toHaveLength(1);
  });
});
