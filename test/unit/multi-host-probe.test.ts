// One probe over every host's GPUs: host-qualified ids, a host that is away offers none.
import { describe, expect, it } from 'vitest';
import { HostGpuIds } from '../../gateway/hosts/host-gpus.js';
import { MultiHostProbe } from '../../gateway/hosts/multi-host-probe.js';
import { StaticProbe } from '../../gateway/gpu/static-probe.js';

describe('MultiHostProbe', () => {
  it('merges the hosts with host-qualified ids, leaves out a host that is away', async () => {
    const ids = new HostGpuIds(['gpu-a', 'gpu-b']);
    let bUp = true;
    const probe = new MultiHostProbe(ids, [
      { host: 'local', probe: new StaticProbe([{ name: 'Here', totalGiB: 24 }]), connected: () => true },
      {
        host: 'gpu-b',
        probe: new StaticProbe([
          { name: 'B0', totalGiB: 48 },
          { name: 'B1', totalGiB: 48 },
        ]),
        connected: () => bUp,
      },
    ]);
    probe.start();
    const snap = await probe.refresh();
    expect(snap.gpus.map((g) => [g.index, g.host, g.name])).toEqual([
      [0, 'local', 'Here'],
      [2000, 'gpu-b', 'B0'],
      [2001, 'gpu-b', 'B1'],
    ]);
    bUp = false;
    expect(probe.state().snapshot?.gpus.map((g) => g.index)).toEqual([0]);
    expect((await probe.refresh()).gpus.map((g) => g.host)).toEqual(['local']);
    await probe.stop();
  });
});
