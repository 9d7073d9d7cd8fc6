// The lifecycle reducer (gateway/scheduler/lifecycle.ts): every phase × every event against an
// explicit table of what must happen (the next phase and the effects, or IllegalEvent), with an
// injected clock; then the fields each event sets together, and ModelEntry's notify-on-change.

import { describe, expect, it } from 'vitest';
import type { LocalModelConfig } from '../../gateway/config/types.js';
import type { Instance } from '../../gateway/runtimes/runtime.js';
import {
  EVENT_TYPES,
  IllegalEvent,
  PHASES,
  initialLifecycle,
  publicState,
  reduce,
  type EventType,
  type Lifecycle,
  type LifecycleEffect,
  type LifecycleEvent,
  type Phase,
} from '../../gateway/scheduler/lifecycle.js';
import { ModelEntry } from '../../gateway/scheduler/model-entry.js';
import { configFrom, fakeModel } from './scheduler-fakes.js';

const instance = (endpoint = 'http://127.0.0.1:1'): Instance => ({
  endpoint,
  exited: new Promise(() => {}),
  stop: async () => {},
  logs: async () => '',
  pids: async () => [],
  sleep: async () => {},
  wake: async () => {},
  sleepingLevel: async () => null,
});

const SERVER = instance();
const OTHER = instance('http://127.0.0.1:2');
const CAUSE = new Error('cause');
const CUT = new Error('cut');

/** A state in each phase, as the scheduler would have it there (created at t = 1000). */
function stateIn(phase: Phase): Lifecycle {
  const base = initialLifecycle(1000);
  const up = { ...base, instance: SERVER, lastInstance: SERVER, gpuIndices: [0], readyAt: 500 };
  switch (phase) {
    case 'stopped':
      return base;
    case 'starting':
    case 'pulling':
      return { ...base, phase, gpuIndices: [0] };
    case 'ready':
    case 'stopping':
      return { ...up, phase };
    case 'yielding':
      return { ...up, phase, yieldingTo: 'x' };
    case 'fallingAsleep':
    case 'waking':
    case 'wakeBooked':
      return { ...up, phase, sleptLevel: 1 };
    case 'sleeping':
      return { ...up, phase, sleptLevel: 1, asleepAt: 800 };
    case 'failed':
      return { ...base, phase, failures: 1, coolDownUntil: 11_000, error: 'boom' };
  }
}

/** One sample of each event. */
const SAMPLE: Record<EventType, LifecycleEvent> = {
  startBegun: { type: 'startBegun' },
  pullBegun: { type: 'pullBegun' },
  loadBegun: { type: 'loadBegun' },
  progress: { type: 'progress', progress: { phase: 'loading', percent: 50, message: 'half' } },
  memoryWait: { type: 'memoryWait', wait: { reason: 'r', blockedBy: ['a'] } },
  placed: { type: 'placed', gpuIndices: [1] },
  serverCreated: { type: 'serverCreated', instance: OTHER },
  startFinished: { type: 'startFinished', instance: OTHER, gpuIndices: [1] },
  startFailed: { type: 'startFailed', message: 'no', cause: CAUSE },
  startAbandoned: { type: 'startAbandoned', error: null, cause: CAUSE },
  adopted: { type: 'adopted', instance: OTHER, gpuIndices: [1] },
  adoptedAsleep: { type: 'adoptedAsleep', instance: OTHER, gpuIndices: [1], level: 2 },
  stopAsked: { type: 'stopAsked' },
  stopBegun: { type: 'stopBegun' },
  serverGone: { type: 'serverGone', error: null },
  serverDied: { type: 'serverDied', error: 'The model server exited with code 1', cut: CUT },
  sleepBegun: { type: 'sleepBegun', level: 1 },
  sleepDone: { type: 'sleepDone' },
  sleepFailed: { type: 'sleepFailed' },
  wakeBegun: { type: 'wakeBegun' },
  wakeBooked: { type: 'wakeBooked' },
  wakeDone: { type: 'wakeDone' },
  wakeAbandoned: { type: 'wakeAbandoned', cause: CAUSE },
  wakeFailed: { type: 'wakeFailed' },
  turnOver: { type: 'turnOver', to: 'y' },
  yieldWithdrawn: { type: 'yieldWithdrawn' },
  failureForgotten: { type: 'failureForgotten' },
};

/** The expected table: for each phase, the events it allows and the phase each leads to. Every other cell is illegal. */
const NEXT: Record<Phase, Partial<Record<EventType, Phase>>> = {
  stopped: { startBegun: 'starting', adopted: 'ready', adoptedAsleep: 'sleeping' },
  starting: {
    pullBegun: 'pulling',
    loadBegun: 'starting',
    progress: 'starting',
    memoryWait: 'starting',
    placed: 'starting',
    serverCreated: 'starting',
    startFinished: 'ready',
    startFailed: 'failed',
    startAbandoned: 'stopped',
    adopted: 'ready',
    adoptedAsleep: 'sleeping',
    stopAsked: 'starting',
  },
  pulling: {
    pullBegun: 'pulling',
    loadBegun: 'starting',
    progress: 'pulling',
    memoryWait: 'pulling',
    placed: 'pulling',
    serverCreated: 'pulling',
    startFinished: 'ready',
    startFailed: 'failed',
    startAbandoned: 'stopped',
    stopAsked: 'pulling',
  },
  ready: {
    stopAsked: 'ready',
    stopBegun: 'stopping',
    serverDied: 'stopped',
    sleepBegun: 'fallingAsleep',
    turnOver: 'yielding',
  },
  yielding: {
    stopAsked: 'yielding',
    stopBegun: 'stopping',
    serverDied: 'stopped',
    sleepBegun: 'fallingAsleep',
    turnOver: 'yielding',
    yieldWithdrawn: 'ready',
  },
  fallingAsleep: {
    stopAsked: 'fallingAsleep',
    stopBegun: 'stopping',
    serverDied: 'stopped',
    sleepDone: 'sleeping',
    sleepFailed: 'stopping',
  },
  sleeping: { stopAsked: 'sleeping', stopBegun: 'stopping', serverDied: 'stopped', wakeBegun: 'waking' },
  waking: {
    progress: 'waking',
    memoryWait: 'waking',
    stopAsked: 'waking',
    stopBegun: 'stopping',
    wakeBooked: 'wakeBooked',
    wakeAbandoned: 'sleeping',
    wakeFailed: 'stopping',
  },
  wakeBooked: {
    progress: 'wakeBooked',
    memoryWait: 'wakeBooked',
    stopAsked: 'wakeBooked',
    stopBegun: 'stopping',
    wakeDone: 'ready',
    wakeFailed: 'stopping',
  },
  stopping: { stopAsked: 'stopping', serverGone: 'stopped' },
  failed: { startBegun: 'starting', adopted: 'ready', adoptedAsleep: 'sleeping', failureForgotten: 'stopped' },
};

/** The effects of each event where it is allowed (the same from every phase it may come in). */
const EFFECTS: Record<EventType, LifecycleEffect[]> = {
  startBegun: [],
  pullBegun: [],
  loadBegun: [],
  progress: [],
  memoryWait: [],
  placed: [],
  serverCreated: [],
  startFinished: [{ kind: 'grant' }],
  startFailed: [{ kind: 'rejectWaiting', error: CAUSE }],
  startAbandoned: [{ kind: 'rejectWaiting', error: CAUSE }],
  adopted: [{ kind: 'watchExit', instance: OTHER }, { kind: 'armIdle' }, { kind: 'grant' }],
  adoptedAsleep: [{ kind: 'watchExit', instance: OTHER }, { kind: 'armIdle' }, { kind: 'grant' }],
  stopAsked: [],
  stopBegun: [],
  serverGone: [],
  serverDied: [{ kind: 'cutInFlight', error: CUT }, { kind: 'resumeForQueue' }],
  sleepBegun: [{ kind: 'clearIdle' }],
  sleepDone: [],
  sleepFailed: [],
  wakeBegun: [{ kind: 'clearIdle' }],
  wakeBooked: [],
  wakeDone: [{ kind: 'grant' }],
  wakeAbandoned: [{ kind: 'rejectWaiting', error: CAUSE }, { kind: 'armIdle' }],
  wakeFailed: [],
  turnOver: [],
  yieldWithdrawn: [{ kind: 'grant' }],
  failureForgotten: [],
};

const NOW = 5000;

describe('every phase × every event', () => {
  it('the phases and events are exactly those the table below covers', () => {
    expect([...PHASES].sort()).toEqual(Object.keys(NEXT).sort());
    expect([...EVENT_TYPES].sort()).toEqual(Object.keys(SAMPLE).sort());
  });

  const cells = PHASES.flatMap((phase) => EVENT_TYPES.map((event) => [phase, event] as const));
  it(`covers ${PHASES.length} × ${EVENT_TYPES.length} cells`, () => {
    expect(cells).toHaveLength(11 * 27);
  });

  it.each(cells)('%s + %s', (phase, event) => {
    const before = stateIn(phase);
    const frozen = JSON.stringify(before);
    const want = NEXT[phase][event];
    if (want === undefined) {
      expect(() => reduce(before, SAMPLE[event], NOW, 'm')).toThrow(IllegalEvent);
      expect(() => reduce(before, SAMPLE[event], NOW, 'm')).toThrow(`model m: event ${event} is not allowed in phase ${phase}`);
    } else {
      const { state, effects } = reduce(before, SAMPLE[event], NOW, 'm');
      expect(state.phase).toBe(want);
      // stateSince moves only when the public state changes
      expect(state.since).toBe(publicState(want) === publicState(phase) ? 1000 : NOW);
      expect(effects).toEqual(EFFECTS[event]);
      // the invariants every state keeps
      expect(state.yieldingTo !== null).toBe(state.phase === 'yielding');
      if (state.phase === 'stopped' || state.phase === 'failed') {
        expect([state.instance, state.gpuIndices, state.stopAsked, state.sleptLevel]).toEqual([null, [], false, null]);
      }
      if (['fallingAsleep', 'sleeping', 'waking', 'wakeBooked'].includes(state.phase)) expect(state.sleptLevel).not.toBeNull();
    }
    expect(JSON.stringify(before)).toBe(frozen); // pure: the old state is untouched
  });
});

/** Apply events in order from `s`, at the given times. */
function run(s: Lifecycle, steps: Array<[LifecycleEvent, number]>): Lifecycle {
  for (const [e, at] of steps) s = reduce(s, e, at).state;
  return s;
}

describe('the fields each event sets together', () => {
  it('a start: startBegun → placed → serverCreated → startFinished', () => {
    let s = run(initialLifecycle(0), [[{ type: 'startBegun' }, 2000]]);
    expect([s.phase, s.since, s.progress?.message]).toEqual(['starting', 2000, 'waiting for GPU memory']);
    s = run(s, [
      [{ type: 'placed', gpuIndices: [0] }, 2100],
      [{ type: 'serverCreated', instance: SERVER }, 2200],
      [{ type: 'loadBegun' }, 2500],
    ]);
    expect([s.gpuIndices, s.instance, s.since, s.progress?.message]).toEqual([[0], SERVER, 2000, 'loading the model']);
    s = run(s, [[{ type: 'startFinished', instance: SERVER, gpuIndices: [0] }, 3000]]);
    expect([s.phase, s.since, s.readyAt, s.failures, s.coolDownUntil, s.error, s.progress, s.lastInstance]).toEqual([
      'ready',
      3000,
      3000,
      0,
      0,
      null,
      null,
      SERVER,
    ]);
  });

  it('a failed start counts failures and cools down (10 s, doubling); clears the server, keeps the last instance', () => {
    let s = run(initialLifecycle(0), [
      [{ type: 'startBegun' }, 0],
      [{ type: 'placed', gpuIndices: [0] }, 0],
      [{ type: 'serverCreated', instance: SERVER }, 0],
      [{ type: 'startFailed', message: 'boom', cause: CAUSE }, 100],
    ]);
    expect([s.phase, s.failures, s.coolDownUntil, s.error, s.instance, s.gpuIndices, s.lastInstance]).toEqual([
      'failed',
      1,
      10_100,
      'boom',
      null,
      [],
      SERVER,
    ]);
    s = run(s, [
      [{ type: 'startBegun' }, 20_000],
      [{ type: 'startFailed', message: 'again', cause: CAUSE }, 20_000],
    ]);
    expect([s.failures, s.coolDownUntil]).toEqual([2, 40_000]);
    s = run(s, [[{ type: 'failureForgotten' }, 50_000]]);
    expect([s.phase, s.coolDownUntil, s.error, s.failures]).toEqual(['stopped', 0, null, 2]);
  });

  it('sleep and wake: falling asleep, asleep, a wake without room sleeps on, booked, awake', () => {
    let s = run(stateIn('ready'), [[{ type: 'sleepBegun', level: 1 }, 3000]]);
    expect([publicState(s.phase), s.phase, s.sleptLevel, s.since]).toEqual(['sleeping', 'fallingAsleep', 1, 3000]);
    s = run(s, [[{ type: 'sleepDone' }, 3500]]);
    expect([s.phase, s.asleepAt, s.since]).toEqual(['sleeping', 3500, 3000]);
    s = run(s, [
      [{ type: 'wakeBegun' }, 4000],
      [{ type: 'memoryWait', wait: { reason: 'busy', blockedBy: ['b'] } }, 4050],
      [{ type: 'wakeAbandoned', cause: CAUSE }, 4100],
    ]);
    expect([s.phase, s.memoryWait, s.progress, s.sleptLevel]).toEqual(['sleeping', null, null, 1]);
    s = run(s, [
      [{ type: 'wakeBegun' }, 4200],
      [{ type: 'wakeBooked' }, 4300],
    ]);
    expect([publicState(s.phase), s.since]).toEqual(['waking', 4200]);
    s = run(s, [[{ type: 'wakeDone' }, 5000]]);
    expect([s.phase, s.sleptLevel, s.readyAt, s.instance, s.gpuIndices]).toEqual(['ready', null, 5000, SERVER, [0]]);
  });

  it('adoptedAsleep books the instance asleep at its level, on its GPUs', () => {
    const s = run(initialLifecycle(0), [[{ type: 'adoptedAsleep', instance: OTHER, gpuIndices: [1], level: 2 }, 1500]]);
    expect([s.phase, s.sleptLevel, s.gpuIndices, s.instance, s.asleepAt, s.readyAt]).toEqual(['sleeping', 2, [1], OTHER, 1500, 1500]);
  });

  it('a yield: turnOver names whom it yields to, stopBegun ends it, serverGone clears the server', () => {
    let s = run(stateIn('ready'), [[{ type: 'turnOver', to: 'b' }, 10]]);
    expect([publicState(s.phase), s.yieldingTo, s.since]).toEqual(['ready', 'b', 1000]);
    expect(reduce(s, { type: 'turnOver', to: 'b' }, 11).state).toBe(s); // no change: the same object
    s = run(s, [
      [{ type: 'stopAsked' }, 12],
      [{ type: 'stopBegun' }, 12],
    ]);
    expect([s.phase, s.yieldingTo, s.stopAsked]).toEqual(['stopping', null, true]);
    s = run(s, [[{ type: 'serverGone', error: null }, 20]]);
    expect([s.phase, s.instance, s.gpuIndices, s.stopAsked, s.error]).toEqual(['stopped', null, [], false, null]);
  });

  it('serverDied keeps the reason as the error', () => {
    const s = run(stateIn('sleeping'), [[SAMPLE.serverDied, 40]]);
    expect([s.phase, s.error, s.sleptLevel]).toEqual(['stopped', 'The model server exited with code 1', null]);
  });

  it('memoryWait keeps its first time, and changes nothing when the same wait comes again', () => {
    let s = run(stateIn('starting'), [[{ type: 'memoryWait', wait: { reason: 'r', blockedBy: ['a'] } }, 100]]);
    expect(reduce(s, { type: 'memoryWait', wait: { reason: 'r', blockedBy: ['a'] } }, 200).state).toBe(s);
    s = run(s, [[{ type: 'memoryWait', wait: { reason: 'r2', blockedBy: ['a'] } }, 300]]);
    expect([s.memoryWait, s.progress?.message]).toEqual([{ reason: 'r2', blockedBy: ['a'], since: 100 }, 'waiting for GPU memory: r2']);
    s = run(s, [[{ type: 'memoryWait', wait: null }, 400]]);
    expect(s.memoryWait).toBeNull();
    expect(reduce(s, { type: 'memoryWait', wait: null }, 500).state).toBe(s);
  });
});

describe('ModelEntry.apply', () => {
  function entry() {
    const config = configFrom(fakeModel('m', 4)).models[0] as LocalModelConfig;
    let notified = 0;
    const e = new ModelEntry(
      config,
      () => notified++,
      1000,
      () => 1000,
    );
    return { e, notified: () => notified };
  }

  it('notifies when the state changed, not when it did not, and reads through to the state', () => {
    const { e, notified } = entry();
    e.apply({ type: 'startBegun' }, 2000);
    expect([e.state, e.stateSince, notified()]).toEqual(['starting', 2000, 1]);
    e.apply({ type: 'memoryWait', wait: null }, 2100);
    expect(notified()).toBe(1);
    e.apply({ type: 'placed', gpuIndices: [0] }, 2200);
    expect([e.holdsGpu, e.holdsBudget, notified()]).toEqual([true, true, 2]);
  });

  it('an illegal event throws and changes nothing', () => {
    const { e, notified } = entry();
    expect(() => e.apply({ type: 'stopBegun' }, 1)).toThrow(/event stopBegun is not allowed in phase stopped/);
    expect([e.state, notified()]).toEqual(['stopped', 0]);
  });

  it('a remote model takes no event at all', () => {
    const config = configFrom('  r: { runtime: remote, url: "http://127.0.0.1:9" }').models[0];
    const e = new ModelEntry(config, () => {}, 0);
    expect(e.state).toBe('ready');
    expect(() => e.apply({ type: 'stopAsked' }, 1)).toThrow(IllegalEvent);
  });

  it('a sleeper holds only its residue; idle facts count it as ready once asleep, not while falling asleep', () => {
    const { e } = entry();
    e.apply({ type: 'adopted', instance: SERVER, gpuIndices: [0] }, 10);
    e.apply({ type: 'sleepBegun', level: 1 }, 20);
    expect([e.state, e.holdsGpu, e.holdsBudget, e.idleFacts.ready]).toEqual(['sleeping', true, false, false]);
    e.apply({ type: 'sleepDone' }, 30);
    expect([e.idleFacts.ready, e.asleepAt]).toEqual([true, 30]);
    e.apply({ type: 'wakeBegun' }, 40);
    expect(e.holdsBudget).toBe(false);
    e.apply({ type: 'wakeBooked' }, 50);
    expect(e.holdsBudget).toBe(true);
  });
});
