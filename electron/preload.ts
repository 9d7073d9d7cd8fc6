// The preload: exposes exactly `window.gateway` (CONTRACT.md §6) through contextBridge.
// Sandboxed preloads cannot load ES modules or local files: this file is bundled into
// dist/electron/preload.cjs (CommonJS, only `require('electron')`) by build/vite.preload.config.ts.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { IPC, type GatewayBridge, type IpcResult } from './ipc/contract.js';
import type { ModelStatus, StatusDocument } from '../gateway/status-types.js';

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

const bridge: GatewayBridge = {
  status: () => ipcRenderer.invoke(IPC.statusGet) as Promise<IpcResult<StatusDocument>>,
  onStatus(cb) {
    if (typeof cb !== 'function') throw new TypeError('onStatus needs a callback');
    listeners.add(cb);
    if (listeners.size === 1) {
      ipcRenderer.on(IPC.statusPush, onPush);
      ipcRenderer.send(IPC.statusSubscribe);
    }
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      listeners.delete(cb);
      if (listeners.size === 0) {
        ipcRenderer.removeListener(IPC.statusPush, onPush);
        ipcRenderer.send(IPC.statusUnsubscribe);
      }
    };
  },
  load: (id) => ipcRenderer.invoke(IPC.modelsLoad, id) as Promise<IpcResult<ModelStatus>>,
  unload: (id, opts) => ipcRenderer.invoke(IPC.modelsUnload, id, { force: opts?.force === true }) as Promise<IpcResult<ModelStatus>>,
  logs: (id, tail) => ipcRenderer.invoke(IPC.modelsLogs, id, tail) as Promise<IpcResult<string>>,
  openExternal: (url) => ipcRenderer.invoke(IPC.shellOpenExternal, url) as Promise<IpcResult<null>>,
};

contextBridge.exposeInMainWorld('gateway', bridge);
