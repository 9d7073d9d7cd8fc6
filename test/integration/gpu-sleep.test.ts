// The sleep tier on a GPU that nvidia-smi measures (the fake nvidia-smi reading the mock vLLM
// server's simulated allocation, which drops to its residue while asleep): an awake model is put to
// sleep when evicted, every time, not only before nvidia-smi has seen it; once asleep it counts what
// nvidia-smi attributes to it.

import { afterEach, describe, expect, it } from 'vitest';
import { alive, cleanupGpuTests, mockCommand, mockStats, startGpuGateway, waitFor } from './gpu-helpers.js';

afterEach(cleanupGpuTests);

// 24 GiB GPU: 24576 − 616 reserved − 512 (reserveGiB 0.5) = 23448 MiB: two 14 GiB models never fit
// together; a 14 GiB model beside a sleeper's 700 MiB residue does.
const GPU = 'Fake GPU:24576';

describe.runIf(process.platform === 'linux')('sleep mode with nvidia-smi', () => {
  it('an evicted sleepy model sleeps each time it makes room, and counts its measured residue', async () => {
    const t = await startGpuGateway({
      gpus: GPU,
      models: {
        a: {
          vramGiB: 14,
          command: mockCommand(14336, '--enable-sleep-mode', '--mock-sleep-residue-mib', '700'),
          extra: { sleep: { level: 1, hostRamGiB: 4 }, ttlSeconds: 0 }, // within any host's auto budget
        },
        b: { vramGiB: 14, command: mockCommand(14336), extra: { ttlSeconds: 0 } },
      },
    });
    expect((await t.chat('a')).status).toBe(200);
    // nvidia-smi has seen a awake, holding its whole budget
    await waitFor(() => t.status().gpus[0]?.models.find((m) => m.id === 'a')?.usedMiB === 14336, 'a measured awake');
    const pidA = (await mockStats(t, 'a')).pid as number;

    expect((await t.chat('b')).status).toBe(200);
    expect(t.model('a').state).toBe('sleeping');
    await waitFor(() => t.model('a').vramUsedMiB === 700, "a's measured residue");

    // a's wake stops b (it cannot sleep); the same server serves again
    expect((await t.chat('a')).status).toBe(200);
    expect([t.model('a').state, t.model('b').state]).toEqual(['ready', 'stopped']);
    expect((await mockStats(t, 'a')).pid).toBe(pidA);
    await waitFor(() => t.status().gpus[0]?.models.find((m) => m.id === 'a')?.usedMiB === 14336, 'a measured awake again');

    // and it sleeps again for b's second turn
    expect((await t.chat('b')).status).toBe(200);
    expect(t.model('a').state).toBe('sleeping');
    expect(alive(pidA)).toBe(true);
    expect(t.runtime.starts.map(([id]) => id)).toEqual(['a', 'b', 'b']);
    await t.close();
  }, 60_000);
});
