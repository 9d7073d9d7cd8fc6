// The lifecycle's transition table and ModelEntry's named transitions: each sets the fields that
// belong together, and a transition the table does not allow throws (a scheduler bug, loudly).

import { describe, expect, it } from 'vitest';
import type { LocalModelConfig } from '../../gateway/config/types.js';
import type { Instance } from '../../gateway/runtimes/runtime.js';
import { ModelEntry } from '../../gateway/scheduler/model-entry.js';
import { IllegalTransition, TRANSITIONS, canTransition } from '../../gateway/scheduler/model-transitions.js';
import { configFrom, fakeModel } from './scheduler-fakes.js';

const instance = (endpoint = 'http://127.0.0.1:1'): Instance => ({
  endpoint,
  exited: new Promise(() => {}),
  stop: async () => {},
  logs: async () => '',
  pids: async () => [],
});

function entry(more = '') {
  const config = configFrom(fakeModel('m', 4, more)).models[0] as LocalModelConfig;
  let notified = 0;
  const e = new ModelEntry(
    config,
    () => notified++,
    1000,
    () => 1000,
  );
  return { e, notified: () => notified };
}

describe('the transition table', () => {
  it('allows exactly the lifecycle of design.md', () => {
    expect(TRANSITIONS).toEqual({
      stopped: ['starting', 'ready', 'sleeping'],
      starting: ['pulling', 'starting', 'ready', 'sleeping', 'failed', 'stopped'],
      pulling: ['starting', 'pulling', 'ready', 'sleeping', 'failed', 'stopped'],
      ready: ['stopping', 'sleeping', 'stopped'],
      sleeping: ['waking', 'stopping', 'stopped'],
      waking: ['ready', 'sleeping', 'stopping', 'stopped'],
      stopping: ['stopped'],
      failed: ['starting', 'stopped', 'ready', 'sleeping'],
    });
    expect(canTransition('stopping', 'ready')).toBe(false);
    expect(canTransition('ready', 'starting')).toBe(false);
    // a sleeper is never served before it is awake
    expect(canTransition('sleeping', 'ready')).toBe(false);
  });
});

describe('sleep transitions', () => {
  it('ready → sleeping (falling asleep, then asleep) → waking (booked) → ready; a wake without room sleeps on', () => {
    const { e } = entry('sleep: { level: 1 }, args: ["--enable-sleep-mode"]');
    const inst = instance();
    e.beginStart(1000);
    e.reserve([0]);
    e.serverCreated(inst);
    e.becameReady(inst, [0], 2000);
    e.beganSleeping(1, 3000);
    expect([e.state, e.sleptLevel, e.fallingAsleep, e.holdsGpu, e.holdsBudget, e.idleFacts.ready]).toEqual([
      'sleeping',
      1,
      true,
      true,
      false,
      false,
    ]);
    e.fellAsleep(3500);
    expect([e.fallingAsleep, e.asleepAt, e.idleFacts.ready, e.toStatus().sleepHostRamMiB]).toEqual([false, 3500, true, 4096]);
    e.beginWake(4000);
    expect([e.state, e.wakeReserved, e.holdsBudget]).toEqual(['waking', false, false]);
    e.wakeAbandoned(4100);
    expect(e.state).toBe('sleeping');
    e.beginWake(4200);
    e.wakeBooked();
    expect(e.holdsBudget).toBe(true);
    e.becameReady(inst, [0], 5000);
    expect([e.state, e.sleptLevel, e.readyAt, e.instance]).toEqual(['ready', null, 5000, inst]);
    expect(() => e.fellAsleep(6000)).toThrow(IllegalTransition);
  });

  it('adoptedAsleep books the instance asleep at its level', () => {
    const { e } = entry('sleep: { level: 2 }, args: ["--enable-sleep-mode"]');
    e.adoptedAsleep(instance('http://127.0.0.1:9'), [1], 2, 1500);
    expect([e.state, e.sleptLevel, e.gpuIndices, e.instance?.endpoint, e.toStatus().sleepHostRamMiB]).toEqual([
      'sleeping',
      2,
      [1],
      'http://127.0.0.1:9',
      null,
    ]);
  });
});

describe('named transitions', () => {
  it('a start: beginStart → reserve → serverCreated → becameReady sets the related fields together', () => {
    const { e, notified } = entry();
    e.beginStart(2000);
    expect([e.state, e.stateSince, e.progress?.message]).toEqual(['starting', 2000, 'waiting for GPU memory']);
    e.reserve([0]);
    expect(e.gpuIndices).toEqual([0]);
    expect(e.holdsGpu).toBe(true);
    const inst = instance();
    e.serverCreated(inst);
    e.enterPhase('starting', 2500);
    expect(e.stateSince).toBe(2000); // same state: the time it was entered stays
    e.becameReady(inst, [0], 3000);
    expect([e.state, e.stateSince, e.readyAt, e.failures, e.coolDownUntil, e.error, e.progress]).toEqual([
      'ready',
      3000,
      3000,
      0,
      0,
      null,
      null,
    ]);
    expect(e.instance).toBe(inst);
    expect(e.lastInstance).toBe(inst);
    expect(notified()).toBeGreaterThanOrEqual(5);
  });

  it('a failed start counts failures and cools down; clears the server and its GPUs', () => {
    const { e } = entry();
    e.beginStart(0);
    e.reserve([0]);
    e.serverCreated(instance());
    e.startFailed('boom', 100);
    expect([e.state, e.failures, e.coolDownUntil, e.error, e.instance, e.gpuIndices]).toEqual(['failed', 1, 10_100, 'boom', null, []]);
    expect(e.lastInstance).not.toBeNull(); // kept for its logs
    e.beginStart(20_000);
    e.startFailed('again', 20_000);
    expect([e.failures, e.coolDownUntil]).toEqual([2, 40_000]);
    e.forgetFailure(50_000);
    expect([e.state, e.coolDownUntil, e.error]).toEqual(['stopped', 0, null]);
  });

  it('adoption is becameReady from stopped, booked on the GPUs it runs on', () => {
    const { e } = entry();
    e.becameReady(instance(), [1], 5);
    expect([e.state, e.gpuIndices]).toEqual(['ready', [1]]);
  });

  it('stop and crash: serverGone clears the server, GPUs, PIDs and yielding', () => {
    const { e } = entry();
    e.becameReady(instance(), [0], 5);
    e.pids = new Set([1, 2]);
    e.setYielding('other');
    expect(e.yieldingTo).toBe('other');
    e.beginStop(10);
    e.serverGone(null, 20);
    expect([e.state, e.instance, e.gpuIndices, e.pids.size, e.yieldingTo]).toEqual(['stopped', null, [], 0, null]);
    e.becameReady(instance(), [0], 30);
    e.serverGone('The model server exited with code 1', 40); // on its own, from ready
    expect([e.state, e.error]).toEqual(['stopped', 'The model server exited with code 1']);
  });

  it('transitions the table does not allow throw IllegalTransition and change nothing', () => {
    const { e } = entry();
    expect(() => e.beginStop(1)).toThrow(IllegalTransition);
    expect(() => e.serverGone(null, 1)).toThrow(/serverGone from stopped to stopped/);
    expect(() => e.reserve([0])).toThrow(IllegalTransition);
    expect(() => e.setYielding('x')).toThrow(IllegalTransition);
    e.becameReady(instance(), [0], 1);
    expect(() => e.beginStart(2)).toThrow(/beginStart from ready to starting/);
    expect(e.state).toBe('ready');
  });

  it('a remote model never transitions', () => {
    const config = configFrom('  r: { runtime: remote, url: "http://127.0.0.1:9" }').models[0];
    const e = new ModelEntry(config, () => {}, 0);
    expect(e.state).toBe('ready');
    expect(() => e.beginStop(1)).toThrow(IllegalTransition);
  });

  it('setMemoryWait keeps its first time and notifies only on a change', () => {
    const { e, notified } = entry();
    e.beginStart(0);
    const before = notified();
    e.setMemoryWait({ reason: 'r', blockedBy: ['a'] }, 100);
    e.setMemoryWait({ reason: 'r', blockedBy: ['a'] }, 200);
    expect(notified()).toBe(before + 1);
    e.setMemoryWait({ reason: 'r2', blockedBy: ['a'] }, 300);
    expect(e.memoryWait).toEqual({ reason: 'r2', blockedBy: ['a'], since: 100 });
    expect(e.vramWait).toBe('r2');
    e.setMemoryWait(null, 400);
    expect(e.memoryWait).toBeNull();
  });
});
