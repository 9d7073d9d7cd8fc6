import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { configHash, containerLabels, containerName, modelConfigHash } from '../../gateway/runtimes/docker-naming.js';
import type { DockerModelConfig } from '../../gateway/config/types.js';

const h6 = (id: string) => createHash('sha256').update(id).digest('hex').slice(0, 6);

describe('containerName', () => {
  it('keeps an id that is already lower-case [a-z0-9-] as it is, without a suffix', () => {
    expect(containerName('vllm-gw', 'mistral')).toBe('vllm-gw-mistral');
    expect(containerName('vllm-gw', 'llama-3-8b')).toBe('vllm-gw-llama-3-8b');
  });

  it('lower-cases and collapses runs of other characters into one "-", then appends 6 hex of the id hash', () => {
    expect(containerName('vllm-gw', 'Qwen/Qwen2.5-7B')).toBe(`vllm-gw-qwen-qwen2-5-7b-${h6('Qwen/Qwen2.5-7B')}`);
    expect(containerName('vllm-gw', 'qwen2.5-7b')).toBe(`vllm-gw-qwen2-5-7b-${h6('qwen2.5-7b')}`);
    expect(containerName('p', 'a//__b')).toBe(`p-a-b-${h6('a//__b')}`);
    expect(containerName('p', 'UPPER')).toBe(`p-upper-${h6('UPPER')}`);
  });

  it('never gives two distinct ids the same name', () => {
    const ids = ['qwen-qwen2-5-7b', 'Qwen/Qwen2.5-7B', 'qwen/qwen2.5-7b', 'qwen_qwen2_5_7b'];
    expect(new Set(ids.map((id) => containerName('vllm-gw', id))).size).toBe(ids.length);
  });

  it('is a valid Docker container name', () => {
    for (const id of ['Qwen/Qwen2.5-7B', 'a b c', 'é', '../../x', 'x:y@z']) {
      expect(containerName('vllm-gw', id)).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/);
    }
  });
});

const base = {
  image: 'vllm/vllm-openai:latest',
  model: 'Qwen/Qwen2.5-7B-Instruct',
  args: ['--max-model-len', '8192'],
  env: { HF_TOKEN: 'x', A: 'b' },
  vramGiB: 20,
  gpus: 'auto' as const,
  gpuMemoryUtilization: 0.25,
};

describe('configHash', () => {
  it('is stable, 16 hex digits, and independent of env key order', () => {
    const a = configHash(base);
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(configHash({ ...base, env: { A: 'b', HF_TOKEN: 'x' } })).toBe(a);
  });

  it('changes with each input the contract names', () => {
    const a = configHash(base);
    const variants = [
      { image: 'vllm/vllm-openai:v0.6.3' },
      { model: 'other/model' },
      { args: ['--max-model-len', '4096'] },
      { args: ['--max-model-len', '8192', '--enforce-eager'] },
      { env: { HF_TOKEN: 'y', A: 'b' } },
      { vramGiB: 21 },
      { gpus: [0] },
      { gpuMemoryUtilization: 0.26 },
    ];
    const hashes = variants.map((v) => configHash({ ...base, ...v }));
    for (const h of hashes) expect(h).not.toBe(a);
    expect(new Set(hashes).size).toBe(hashes.length);
  });

  it('modelConfigHash reads those fields from a model config and ignores the rest', () => {
    const model = {
      id: 'qwen',
      runtime: 'docker',
      image: base.image,
      model: base.model,
      args: base.args,
      env: base.env,
      vramGiB: 20,
      gpus: 'auto',
      aliases: ['q'],
      maxConcurrent: 1,
      maxQueue: 1,
      ttlSeconds: 5,
      pinned: false,
      preload: false,
      healthPath: '/health',
    } as DockerModelConfig;
    expect(modelConfigHash(model, 0.25)).toBe(configHash(base));
    expect(modelConfigHash({ ...model, aliases: [], ttlSeconds: 0, maxConcurrent: 9 }, 0.25)).toBe(configHash(base));
  });
});

describe('containerLabels', () => {
  it('carries the four contract labels', () => {
    expect(containerLabels({ prefix: 'vllm-gw', modelId: 'Qwen/Qwen2.5-7B', configHash: 'abc' })).toEqual({
      'vllm-gateway.managed': 'true',
      'vllm-gateway.prefix': 'vllm-gw',
      'vllm-gateway.model': 'Qwen/Qwen2.5-7B',
      'vllm-gateway.config-hash': 'abc',
    });
  });
});
