// A model's lifecycle as a table (see design.md for the picture). Every state change goes through
// ModelEntry's named transitions, which check this table: a transition the table does not allow is
// a bug in the scheduler, reported loudly rather than leaving a model in a state nothing expects.
// sleeping / waking are vLLM sleep mode (docs/scheduling.md "Sleep mode").

import type { ModelState } from '../status-types.js';

export const TRANSITIONS: Readonly<Record<ModelState, readonly ModelState[]>> = {
  // adopted at gateway start → ready, or sleeping (a server found asleep)
  stopped: ['starting', 'ready', 'sleeping'],
  // the runtime's phases; healthy → ready; failed → failed (cool-down); abandoned / no room → stopped;
  // adopted while the start waited for its runtime → ready / sleeping
  starting: ['pulling', 'starting', 'ready', 'sleeping', 'failed', 'stopped'],
  pulling: ['starting', 'pulling', 'ready', 'sleeping', 'failed', 'stopped'],
  // stop (idle, evict, unload, shutdown) → stopping; put to sleep (evict, admin) → sleeping; the
  // server dies on its own → stopped
  ready: ['stopping', 'sleeping', 'stopped'],
  // woken for a request or a load → waking; stopped (second tier, idle ttl, unload, a failed
  // sleep) → stopping; dies on its own → stopped
  sleeping: ['waking', 'stopping', 'stopped'],
  // awake → ready; no room for it (insufficient_vram) → sleeping again; a wake that failed or was
  // abandoned → stopping; dies → stopped
  waking: ['ready', 'sleeping', 'stopping', 'stopped'],
  stopping: ['stopped'],
  // started again after the cool-down; unloaded (failure acknowledged) → stopped; adopted once
  // the runtime answers (a start failed while it could not be asked) → ready / sleeping
  failed: ['starting', 'stopped', 'ready', 'sleeping'],
};

export class IllegalTransition extends Error {
  constructor(
    readonly model: string,
    readonly transition: string,
    readonly from: ModelState,
    readonly to: ModelState,
  ) {
    super(`model ${model}: transition ${transition} from ${from} to ${to} is not allowed`);
    this.name = 'IllegalTransition';
  }
}

export function canTransition(from: ModelState, to: ModelState): boolean {
  return TRANSITIONS[from].includes(to);
}
