// Placement across hosts: host, then GPU; never across hosts; the model's order of preference.
import { describe, expect, it } from 'vitest';
import { HostGpuIds, HOST_STRIDE } from '../../gateway/hosts/host-gpus.js';
import { planOnHosts } from '../../gateway/hosts/host-placement.js';
import type { PlacedModel, PlacementGpu } from '../../gateway/scheduler/placement.js';

const ids = new HostGpuIds(['gpu-a', 'gpu-b']);
const gpu = (host: string, i: number, totalGiB: number): PlacementGpu => ({
  index: ids.id(host, i),
  totalMiB: totalGiB * 1024,
  reservedMiB: 0,
  otherMiB: 0,
});
const holder = (id: string, gpus: number[], gib: number, over: Partial<PlacedModel> = {}): PlacedModel => ({
  id,
  gpus,
  budgetMiB: gib * 1024,
  lastUsedAt: 0,
  busy: false,
  pinned: false,
  evictable: true,
  ...over,
});
const req = (gib: number, gpus: 'auto' | number[] = 'auto') => ({ id: 'new', budgetMiB: gib * 1024, gpus });

describe('host GPU ids', () => {
  it('encode host and index, local first', () => {
    expect(ids.id('local', 1)).toBe(1);
    expect(ids.id('gpu-b', 3)).toBe(2 * HOST_STRIDE + 3);
    expect(ids.of(1003)).toEqual({ host: 'gpu-a', index: 3 });
    expect(ids.hostsFor({})).toEqual(['local', 'gpu-a', 'gpu-b']);
    expect(ids.hostsFor({ hosts: ['gpu-b'] })).toEqual(['gpu-b']);
  });
});

describe('placement across hosts', () => {
  const gpus = [gpu('local', 0, 24), gpu('gpu-a', 0, 80), gpu('gpu-a', 1, 80), gpu('gpu-b', 0, 48)];

  it('takes the first host in the model order where it fits without displacing anything', () => {
    expect(planOnHosts(ids, ['local', 'gpu-a', 'gpu-b'], gpus, 0, [], req(16))).toMatchObject({ kind: 'fit', gpuIndices: [0], evict: [] });
    // Too big for local's 24 GiB: the next host, and there the GPU with the most room.
    const placed = [holder('x', [1000], 10)];
    expect(planOnHosts(ids, ['local', 'gpu-a', 'gpu-b'], gpus, 0, placed, req(40))).toMatchObject({
      kind: 'fit',
      gpuIndices: [1001],
      evict: [],
    });
    expect(planOnHosts(ids, ['gpu-b', 'gpu-a'], gpus, 0, placed, req(40))).toMatchObject({ kind: 'fit', gpuIndices: [2000] });
  });

  it('prefers a host with room to evicting on an earlier one', () => {
    const placed = [holder('idle-local', [0], 20)];
    expect(planOnHosts(ids, ['local', 'gpu-b'], gpus, 0, placed, req(16))).toMatchObject({ kind: 'fit', gpuIndices: [2000], evict: [] });
  });

  it('evicts on the preferred host when no host has room', () => {
    const placed = [holder('idle-local', [0], 20), holder('idle-b', [2000], 40)];
    expect(planOnHosts(ids, ['local', 'gpu-b'], gpus, 0, placed, req(16))).toMatchObject({
      kind: 'fit',
      gpuIndices: [0],
      evict: ['idle-local'],
    });
  });

  it('reads explicit gpus as indices on the host, never spanning hosts', () => {
    expect(planOnHosts(ids, ['gpu-a'], gpus, 0, [], req(60, [0, 1]))).toMatchObject({ kind: 'fit', gpuIndices: [1000, 1001] });
    // local has one GPU: [0, 1] cannot be there, so gpu-a (both GPUs of one host) it is.
    expect(planOnHosts(ids, ['local', 'gpu-a'], gpus, 0, [], req(20, [0, 1]))).toMatchObject({ kind: 'fit', gpuIndices: [1000, 1001] });
  });

  it('passes by a host with no GPU known (unreachable), and waits for it when nothing else fits', () => {
    const some = gpus.filter((g) => ids.hostOf(g.index) !== 'gpu-a');
    expect(planOnHosts(ids, ['gpu-a', 'gpu-b'], some, 0, [], req(30))).toMatchObject({ kind: 'fit', gpuIndices: [2000] });
    expect(planOnHosts(ids, ['gpu-a', 'gpu-b'], some, 0, [], req(100))).toEqual({
      kind: 'wait',
      gpuIndices: [],
      reason: 'host gpu-a is unreachable',
    });
  });

  it('is impossible only when it fits on none of its hosts, each saying why', () => {
    const plan = planOnHosts(ids, ['local', 'gpu-b'], gpus, 0, [], req(100));
    expect(plan.kind).toBe('impossible');
    if (plan.kind === 'impossible') expect(plan.reason).toMatch(/^local: needs 100\.0 GiB .*; gpu-b: needs 100\.0 GiB/);
  });

  it('waits on a host where busy models hold the memory rather than calling it impossible', () => {
    const placed = [holder('busy', [0], 20, { busy: true })];
    expect(planOnHosts(ids, ['local'], gpus, 0, placed, req(16))).toMatchObject({ kind: 'wait', gpuIndices: [0] });
  });
});
