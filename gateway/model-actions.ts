// The one front door for what a user asks of a model by hand: load, unload, sleep, logs. The admin HTTP
// routes and the Electron shell (through the GatewayHandle) both go through it, so lookup, the
// busy rule (inside scheduler.unload) and the log-tail bounds are written once.

import { errors } from './errors.js';
import type { ModelEntry } from './scheduler/model-entry.js';
import type { Scheduler } from './scheduler/scheduler.js';
import type { ModelStatus, StatusDocument } from './status-types.js';

/** Largest `tail` a logs request may ask for; the default when it asks for none. */
export const MAX_LOG_TAIL = 10_000;
export const DEFAULT_LOG_TAIL = 200;

export interface ModelActions {
  /** The model's entry, by id or alias; model_not_found otherwise. */
  lookup(id: string): ModelEntry;
  /** Starts the model (evicting as needed); resolves with its status entry once ready. */
  load(id: string): Promise<ModelStatus>;
  /** Starts the model without waiting; the outcome shows in the status document. */
  loadInBackground(id: string): ModelStatus;
  /** Stops the model; model_busy while it has requests in flight or queued, unless `force`. */
  unload(id: string, opts?: { force?: boolean }): Promise<ModelStatus>;
  /** Puts a ready, idle model to sleep; sleep_not_enabled, model_not_ready or model_busy otherwise. */
  sleep(id: string): Promise<ModelStatus>;
  /** The last `tail` lines (1…MAX_LOG_TAIL) of its server's output, whole (callers redact). */
  logs(id: string, tail?: number): Promise<string>;
  /** The model's entry of the status document. */
  statusOf(id: string): ModelStatus;
}

export function createModelActions(scheduler: Scheduler, status: () => StatusDocument): ModelActions {
  const lookup = (id: string): ModelEntry => {
    const entry = scheduler.entries.get(id) ?? scheduler.resolve(id);
    if (!entry) throw errors.unknownModelId(id);
    return entry;
  };
  const entryStatus = (entry: ModelEntry): ModelStatus => status().models.find((m) => m.id === entry.id)!;
  return {
    lookup,
    statusOf: (id) => entryStatus(lookup(id)),
    async load(id) {
      const entry = lookup(id);
      await scheduler.load(entry);
      return entryStatus(entry);
    },
    loadInBackground(id) {
      const entry = lookup(id);
      scheduler.load(entry).catch(() => {}); // the outcome shows in the status document
      return entryStatus(entry);
    },
    async unload(id, opts) {
      const entry = lookup(id);
      await scheduler.unload(entry, opts?.force === true);
      return entryStatus(entry);
    },
    async sleep(id) {
      const entry = lookup(id);
      await scheduler.sleep(entry);
      return entryStatus(entry);
    },
    async logs(id, tail = DEFAULT_LOG_TAIL) {
      const entry = lookup(id);
      if (!Number.isInteger(tail) || tail < 1 || tail > MAX_LOG_TAIL) {
        throw errors.logTailOutOfRange(MAX_LOG_TAIL);
      }
      return entry.lastInstance ? entry.lastInstance.logs(tail) : '';
    },
  };
}
