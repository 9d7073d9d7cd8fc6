// A model's lifecycle as one pure reducer: reduce(state, event, now) → { state, effects }. Every
// change of a model's lifecycle fields is an event applied here, by the coordinator (scheduler.ts)
// alone; the collaborators post events or return decisions. An event the table does not allow in
// the current phase is a bug in the scheduler, thrown as IllegalEvent rather than leaving a model
// in a state nothing expects. The picture and the rules: design.md "A model's lifecycle".
//
// The phases are finer than the public state (status-types.ts ModelState): a yielding model is
// `ready` to the outside, one falling asleep is `sleeping`, a wake that has its memory booked is
// `waking`. `publicState` maps them.

import type { Instance } from '../runtimes/runtime.js';
import type { ModelProgress, ModelState } from '../status-types.js';

export type Phase =
  | 'stopped'
  | 'starting'
  | 'pulling'
  | 'ready'
  /** Ready, its turn on the GPU is over: takes no new requests, finishes those in flight, then is evicted. */
  | 'yielding'
  /** Its /sleep call is under way: its memory is on its way out, its residue stays. */
  | 'fallingAsleep'
  | 'sleeping'
  /** A request or a load wants it awake; it waits for its budget where it sleeps (holds only its residue). */
  | 'waking'
  /** Placement booked its budget again: the wake calls run. */
  | 'wakeBooked'
  | 'stopping'
  | 'failed';

export const PHASES: readonly Phase[] = [
  'stopped',
  'starting',
  'pulling',
  'ready',
  'yielding',
  'fallingAsleep',
  'sleeping',
  'waking',
  'wakeBooked',
  'stopping',
  'failed',
];

/** While a start (or a wake) waits for GPU memory: why, since when, and which models hold what it needs. */
export interface MemoryWait {
  reason: string;
  since: number;
  blockedBy: string[];
}

export type SleepLevel = 1 | 2;

export type LifecycleEvent =
  /** stopped | failed → starting: placement comes next (the cool-down is checked before). */
  | { type: 'startBegun' }
  /** The runtime pulls the image. */
  | { type: 'pullBegun' }
  /** The runtime starts and loads the server. */
  | { type: 'loadBegun' }
  /** Pull, load or wake progress for the status document. */
  | { type: 'progress'; progress: ModelProgress | null }
  /** Why the start or wake waits for memory (null: it waits no more). */
  | { type: 'memoryWait'; wait: { reason: string; blockedBy: string[] } | null }
  /** Placement gave the start these GPUs: from here on other plans count its budget there. */
  | { type: 'placed'; gpuIndices: readonly number[] }
  /** The runtime created the server (not healthy yet). */
  | { type: 'serverCreated'; instance: Instance }
  /** Healthy. */
  | { type: 'startFinished'; instance: Instance; gpuIndices: readonly number[] }
  /** The start failed: a cool-down that doubles with each consecutive failure. */
  | { type: 'startFailed'; message: string; cause: Error }
  /** The start was abandoned (stop, shutdown) or found no room: no cool-down. */
  | { type: 'startAbandoned'; error: string | null; cause: Error }
  /** A server an earlier gateway left running, adopted awake (at start-up or while a start waited for its runtime). */
  | { type: 'adopted'; instance: Instance; gpuIndices: readonly number[] }
  /** The same, found asleep at `level`. */
  | { type: 'adoptedAsleep'; instance: Instance; gpuIndices: readonly number[]; level: SleepLevel }
  /** A stop was asked for (idle, evict, unload, shutdown): it first abandons a start or wake under way. */
  | { type: 'stopAsked' }
  /** The gateway asks the server itself to stop. */
  | { type: 'stopBegun' }
  /** The server it asked to stop is gone. */
  | { type: 'serverGone'; error: string | null }
  /** The server exited on its own while serving or asleep: requests in flight are cut. */
  | { type: 'serverDied'; error: string; cut: Error }
  /** The gateway asked the server to sleep at `level`. */
  | { type: 'sleepBegun'; level: SleepLevel }
  /** The server confirmed it sleeps: only its residue is left on the GPU. */
  | { type: 'sleepDone' }
  /** The sleep call failed: the server is stopped. */
  | { type: 'sleepFailed' }
  /** A request or a load wants a sleeper: it waits for its memory first. */
  | { type: 'wakeBegun' }
  /** Placement booked its budget again. */
  | { type: 'wakeBooked' }
  /** Awake (/is_sleeping said false). */
  | { type: 'wakeDone' }
  /** No room could be made for it (insufficient_vram or the wait timed out): it sleeps on. */
  | { type: 'wakeAbandoned'; cause: Error }
  /** The wake calls failed: the server is stopped (and the model started anew). */
  | { type: 'wakeFailed' }
  /** Its turn on the GPU is over: it yields to `to` (or now to another start). */
  | { type: 'turnOver'; to: string }
  /** The yield is no longer needed: it serves again. */
  | { type: 'yieldWithdrawn' }
  /** failed → stopped: unloaded, the user acknowledged the failure. */
  | { type: 'failureForgotten' };

export type EventType = LifecycleEvent['type'];

/** What the coordinator carries out after an event (through its Effects). */
export type LifecycleEffect =
  | { kind: 'grant' }
  | { kind: 'armIdle' }
  | { kind: 'clearIdle' }
  | { kind: 'watchExit'; instance: Instance }
  | { kind: 'rejectWaiting'; error: Error }
  | { kind: 'cutInFlight'; error: Error }
  /** Requests still wait for it: start it again. */
  | { kind: 'resumeForQueue' };

/** One model's lifecycle fields: written by reduce() only. */
export interface Lifecycle {
  readonly phase: Phase;
  /** When the public state last changed (epoch ms). */
  readonly since: number;
  readonly error: string | null;
  readonly progress: ModelProgress | null;
  readonly instance: Instance | null;
  /** The last instance, kept for its logs after it is gone. */
  readonly lastInstance: Instance | null;
  /** GPUs it runs on, or has been given by placement while it starts. */
  readonly gpuIndices: readonly number[];
  readonly readyAt: number;
  readonly failures: number;
  readonly coolDownUntil: number;
  /** Phase yielding: the model whose start it yields its memory to. */
  readonly yieldingTo: string | null;
  readonly memoryWait: MemoryWait | null;
  /** fallingAsleep, sleeping, waking, wakeBooked: the level it sleeps at. */
  readonly sleptLevel: SleepLevel | null;
  /** When it last fell asleep (epoch ms): a GPU reading older than that still shows it awake. */
  readonly asleepAt: number;
  /** A stop was asked for and has not reached stopped yet (it may first abandon a start or a wake). */
  readonly stopAsked: boolean;
}

export function initialLifecycle(now: number, phase: 'stopped' | 'ready' = 'stopped'): Lifecycle {
  return {
    phase,
    since: now,
    error: null,
    progress: null,
    instance: null,
    lastInstance: null,
    gpuIndices: [],
    readyAt: 0,
    failures: 0,
    coolDownUntil: 0,
    yieldingTo: null,
    memoryWait: null,
    sleptLevel: null,
    asleepAt: 0,
    stopAsked: false,
  };
}

const PUBLIC: Readonly<Record<Phase, ModelState>> = {
  stopped: 'stopped',
  starting: 'starting',
  pulling: 'pulling',
  ready: 'ready',
  yielding: 'ready',
  fallingAsleep: 'sleeping',
  sleeping: 'sleeping',
  waking: 'waking',
  wakeBooked: 'waking',
  stopping: 'stopping',
  failed: 'failed',
};

export function publicState(phase: Phase): ModelState {
  return PUBLIC[phase];
}

/** Phases in which a model takes over a server found running (adoption). */
export const ADOPTABLE: readonly Phase[] = ['stopped', 'starting', 'failed'];

/** Phases in which a model serves requests: ready and not yielding. */
export const serving = (phase: Phase): boolean => phase === 'ready';

const STARTS: readonly Phase[] = ['starting', 'pulling'];
const WAKES: readonly Phase[] = ['waking', 'wakeBooked'];
const SERVER_UP: readonly Phase[] = ['ready', 'yielding', 'fallingAsleep', 'sleeping', ...WAKES];

/**
 * The transition table: for each event, the phases it may come in and the phase it leads to
 * (`same`: the phase does not change). Anything else is an IllegalEvent.
 */
const TABLE: Readonly<Record<EventType, { from: readonly Phase[]; to: Phase | 'same' }>> = {
  startBegun: { from: ['stopped', 'failed'], to: 'starting' },
  pullBegun: { from: STARTS, to: 'pulling' },
  loadBegun: { from: STARTS, to: 'starting' },
  progress: { from: [...STARTS, ...WAKES], to: 'same' },
  memoryWait: { from: [...STARTS, ...WAKES], to: 'same' },
  placed: { from: STARTS, to: 'same' },
  serverCreated: { from: STARTS, to: 'same' },
  startFinished: { from: STARTS, to: 'ready' },
  startFailed: { from: STARTS, to: 'failed' },
  startAbandoned: { from: STARTS, to: 'stopped' },
  adopted: { from: ADOPTABLE, to: 'ready' },
  adoptedAsleep: { from: ADOPTABLE, to: 'sleeping' },
  stopAsked: { from: [...STARTS, ...SERVER_UP, 'stopping'], to: 'same' },
  stopBegun: { from: SERVER_UP, to: 'stopping' },
  serverGone: { from: ['stopping'], to: 'stopped' },
  serverDied: { from: ['ready', 'yielding', 'fallingAsleep', 'sleeping'], to: 'stopped' },
  sleepBegun: { from: ['ready', 'yielding'], to: 'fallingAsleep' },
  sleepDone: { from: ['fallingAsleep'], to: 'sleeping' },
  sleepFailed: { from: ['fallingAsleep'], to: 'stopping' },
  wakeBegun: { from: ['sleeping'], to: 'waking' },
  wakeBooked: { from: ['waking'], to: 'wakeBooked' },
  wakeDone: { from: ['wakeBooked'], to: 'ready' },
  wakeAbandoned: { from: ['waking'], to: 'sleeping' },
  wakeFailed: { from: WAKES, to: 'stopping' },
  turnOver: { from: ['ready', 'yielding'], to: 'yielding' },
  yieldWithdrawn: { from: ['yielding'], to: 'ready' },
  failureForgotten: { from: ['failed'], to: 'stopped' },
};

export const EVENT_TYPES = Object.keys(TABLE) as EventType[];

export class IllegalEvent extends Error {
  constructor(
    readonly model: string,
    readonly event: EventType,
    readonly phase: Phase,
  ) {
    super(`model ${model}: event ${event} is not allowed in phase ${phase} (a scheduler bug)`);
    this.name = 'IllegalEvent';
  }
}

/** Whether `event` may come in `phase`. */
export function allows(phase: Phase, event: EventType): boolean {
  return TABLE[event].from.includes(phase);
}

/** Cool-down after failed starts: 10 s, doubling, at most 5 min (docs/scheduling.md "Starting a model"). */
export function coolDownMs(consecutiveFailures: number): number {
  return Math.min(300_000, 10_000 * 2 ** Math.max(0, consecutiveFailures - 1));
}

export interface Reduced {
  state: Lifecycle;
  effects: LifecycleEffect[];
}

/** The server's fields, cleared once it is gone. */
const NO_SERVER = {
  instance: null,
  gpuIndices: [],
  sleptLevel: null,
  yieldingTo: null,
  memoryWait: null,
  stopAsked: false,
} as const;

/**
 * Apply one event. Pure: `now` is the only clock. Throws IllegalEvent when the table does not
 * allow it. Returns the same state object when nothing changed (the caller notifies only on change).
 */
export function reduce(s: Lifecycle, e: LifecycleEvent, now: number, model = '?'): Reduced {
  const rule = TABLE[e.type];
  if (!rule.from.includes(s.phase)) throw new IllegalEvent(model, e.type, s.phase);
  const phase = rule.to === 'same' ? s.phase : rule.to;
  const next = (fields: Partial<Lifecycle>, effects: LifecycleEffect[] = []): Reduced => {
    const since = PUBLIC[phase] !== PUBLIC[s.phase] ? now : s.since;
    return { state: { ...s, ...fields, phase, since }, effects };
  };
  switch (e.type) {
    case 'startBegun':
      return next({ error: null, progress: { phase: 'loading', percent: null, message: 'waiting for GPU memory' } });
    case 'pullBegun':
      return next({ progress: { phase: 'pulling', percent: null, message: 'pulling the image' } });
    case 'loadBegun':
      return next({ progress: { phase: 'loading', percent: null, message: 'loading the model' } });
    case 'progress':
      return next({ progress: e.progress });
    case 'memoryWait': {
      const cur = s.memoryWait;
      const w = e.wait;
      if (w === null) return cur === null ? { state: s, effects: [] } : next({ memoryWait: null });
      if (cur && cur.reason === w.reason && cur.blockedBy.join() === w.blockedBy.join()) return { state: s, effects: [] };
      return next({
        memoryWait: { reason: w.reason, blockedBy: [...w.blockedBy], since: cur?.since ?? now },
        progress: { phase: 'loading', percent: null, message: `waiting for GPU memory: ${w.reason}` },
      });
    }
    case 'placed':
      return next({ gpuIndices: [...e.gpuIndices] });
    case 'serverCreated':
      return next({ instance: e.instance, lastInstance: e.instance });
    case 'startFinished':
      return next(becameReady(e.instance, e.gpuIndices, now), [{ kind: 'grant' }]);
    case 'adopted':
      return next({ ...becameReady(e.instance, e.gpuIndices, now), stopAsked: false }, adoptedEffects(e.instance));
    case 'adoptedAsleep':
      return next(
        {
          ...becameReady(e.instance, e.gpuIndices, now),
          sleptLevel: e.level,
          asleepAt: now,
          stopAsked: false,
        },
        adoptedEffects(e.instance),
      );
    case 'startFailed': {
      const failures = s.failures + 1;
      return next({ ...NO_SERVER, failures, coolDownUntil: now + coolDownMs(failures), error: e.message, progress: null }, [
        { kind: 'rejectWaiting', error: e.cause },
      ]);
    }
    case 'startAbandoned':
      return next({ ...NO_SERVER, error: e.error, progress: null }, [{ kind: 'rejectWaiting', error: e.cause }]);
    case 'stopAsked':
      return s.stopAsked ? { state: s, effects: [] } : next({ stopAsked: true });
    case 'stopBegun':
    case 'sleepFailed':
    case 'wakeFailed':
      // A yielder's turn ends here: it is on its way out.
      return next({ yieldingTo: null });
    case 'serverGone':
      return next({ ...NO_SERVER, error: e.error, progress: null });
    case 'serverDied':
      return next({ ...NO_SERVER, error: e.error, progress: null }, [{ kind: 'cutInFlight', error: e.cut }, { kind: 'resumeForQueue' }]);
    case 'sleepBegun':
      return next({ sleptLevel: e.level, yieldingTo: null, progress: null }, [{ kind: 'clearIdle' }]);
    case 'sleepDone':
      return next({ asleepAt: now });
    case 'wakeBegun':
      return next({ progress: { phase: 'loading', percent: null, message: 'waiting for GPU memory' } }, [{ kind: 'clearIdle' }]);
    case 'wakeBooked':
      return next({});
    case 'wakeDone':
      return next(becameReady(s.instance!, s.gpuIndices, now), [{ kind: 'grant' }]);
    case 'wakeAbandoned':
      return next({ memoryWait: null, progress: null }, [{ kind: 'rejectWaiting', error: e.cause }, { kind: 'armIdle' }]);
    case 'turnOver':
      return e.to === s.yieldingTo ? { state: s, effects: [] } : next({ yieldingTo: e.to });
    case 'yieldWithdrawn':
      return next({ yieldingTo: null }, [{ kind: 'grant' }]);
    case 'failureForgotten':
      return next({ coolDownUntil: 0, error: null });
  }
}

/** Healthy: started by this gateway, woken, or adopted from an earlier one (then with its GPUs). */
function becameReady(instance: Instance, gpuIndices: readonly number[], now: number): Partial<Lifecycle> {
  return {
    instance,
    lastInstance: instance,
    gpuIndices: [...gpuIndices],
    readyAt: now,
    failures: 0,
    coolDownUntil: 0,
    error: null,
    progress: null,
    memoryWait: null,
    sleptLevel: null,
    yieldingTo: null,
  };
}

function adoptedEffects(instance: Instance): LifecycleEffect[] {
  return [{ kind: 'watchExit', instance }, { kind: 'armIdle' }, { kind: 'grant' }];
}
