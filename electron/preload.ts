// The preload: exposes exactly `window.gateway` (docs/desktop.md) through contextBridge.
// Sandboxed preloads cannot load ES modules or local files: this file is bundled into
// dist/electron/preload.cjs (CommonJS, only `require('electron')`) by build/vite.preload.config.ts.
//
// The channels to main answer with IpcResult envelopes; this file unwraps them, so the page sees
// `status(): Promise<StatusDocument>` and friends, and errors as rejected Errors whose message is
// `[code] message` (formatBridgeError in common/ipc-contract.ts: only the message crosses contextBridge).
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import {
  formatBridgeError,
  IPC,
  type GatewayBridge,
  type InvokeChannel,
  type InvokeContract,
  type IpcResult,
} from '../common/ipc-contract.js';
import type { StatusDocument } from '../gateway/status-types.js';

function bridgeError(code: string, message: string): Error {
  return new Error(formatBridgeError({ code, message }));
}

/** Invokes a channel and unwraps its envelope: the value, or a rejection with `[code] message`. */
async function call<C extends InvokeChannel>(channel: C, ...args: InvokeContract[C]['args']): Promise<InvokeContract[C]['result']> {
  let result: IpcResult<InvokeContract[C]['result']> | undefined;
  try {
    result = (await ipcRenderer.invoke(channel, ...args)) as IpcResult<InvokeContract[C]['result']> | undefined;
  } catch (err) {
    // The IPC itself failed (no handler registered, main went away): no envelope to read.
    const message = (err as { message?: unknown } | null)?.message; // duck-typed: errors may come from another realm
    throw bridgeError('ipc_error', typeof message === 'string' && message ? message : String(err ?? 'IPC failed.'));
  }
  if (result && typeof result === 'object') {
    if (result.ok === true) return result.value;
    if (result.ok === false && result.error && typeof result.error === 'object') {
      throw bridgeError(result.error.code, result.error.message);
    }
  }
  throw bridgeError('ipc_error', 'No answer from the app.');
}

const listeners = new Set<(doc: StatusDocument) => void>();

function onPush(_event: IpcRendererEvent, doc: StatusDocument): void {
  for (const cb of [...listeners]) {
    try {
      cb(doc);
    } catch {
      /* a failing listener must not stop the others */
    }
  }
}

/** What of an AbortSignal may be left after contextBridge copied it (see onStatus). */
type SignalLike = { aborted?: unknown; addEventListener?: unknown; removeEventListener?: unknown } | null | undefined;

const bridge: GatewayBridge = {
  status: () => call(IPC.statusGet),
  onStatus(cb, signal) {
    if (typeof cb !== 'function') throw new TypeError('onStatus needs a callback');
    // The signal comes from the page's world. contextBridge passes plain data across and copies
    // objects it does not know without their prototype, so an AbortSignal may arrive here as a
    // plain object whose `aborted` was read at call time and whose methods are gone. Hence:
    // already aborted → subscribe to nothing; a working addEventListener → unsubscribe on
    // 'abort'; anything else → only the returned function unsubscribes (what the renderer's IPC
    // GatewayApi uses: it maps its own signal onto that function, which always works).
    const sig = signal as SignalLike;
    if (sig?.aborted === true) return () => {};
    listeners.add(cb);
    if (listeners.size === 1) {
      ipcRenderer.on(IPC.statusPush, onPush);
      ipcRenderer.send(IPC.statusSubscribe);
    }
    let active = true;
    const off = () => {
      if (!active) return;
      active = false;
      if (typeof sig?.removeEventListener === 'function') {
        try {
          (sig as AbortSignal).removeEventListener('abort', off);
        } catch {
          /* a proxied signal that went away: nothing to remove */
        }
      }
      listeners.delete(cb);
      if (listeners.size === 0) {
        ipcRenderer.removeListener(IPC.statusPush, onPush);
        ipcRenderer.send(IPC.statusUnsubscribe);
      }
    };
    if (typeof sig?.addEventListener === 'function') {
      try {
        (sig as AbortSignal).addEventListener('abort', off, { once: true });
      } catch {
        /* not a real EventTarget after all: the returned function still unsubscribes */
      }
    }
    return off;
  },
  load: (id) => call(IPC.modelsLoad, id),
  unload: (id, opts) => call(IPC.modelsUnload, id, { force: opts?.force === true }),
  sleep: (id) => call(IPC.modelsSleep, id),
  logs: (id, tail) => call(IPC.modelsLogs, id, tail),
  history: (seconds) => call(IPC.statusHistory, seconds ?? 300),
  openExternal: async (url) => {
    await call(IPC.shellOpenExternal, url);
  },
};

contextBridge.exposeInMainWorld('gateway', bridge);
