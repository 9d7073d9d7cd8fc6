// Carrying out vLLM sleep mode: putting an idle server to sleep (the first eviction tier, or by
// hand) and waking it for its next request. Whether and whom to put to sleep is decided elsewhere
// (memory-turns.ts, placement.ts's hostRamRoom); the calls to the server go through Effects (the
// instance's sleep API, runtimes/vllm-sleep.ts). What happens around them (the turn for GPU memory,
// stopping a server whose sleep or wake failed, starting it cold instead) is here; every change of
// the model's state is a lifecycle event posted to the coordinator (`act.post`).

import { sleepHostRamMiB, sleepLevel } from '../config/sleep-config.js';
import type { GatewayConfig, LocalModelConfig } from '../config/types.js';
import { errors, type GatewayError } from '../errors.js';
import type { Instance } from '../runtimes/runtime.js';
import type { WakeStep } from '../runtimes/vllm-sleep.js';
import type { GatewayLogger } from '../logger.js';
import type { Effects } from './effects.js';
import type { GpuView } from './gpu-view.js';
import type { LifecycleEvent, Phase } from './lifecycle.js';
import type { IdleTimers } from './idle-timers.js';
import { isNoRoom, type MemoryLine } from './memory-line.js';
import type { ModelEntry } from './model-entry.js';
import { hostRamRoom, type PlacedModel } from './placement.js';

/** The scheduler's part in a sleep or a wake. */
export interface SleepWakeActions {
  /** Apply a lifecycle event to the model (the coordinator's only writer). */
  post(entry: ModelEntry, event: LifecycleEvent): void;
  /** Stop the model (cut or reject its requests), as an eviction or unload would. */
  stop(entry: ModelEntry, why: string, cut: GatewayError): Promise<void>;
  /** Stop the server itself once `begun` took it to stopping; stopped after, with `error` when it is worth showing. */
  stopServer(entry: ModelEntry, instance: Instance, begun: LifecycleEvent, error: string | null): Promise<void>;
  /** Start the model cold (its server is gone), abandoned on `signal` like the wake it replaces. */
  startCold(entry: ModelEntry, signal: AbortSignal): Promise<void>;
  /** Reject the requests waiting for the model (its wake was abandoned). */
  rejectWaiting(entry: ModelEntry, err: Error): void;
  /** Start (or wake) it again when requests wait for it and the gateway is not shutting down. */
  resumeForQueue(entry: ModelEntry): void;
}

export interface SleepWakeDeps {
  config: GatewayConfig;
  models: ReadonlyMap<string, ModelEntry>;
  now: () => number;
  log: GatewayLogger;
  gpus: Pick<GpuView, 'residualMiB' | 'waitForMeasuredRelease'>;
  line: Pick<MemoryLine, 'waitForMemory'>;
  idle: Pick<IdleTimers, 'arm'>;
  effects: Pick<Effects, 'sleep' | 'wake'>;
  /** Host RAM all level-1 sleepers may hold together (`scheduling.sleepHostRamGiB`). */
  hostRamBudgetMiB: () => number;
  act: SleepWakeActions;
}

/** What a wake step shows in the status document's progress. */
const WAKE_STEPS: Record<WakeStep, string> = {
  wake: 'waking from sleep',
  weights: 'waking the weights',
  reload: 'reloading the weights',
  kv_cache: 'waking the KV cache',
  confirm: 'confirming the wake',
};

export class SleepWake {
  /** Servers put to sleep, and woken, since the gateway started. */
  sleeps = 0;
  wakes = 0;
  /** Sleeps under way (their /sleep call), to wait for before a wake. */
  private readonly sleepsUnderWay = new Map<ModelEntry, Promise<void>>();

  constructor(private readonly deps: SleepWakeDeps) {}

  private get timeoutMs(): number {
    return this.deps.config.timeouts.startSeconds * 1000;
  }

  /**
   * Put a ready model with nothing in flight or queued to sleep at its sleep.level (the admin route):
   * 409 sleep_not_enabled, model_not_ready or model_busy otherwise. Resolves once it sleeps.
   */
  async sleepByHand(entry: ModelEntry): Promise<void> {
    const level = sleepLevel(entry.config);
    if (level === 0) {
      throw errors.sleepNotEnabled(entry.id);
    }
    if (entry.phase !== 'ready') {
      throw errors.notReadyToSleep(entry.id, entry.state, entry.yieldingTo !== null);
    }
    const busy = () => errors.busyForSleep(entry.id, entry.queue.inFlight.size, entry.queue.queued);
    if (entry.queue.busy) throw busy();
    if (!(await this.makeHostRamRoom(entry))) return;
    if (entry.queue.busy) throw busy(); // a request came while sleepers were stopped
    // A request or a stop may have come while sleepers were stopped.
    if (phaseOf(entry) !== 'ready' || entry.stopAsked) return this.notAsleep(entry);
    await this.putToSleep(entry, 'asked');
    if (phaseOf(entry) !== 'sleeping') return this.notAsleep(entry);
  }

  private notAsleep(entry: ModelEntry): never {
    // Stopped meanwhile by something else (an unload, an eviction): answered as any request a
    // stop overtakes, 503 model_stopped. A sleep that failed stopped the server with its reason.
    if (entry.error === null) throw errors.stoppedWhileFallingAsleep(entry.id);
    throw errors.didNotSleep(entry.id, entry.error);
  }

  /**
   * Room within `scheduling.sleepHostRamGiB` for a model put to sleep by hand, which counts as the
   * most recent sleeper: level-1 sleepers are stopped to make room, least recently used first. When
   * even that is not enough the model is stopped instead, as an eviction would (false).
   */
  private async makeHostRamRoom(entry: ModelEntry): Promise<boolean> {
    const { act, log } = this.deps;
    const budgetMiB = this.deps.hostRamBudgetMiB();
    const need = {
      id: entry.id,
      lastUsedAt: Infinity,
      sleep: { residualMiB: 0, hostRamMiB: sleepHostRamMiB(entry.config as LocalModelConfig) },
    };
    const make = hostRamRoom(this.levelOneSleepers(entry), need, budgetMiB);
    const budgetGiB = +(budgetMiB / 1024).toFixed(1);
    if (make === null) {
      log.info({ model: entry.id, hostRamBudgetGiB: budgetGiB }, 'no host RAM left to sleep in; stopping the model instead');
      await act.stop(entry, 'no host RAM to sleep in', errors.stopped(entry.id));
      return false;
    }
    if (make.length === 0) return true;
    log.info({ model: entry.id, stop: make, hostRamBudgetGiB: budgetGiB }, 'stopping sleepers to make host RAM room');
    await Promise.all(make.map((id) => act.stop(this.deps.models.get(id)!, 'evicted', errors.evicted(id))));
    return true;
  }

  /** The level-1 sleepers other than `entry` that may be stopped for host RAM, as placement sees them. */
  private levelOneSleepers(entry: ModelEntry): PlacedModel[] {
    const sleepers: PlacedModel[] = [];
    for (const e of this.deps.models.values()) {
      // One whose queue waits for its turn back (it yielded) is not stopped for this.
      if (e === entry || e.state !== 'sleeping' || e.sleptLevel !== 1 || e.queue.queued > 0) continue;
      const hostRamMiB = sleepHostRamMiB(e.config as LocalModelConfig);
      sleepers.push({
        id: e.id,
        gpus: [...e.gpuIndices],
        budgetMiB: 0,
        lastUsedAt: e.lastUsedAt ?? 0,
        busy: false,
        pinned: e.config.pinned,
        evictable: true,
        asleep: true,
        sleep: { residualMiB: 0, hostRamMiB },
      });
    }
    return sleepers;
  }

  /**
   * ready (nothing in flight or queued) → sleeping: the instance's sleep(level), confirmed by
   * /is_sleeping. The phase changes at once (fallingAsleep), so no request reaches the server from
   * here on; one that arrives waits in the queue and wakes it once it sleeps. A sleep that fails
   * stops the server. Its caller decided it (memory-turns.ts, or sleepByHand's checks).
   */
  putToSleep(entry: ModelEntry, why: string): Promise<void> {
    const { act, log, now, effects } = this.deps;
    const instance = entry.instance!;
    const level = sleepLevel(entry.config) === 2 ? 2 : 1;
    const t0 = now();
    act.post(entry, { type: 'sleepBegun', level });
    this.sleeps += 1;
    log.info({ model: entry.id, why, level }, 'putting model to sleep');
    const sleeping = (async () => {
      try {
        await effects.sleep(instance, level, { timeoutMs: this.timeoutMs });
        if (entry.instance !== instance || entry.phase !== 'fallingAsleep') return; // stopped meanwhile
        act.post(entry, { type: 'sleepDone' });
        log.info({ model: entry.id, level, ms: now() - t0 }, 'model asleep');
      } catch (err) {
        if (entry.instance !== instance || entry.phase !== 'fallingAsleep') return;
        const msg = (err as Error).message;
        log.warn({ model: entry.id, err: msg }, 'model did not go to sleep; stopping it');
        await act.stopServer(entry, instance, { type: 'sleepFailed' }, `The model server did not go to sleep (${msg}); it was stopped`);
      }
    })().finally(() => {
      this.sleepsUnderWay.delete(entry);
      this.deps.idle.arm(entry);
      // A request that arrived meanwhile wakes it (or, when the sleep failed, starts it anew).
      act.resumeForQueue(entry);
    });
    this.sleepsUnderWay.set(entry, sleeping);
    return sleeping;
  }

  /**
   * sleeping → waking → ready: make room like a start (on the GPUs it sleeps on), then wake it
   * (level 1: /wake_up; level 2: weights, reload_weights, kv_cache), ready once /is_sleeping says
   * false. A wake that fails or takes longer than timeouts.startSeconds stops the server and starts
   * the model anew, once. `signal`: the wake is abandoned (stop, shutdown).
   */
  async wake(entry: ModelEntry, signal: AbortSignal): Promise<void> {
    const { act, log, now, gpus, effects } = this.deps;
    await this.sleepsUnderWay.get(entry);
    if (entry.phase !== 'sleeping' || !entry.instance) return act.startCold(entry, signal); // its sleep failed: stopped
    const instance = entry.instance;
    // The level it was put to sleep at (or found asleep at).
    const level = entry.sleptLevel ?? (sleepLevel(entry.config) === 2 ? 2 : 1);
    act.post(entry, { type: 'wakeBegun' });
    const t0 = now();
    try {
      await this.deps.line.waitForMemory(entry, signal); // placement books its budget (wakeBooked) on its GPUs
      const booked = now();
      await gpus.waitForMeasuredRelease([...entry.gpuIndices], entry.budgetMiB - gpus.residualMiB(entry), signal);
      act.post(entry, { type: 'progress', progress: { phase: 'loading', percent: 0, message: 'waking from sleep' } });
      await effects.wake(instance, level, {
        timeoutMs: this.timeoutMs,
        signal,
        onStep: (step, i, of) => {
          if (!signal.aborted) {
            act.post(entry, {
              type: 'progress',
              progress: { phase: 'loading', percent: Math.round((i / of) * 100), message: WAKE_STEPS[step] },
            });
          }
        },
      });
      this.wakes += 1;
      // ms: the wake itself; waitedMs: for its turn on the GPU before that
      log.info({ model: entry.id, level, ms: now() - booked, waitedMs: booked - t0 }, 'model awake');
      act.post(entry, { type: 'wakeDone' });
    } catch (raw) {
      if (signal.aborted) {
        const err = signal.reason as Error;
        act.rejectWaiting(entry, err);
        throw err;
      }
      if (isNoRoom(raw)) {
        act.post(entry, { type: 'wakeAbandoned', cause: raw });
        throw raw;
      }
      const msg = (raw as Error).message;
      log.warn({ model: entry.id, err: msg }, 'model did not wake; stopping it and starting it anew');
      if (entry.instance === instance && (phaseOf(entry) === 'waking' || phaseOf(entry) === 'wakeBooked')) {
        await act.stopServer(entry, instance, { type: 'wakeFailed' }, null);
      }
      await act.startCold(entry, signal);
    }
  }
}

/** The phase now (a call, so that TypeScript does not carry a narrowing across an await). */
const phaseOf = (e: ModelEntry): Phase => e.phase;
