// The one typed IPC contract between the renderer (through the preload) and Electron main
// (docs/desktop.md). Channels are named `domain:action`. This module has no runtime dependencies
// so that the preload bundle and the renderer can both use it (the renderer imports its types and
// the pure bridge-error helpers below).
import type { HistoryDocument, ModelStatus, StatusDocument } from '../gateway/status-types.js';

export const IPC = {
  /** invoke → IpcResult<StatusDocument> */
  statusGet: 'status:get',
  /** invoke(seconds) → IpcResult<HistoryDocument>: the twin of GET /gateway/history */
  statusHistory: 'status:history',
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
  /** invoke(id) → IpcResult<ModelStatus>: put a ready, idle model to sleep (vLLM sleep mode) */
  modelsSleep: 'models:sleep',
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
  'status:history': { args: [seconds: number]; result: HistoryDocument };
  'models:load': { args: [id: string]; result: ModelStatus };
  'models:unload': { args: [id: string, opts: { force: boolean }]; result: ModelStatus };
  'models:sleep': { args: [id: string]; result: ModelStatus };
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

/** Every invoke channel once: `satisfies` makes the compiler refuse a channel missing or unknown. */
const INVOKE_CHANNEL_SET = {
  [IPC.statusGet]: true,
  [IPC.statusHistory]: true,
  [IPC.modelsLoad]: true,
  [IPC.modelsUnload]: true,
  [IPC.modelsSleep]: true,
  [IPC.modelsLogs]: true,
  [IPC.shellOpenExternal]: true,
} as const satisfies Record<InvokeChannel, true>;

export const INVOKE_CHANNELS = Object.keys(INVOKE_CHANNEL_SET) as readonly InvokeChannel[];

/**
 * What the preload exposes as `window.gateway` (exactly these members, docs/desktop.md).
 *
 * The channels between main and the preload carry `IpcResult` envelopes; the preload unwraps them,
 * so these methods resolve with the value itself. On an error they reject with an `Error` whose
 * message is the bridge-error format (see `formatBridgeError`):
 *
 *     [<code>] <message>        e.g.  "[model_busy] llama has 2 requests in flight"
 *
 * because only an Error's message survives contextBridge (its `code` and other properties are
 * dropped). `<code>` matches `BRIDGE_ERROR_CODE` (letters, digits, `_ . : -`); the error `type` is
 * not carried. `parseBridgeError` reads it back (the renderer's IPC GatewayApi makes an ApiError
 * of it). Failures of the IPC itself (no handler, malformed answer) use the code `ipc_error`.
 */
export interface GatewayBridge {
  status(): Promise<StatusDocument>;
  /**
   * Calls cb with every status document pushed by main; returns the unsubscribe function. With a
   * signal, also unsubscribes when it aborts, where the signal still works on the preload's side:
   * an AbortSignal passed from the page through contextBridge may arrive as a plain copied object
   * without its methods, so callers should rely on the returned function (the renderer's IPC
   * GatewayApi maps its own signal onto it).
   */
  onStatus(cb: (doc: StatusDocument) => void, signal?: AbortSignal): () => void;
  load(id: string): Promise<ModelStatus>;
  /** opts.force defaults to false. */
  unload(id: string, opts?: { force: boolean }): Promise<ModelStatus>;
  sleep(id: string): Promise<ModelStatus>;
  logs(id: string, tail: number): Promise<string>;
  /** GPU memory and tokens/s over the last `seconds` (1–300, default 300) at the poll interval. */
  history(seconds?: number): Promise<HistoryDocument>;
  /** http(s) URLs only. */
  openExternal(url: string): Promise<void>;
}

/** The error codes the bridge-error format carries. */
export const BRIDGE_ERROR_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;

const BRIDGE_ERROR = /^\[([A-Za-z0-9_.:-]{1,64})\] ([\s\S]*)$/;

/** `[code] message`: the message of the Error a `window.gateway` method rejects with. */
export function formatBridgeError(error: Pick<IpcError, 'code' | 'message'>): string {
  const code = typeof error.code === 'string' && BRIDGE_ERROR_CODE.test(error.code) ? error.code : 'internal_error';
  const message = typeof error.message === 'string' && error.message ? error.message : 'Unexpected error.';
  return `[${code}] ${message}`;
}

/** Reads `[code] message` back; null when the text is not in that format. */
export function parseBridgeError(text: string): { code: string; message: string } | null {
  const m = BRIDGE_ERROR.exec(text);
  return m ? { code: m[1], message: m[2] } : null;
}

export const BRIDGE_KEYS = [
  'status',
  'onStatus',
  'load',
  'unload',
  'sleep',
  'logs',
  'history',
  'openExternal',
] as const satisfies readonly (keyof GatewayBridge)[];

/** Largest tail the logs channel accepts. */
export { MAX_LOG_TAIL } from '../gateway/model-actions.js';

/** The history window (GET /gateway/history keeps the last 5 minutes). */
export const MAX_HISTORY_SECONDS = 300;
