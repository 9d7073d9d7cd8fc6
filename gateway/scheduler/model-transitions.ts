// A model's lifecycle as a table (see design.md for the picture). Every state change goes through
// ModelEntry's named transitions, which check this table: a transition the table does not allow is
// a bug in the scheduler, reported loudly rather than leaving a model in a state nothing expects.
// A new state (e.g. sleeping / waking) is one row here plus the transitions that use it.

import type { ModelState } from '../status-types.js';

export const TRANSITIONS: Readonly<Record<ModelState, readonly ModelState[]>> = {
  // adopted at gateway start → ready
  stopped: ['starting', 'ready'],
  // the runtime's phases; healthy → ready; failed → failed (cool-down); abandoned / no room → stopped
  starting: ['pulling', 'starting', 'ready', 'failed', 'stopped'],
  pulling: ['starting', 'pulling', 'ready', 'failed', 'stopped'],
  // stop (idle, evict, unload, shutdown) → stopping; the server dies on its own → stopped
  ready: ['stopping', 'stopped'],
  stopping: ['stopped'],
  // started again after the cool-down; unloaded (failure acknowledged) → stopped; adopted once
  // the runtime answers (a start failed while it could not be asked) → ready
  failed: ['starting', 'stopped', 'ready'],
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
