// reconcileModels (adoption.ts): what each runtime is told about its configured models when it
// looks for servers to adopt: where a fresh start would put each, and the memory share it would get.

import { describe, expect, it } from 'vitest';
import { reconcileModels } from '../../gateway/scheduler/adoption.js';
import { ModelEntry } from '../../gateway/scheduler/model-entry.js';
import type { PlacementGpu } from '../../gateway/scheduler/placement.js';
import { configFrom, fakeModel } from './scheduler-fakes.js';

const GPUS: PlacementGpu[] = [
  { index: 0, totalMiB: 24_576, reservedMiB: 0, otherMiB: 0 },
  { index: 1, totalMiB: 49_152, reservedMiB: 0, otherMiB: 0 },
];

function entries(models: string): ModelEntry[] {
  return configFrom(models).models.map((m) => new ModelEntry(m, () => {}, 0));
}

describe('reconcileModels', () => {
  const models = entries(
    [
      fakeModel('fixed', 18, 'gpus: [1]'),
      fakeModel('auto', 6),
      '  other: { runtime: docker, image: "vllm/vllm-openai:v0.11.0", model: "Qwen/Qwen3-0.6B", vramGiB: 4 }',
    ].join('\n'),
  );

  it("lists only the runtime's models, each on its configured GPUs with its share of the smallest", () => {
    const list = reconcileModels(models, 'process', GPUS);
    expect(list.map((m) => [m.model.id, m.gpuIndices, m.gpuMemoryUtilization])).toEqual([
      ['fixed', [1], 0.37],
      ['auto', [0], 0.25],
    ]);
    expect(reconcileModels(models, 'docker', GPUS).map((m) => [m.model.id, m.gpuIndices, m.gpuMemoryUtilization])).toEqual([
      ['other', [0], 0.16],
    ]);
  });

  it('gives the share on other GPUs for a gpus: auto server found elsewhere', () => {
    const auto = reconcileModels(models, 'process', GPUS).find((m) => m.model.id === 'auto')!;
    expect(auto.utilizationOn!([1])).toBe(0.12);
    expect(auto.utilizationOn!([0, 1])).toBe(0.25);
  });

  it('without any GPU reading: GPU 0 and vLLM’s default share', () => {
    const list = reconcileModels(models, 'process', []);
    expect(list.map((m) => [m.model.id, m.gpuIndices, m.gpuMemoryUtilization])).toEqual([
      ['fixed', [1], 0.9],
      ['auto', [0], 0.9],
    ]);
  });
});
