// The one typed IPC contract between the renderer (through the preload) and Electron main
// (CONTRACT.md §6). Channels are named `domain:action`. This module has no runtime dependencies
// so that the preload bundle and the renderer (type-only) can both use it.
import type { ModelStatus, StatusDocument } from '../../gateway/status-types.js';

export const IPC = {
  /** invoke → IpcResult<StatusDocument> */
  statusGet: 'status:get',
  /** send: start pushing status documents to this window */
  statusSubscribe: 'status:subscribe',
  /** send: stop pushing */
  statusUnsubscribe: 'status:unsubscribe',
  /** main → renderer: a new status document */
  statusPush: 'status:push',
  /** invoke(id) → IpcResult<ModelStatus> */
  modelsLoad: 'models:load',
  /** invoke(id, {force}) → IpcResult<ModelStatus> */
  modelsUnload: 'models:unload',
  /** invoke(id, tail) → IpcResult<string> */
  modelsLogs: 'models:logs',
  /** invoke(url) → IpcResult<null>; http(s) only */
  shellOpenExternal: 'shell:openExternal',
} as const;

export type IpcChannel = (typeof IPC)[keyof typeof IPC];

/** Errors cross the bridge as data: Error objects lose their code through contextBridge. */
export interface IpcError {
  message: string;
  code: string;
  type: string;
}

export type IpcResult<T> = { ok: true; value: T } | { ok: false; error: IpcError };

/** Request/response channels (ipcRenderer.invoke / ipcMain.handle): argument tuple and result. */
export interface InvokeContract {
  'status:get': { args: []; result: StatusDocument };
  'models:load': { args: [id: string]; result: ModelStatus };
  'models:unload': { args: [id: string, opts: { force: boolean }]; result: ModelStatus };
  'models:logs': { args: [id: string, tail: number]; result: string };
  'shell:openExternal': { args: [url: string]; result: null };
}

export type InvokeChannel = keyof InvokeContract;

/** One-way renderer → main messages (ipcRenderer.send / ipcMain.on). */
export interface SendContract {
  'status:subscribe': { args: [] };
  'status:unsubscribe': { args: [] };
}

/** main → renderer pushes (webContents.send / ipcRenderer.on). */
export interface PushContract {
  'status:push': { payload: StatusDocument };
}

export const INVOKE_CHANNELS: readonly InvokeChannel[] = [
  IPC.statusGet,
  IPC.modelsLoad,
  IPC.modelsUnload,
  IPC.modelsLogs,
  IPC.shellOpenExternal,
];

/** What the preload exposes as `window.gateway` (exactly these members). */
export interface GatewayBridge {
  status(): Promise<IpcResult<StatusDocument>>;
  /**
   * Calls cb with every status document pushed by main; returns the unsubscribe function.
   * (An AbortSignal cannot cross contextBridge, so the renderer's IPC GatewayApi maps its
   * signal onto this function.)
   */
  onStatus(cb: (doc: StatusDocument) => void): () => void;
  load(id: string): Promise<IpcResult<ModelStatus>>;
  unload(id: string, opts: { force: boolean }): Promise<IpcResult<ModelStatus>>;
  logs(id: string, tail: number): Promise<IpcResult<string>>;
  openExternal(url: string): Promise<IpcResult<null>>;
}

export const BRIDGE_KEYS = [
  'status',
  'onStatus',
  'load',
  'unload',
  'logs',
  'openExternal',
] as const satisfies readonly (keyof GatewayBridge)[];

/** Largest tail the logs channel accepts. */
export const MAX_LOG_TAIL = 10_000;
