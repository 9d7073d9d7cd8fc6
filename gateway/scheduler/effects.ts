// The scheduler's seam to the outside world (as llama-swap's scheduler.Effects): everything the
// coordinator does to a model server, and the slots it hands to waiting requests, go through here,
// so that tests can drive the whole lifecycle with a fake and no server. The default goes to the
// runtime and the instance (whose sleep API is runtimes/vllm-sleep.ts) and to the model's queue;
// nothing under gateway/scheduler/ speaks HTTP itself.

import type { Instance, Runtime, StartRequest } from '../runtimes/runtime.js';
import type { SleepCallOptions, SleepLevel } from '../runtimes/vllm-sleep.js';
import { waitHealthy } from '../runtimes/wait-healthy.js';
import type { ModelQueue } from './model-queue.js';

export interface Effects {
  /** Create and start a server on `runtime` (resolves once it exists, not once healthy). */
  start(runtime: Runtime, req: StartRequest): Promise<Instance>;
  /** Poll the server's health path until it answers 200 (or the start times out, or is aborted). */
  waitHealthy(instance: Instance, opts: { healthPath: string; timeoutMs: number; signal: AbortSignal }): Promise<void>;
  /** Stop the server: graceful for graceMs, then forced. */
  stop(instance: Instance, graceMs: number): Promise<void>;
  sleep(instance: Instance, level: SleepLevel, opts: SleepCallOptions): Promise<void>;
  wake(instance: Instance, level: SleepLevel, opts: SleepCallOptions): Promise<void>;
  /** The level a server found running sleeps at, or null (awake, or it cannot say). */
  sleepingLevel(instance: Instance, configured: SleepLevel): Promise<SleepLevel | null>;
  /**
   * Hand the queue's free slots to its waiting requests, oldest first: the lifecycle's `grant`,
   * and a slot freed while the model serves. (A request served at once by admission takes its
   * slot itself: that is the hot path, no waiter to hand anything to.)
   */
  grant(queue: ModelQueue): void;
  /** The host PIDs of the server's processes, read with each measured GPU reading for attribution. */
  scrapePids(instance: Instance): Promise<number[]>;
}

/** How long adoption waits for a found server to say whether it sleeps. */
const SLEEP_STATE_TIMEOUT_MS = 2000;

/** The real effects: the runtime starts, the instance does the rest. */
export const serverEffects: Effects = {
  start: (runtime, req) => runtime.start(req),
  waitHealthy: (instance, opts) => waitHealthy(instance, opts),
  stop: (instance, graceMs) => instance.stop(graceMs),
  sleep: (instance, level, opts) => instance.sleep(level, opts),
  wake: (instance, level, opts) => instance.wake(level, opts),
  sleepingLevel: (instance, configured) => instance.sleepingLevel(configured, SLEEP_STATE_TIMEOUT_MS),
  grant: (queue) => queue.grant(),
  scrapePids: (instance) => instance.pids(),
};
