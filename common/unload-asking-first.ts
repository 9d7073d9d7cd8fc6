// The by-hand unload as both UIs offer it (tray and dashboard): a model with requests in flight or
// queued is only stopped with force after the user agreed, because force ends those requests with
// 503. Pure and UI-agnostic (no Electron, no DOM): the tray passes a native dialog as `confirm`,
// the dashboard its own modal, whose buttons resolve the promise.

/** Why the user is asked: the gateway refused the plain unload, or the caller knew it was busy. */
export type BusyReason = { kind: 'refused'; message: string } | { kind: 'known-busy' };

export interface UnloadAskingDeps {
  /** Stops the model; rejects with an error whose `code` is 'model_busy' when busy and not forced. */
  unload(id: string, opts: { force: boolean }): Promise<unknown>;
  /** Asks whether to end the model's requests; true to force. */
  confirm(id: string, reason: BusyReason): Promise<boolean> | boolean;
}

export interface UnloadAskingOptions {
  /** Ask before the first try (the status already shows requests in flight or queued). */
  knownBusy?: boolean;
}

/** 'unloaded' without force, 'forced' after the user agreed, 'kept' when the user declined. */
export type UnloadOutcome = 'unloaded' | 'forced' | 'kept';

/** The error code the gateway answers a plain unload of a busy model with (409). */
export const MODEL_BUSY = 'model_busy';

export function isModelBusy(err: unknown): err is { code: typeof MODEL_BUSY; message: string } {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === MODEL_BUSY;
}

/**
 * Unloads `id`, never with force unless `confirm` said yes. A plain unload refused with model_busy
 * asks and then forces; any other failure (and any failure of the forced unload) is rethrown.
 */
export async function unloadAskingFirst(id: string, deps: UnloadAskingDeps, opts: UnloadAskingOptions = {}): Promise<UnloadOutcome> {
  if (opts.knownBusy) return forceIfConfirmed(id, deps, { kind: 'known-busy' });
  try {
    await deps.unload(id, { force: false });
    return 'unloaded';
  } catch (err) {
    if (!isModelBusy(err)) throw err;
    const message = typeof err.message === 'string' ? err.message : '';
    return forceIfConfirmed(id, deps, { kind: 'refused', message });
  }
}

async function forceIfConfirmed(id: string, deps: UnloadAskingDeps, reason: BusyReason): Promise<UnloadOutcome> {
  if (!(await deps.confirm(id, reason))) return 'kept';
  await deps.unload(id, { force: true });
  return 'forced';
}
