// The snapshot memory-turns.ts decides over (memory-line.ts holderFacts): the facts that used to be
// checked again after the decision (a stop asked for, a sleep under way, a yield) are in it, so the
// decision can be carried out as it is.

import { describe, expect, it } from 'vitest';
import type { Instance } from '../../gateway/runtimes/runtime.js';
import { holderFacts } from '../../gateway/scheduler/memory-line.js';
import { ModelEntry } from '../../gateway/scheduler/model-entry.js';
import { configFrom, fakeModel } from './scheduler-fakes.js';

const instance = (): Instance => ({
  endpoint: 'http://127.0.0.1:1',
  exited: new Promise(() => {}),
  stop: async () => {},
  logs: async () => '',
  pids: async () => [],
  sleep: async () => {},
  wake: async () => {},
  sleepingLevel: async () => null,
});

const gpus = { heldMiB: (e: ModelEntry) => (e.holdsBudget ? e.budgetMiB : 512), residualMiB: () => 512 };

function readyEntry(id: string) {
  const config = configFrom(fakeModel(id, 4, 'args: ["--enable-sleep-mode"], sleep: { level: 1 }'), 'scheduling: { sleepHostRamGiB: 64 }')
    .models[0];
  const e = new ModelEntry(config, () => {}, 0);
  e.apply({ type: 'adopted', instance: instance(), gpuIndices: [0] }, 10);
  return e;
}

const factsOf = (e: ModelEntry) => {
  const [h] = holderFacts([e], gpus);
  return { phase: h.phase, yielding: h.yielding, canSleep: h.sleep !== null, budgetMiB: h.budgetMiB };
};

describe('holderFacts', () => {
  it('a ready model can be evicted or put to sleep', () => {
    expect(factsOf(readyEntry('a'))).toEqual({ phase: 'ready', yielding: false, canSleep: true, budgetMiB: 4096 });
  });

  it('a model whose stop was asked for is stopping at once, before its server is asked to stop', () => {
    const e = readyEntry('a');
    e.apply({ type: 'stopAsked' }, 20);
    expect(e.state).toBe('ready');
    expect(factsOf(e)).toEqual({ phase: 'stopping', yielding: false, canSleep: false, budgetMiB: 4096 });
  });

  it('a model falling asleep is neither ready nor asleep yet, and holds its residue', () => {
    const e = readyEntry('a');
    e.apply({ type: 'sleepBegun', level: 1 }, 20);
    expect(factsOf(e)).toMatchObject({ phase: 'falling-asleep', budgetMiB: 512 });
    e.apply({ type: 'sleepDone' }, 30);
    expect(factsOf(e)).toMatchObject({ phase: 'sleeping', budgetMiB: 512 });
  });

  it('a yielding model is a ready holder that yields; a waking one holds its residue until booked', () => {
    const e = readyEntry('a');
    e.apply({ type: 'turnOver', to: 'b' }, 20);
    expect(factsOf(e)).toMatchObject({ phase: 'ready', yielding: true });
    const w = readyEntry('w');
    w.apply({ type: 'sleepBegun', level: 1 }, 20);
    w.apply({ type: 'sleepDone' }, 30);
    w.apply({ type: 'wakeBegun' }, 40);
    expect(factsOf(w)).toMatchObject({ phase: 'waking', budgetMiB: 512 });
    w.apply({ type: 'wakeBooked' }, 50);
    expect(factsOf(w)).toMatchObject({ phase: 'waking', budgetMiB: 4096 });
  });
});
