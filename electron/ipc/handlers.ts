// IPC handlers: pure functions of a gateway handle and a few injected dependencies, so they run
// under Node in tests with `electron` replaced. Every handler checks that the sender is the app's
// own window (top frame, app URL) and validates its arguments before touching the gateway.
import type { GatewayHandle } from '../../gateway/gateway-handle.js';
import type { StatusDocument } from '../../gateway/status-types.js';
import {
  INVOKE_CHANNELS,
  IPC,
  MAX_HISTORY_SECONDS,
  MAX_LOG_TAIL,
  type InvokeChannel,
  type InvokeContract,
  type IpcError,
  type IpcResult,
} from '../../common/ipc-contract.js';

/** The parts of Electron's WebFrameMain the checks need. */
export interface SenderFrameLike {
  url: string;
  parent?: unknown;
}

/** The parts of Electron's WebContents the status broadcaster needs. */
export interface SenderLike {
  id: number;
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
  once(event: 'destroyed', listener: () => void): unknown;
}

/** The parts of IpcMainInvokeEvent / IpcMainEvent the handlers need. */
export interface IpcEventLike {
  senderFrame: SenderFrameLike | null;
  sender?: SenderLike;
}

export interface HandlerDeps {
  /** The running gateway, or null while it is starting or could not start. */
  gateway(): GatewayHandle | null;
  /** Why there is no gateway (shown in the window). */
  unavailableReason(): string;
  /** True for the app's own pages (file:// index or the dev server). */
  isAppUrl(url: string): boolean;
  /** shell.openExternal. */
  openExternal(url: string): Promise<void>;
}

export class IpcRejection extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly type = 'invalid_request_error',
  ) {
    super(message);
    this.name = 'IpcRejection';
  }
}

// ------------------------------------------------------------------ checks

/** The sender must be the top frame of one of the app's own pages. */
export function checkSender(event: IpcEventLike | null | undefined, isAppUrl: (url: string) => boolean): void {
  const frame = event?.senderFrame;
  if (!frame || typeof frame.url !== 'string') throw new IpcRejection('forbidden_sender', 'IPC from an unknown frame.', 'permission_error');
  if (frame.parent !== null && frame.parent !== undefined) {
    throw new IpcRejection('forbidden_sender', 'IPC from a subframe is not accepted.', 'permission_error');
  }
  if (!isAppUrl(frame.url))
    throw new IpcRejection('forbidden_sender', `IPC from ${frame.url || 'an unknown page'} is not accepted.`, 'permission_error');
}

const MAX_ID_LENGTH = 256;

function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export function validateModelId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH || hasControlChars(id))
    throw new IpcRejection('invalid_request', 'A model id must be a non-empty string of at most 256 characters.');
  return id;
}

export function validateUnloadOptions(opts: unknown): { force: boolean } {
  if (opts === undefined) return { force: false };
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts))
    throw new IpcRejection('invalid_request', 'Unload options must be an object {force: boolean}.');
  const keys = Object.keys(opts);
  if (keys.some((k) => k !== 'force')) throw new IpcRejection('invalid_request', 'Unload options accept only "force".');
  const force = (opts as { force?: unknown }).force;
  if (force !== undefined && typeof force !== 'boolean') throw new IpcRejection('invalid_request', '"force" must be a boolean.');
  return { force: force === true };
}

export function validateTail(tail: unknown): number {
  if (typeof tail !== 'number' || !Number.isInteger(tail) || tail < 1 || tail > MAX_LOG_TAIL) {
    throw new IpcRejection('invalid_request', `"tail" must be an integer from 1 to ${MAX_LOG_TAIL}.`);
  }
  return tail;
}

export function validateHistorySeconds(seconds: unknown): number {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 1 || seconds > MAX_HISTORY_SECONDS) {
    throw new IpcRejection('invalid_request', `"seconds" must be a number from 1 to ${MAX_HISTORY_SECONDS}.`);
  }
  return seconds;
}

/** Only http(s) URLs, no credentials, of sane length. */
export function validateExternalUrl(url: unknown): string {
  if (typeof url !== 'string' || url.length === 0 || url.length > 2048)
    throw new IpcRejection('invalid_request', 'A URL must be a string of at most 2048 characters.');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new IpcRejection('invalid_request', 'Not a valid URL.');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new IpcRejection('invalid_request', 'Only http and https links can be opened.');
  if (u.username || u.password) throw new IpcRejection('invalid_request', 'Links with credentials are not opened.');
  return u.toString();
}

function arity(args: unknown[], min: number, max: number): void {
  if (args.length < min || args.length > max)
    throw new IpcRejection('invalid_request', `Expected ${min === max ? min : `${min} to ${max}`} argument(s), got ${args.length}.`);
}

// ------------------------------------------------------------------ results

export function toIpcError(err: unknown): IpcError {
  if (err && typeof err === 'object') {
    const e = err as { message?: unknown; code?: unknown; type?: unknown };
    const message = typeof e.message === 'string' && e.message ? e.message : 'Unexpected error.';
    const code = typeof e.code === 'string' ? e.code : 'internal_error';
    const type = typeof e.type === 'string' ? e.type : 'server_error';
    return { message, code, type };
  }
  return { message: String(err ?? 'Unexpected error.'), code: 'internal_error', type: 'server_error' };
}

async function settle<T>(fn: () => Promise<T> | T): Promise<IpcResult<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return { ok: false, error: toIpcError(err) };
  }
}

// ------------------------------------------------------------------ handlers

export type InvokeHandler<C extends InvokeChannel> = (
  event: IpcEventLike,
  ...args: unknown[]
) => Promise<IpcResult<InvokeContract[C]['result']>>;
export type InvokeHandlers = { [C in InvokeChannel]: InvokeHandler<C> };

/** One invoke channel: how its arguments are checked, and what it does with them. */
interface ChannelSpec<C extends InvokeChannel> {
  /** Checks and normalises what the renderer sent; throws IpcRejection. */
  args(raw: unknown[]): InvokeContract[C]['args'];
  run(...args: InvokeContract[C]['args']): Promise<InvokeContract[C]['result']> | InvokeContract[C]['result'];
}

type ChannelSpecs = { [C in InvokeChannel]: ChannelSpec<C> };

/** The one place every invoke passes through: sender check, argument check, then the action. */
function guarded<C extends InvokeChannel>(spec: ChannelSpec<C>, isAppUrl: (url: string) => boolean): InvokeHandler<C> {
  return (event, ...raw) =>
    settle(() => {
      checkSender(event, isAppUrl);
      return spec.run(...spec.args(raw));
    });
}

export function createIpcHandlers(deps: HandlerDeps): InvokeHandlers {
  const gw = (): GatewayHandle => {
    const g = deps.gateway();
    if (!g) throw new IpcRejection('gateway_unavailable', deps.unavailableReason(), 'server_error');
    return g;
  };
  const specs: ChannelSpecs = {
    [IPC.statusGet]: {
      args: (a) => (arity(a, 0, 0), []),
      run: () => gw().status(),
    },
    [IPC.statusHistory]: {
      args: (a) => (arity(a, 1, 1), [validateHistorySeconds(a[0])]),
      run: (seconds) => gw().history(seconds),
    },
    [IPC.modelsLoad]: {
      args: (a) => (arity(a, 1, 1), [validateModelId(a[0])]),
      run: (id) => gw().load(id),
    },
    [IPC.modelsUnload]: {
      args: (a) => (arity(a, 1, 2), [validateModelId(a[0]), validateUnloadOptions(a[1])]),
      run: (id, opts) => gw().unload(id, opts),
    },
    [IPC.modelsSleep]: {
      args: (a) => (arity(a, 1, 1), [validateModelId(a[0])]),
      run: (id) => gw().sleep(id),
    },
    [IPC.modelsLogs]: {
      args: (a) => (arity(a, 2, 2), [validateModelId(a[0]), validateTail(a[1])]),
      run: (id, tail) => gw().logs(id, tail),
    },
    [IPC.shellOpenExternal]: {
      args: (a) => (arity(a, 1, 1), [validateExternalUrl(a[0])]),
      run: async (url) => {
        await deps.openExternal(url);
        return null;
      },
    },
  };
  const handlers = {} as Record<InvokeChannel, unknown>;
  for (const channel of INVOKE_CHANNELS) handlers[channel] = guarded(specs[channel] as ChannelSpec<typeof channel>, deps.isAppUrl);
  return handlers as InvokeHandlers;
}

// ------------------------------------------------------------------ status push

/** Keeps the windows that asked for status pushes and sends them each new document. */
export class StatusBroadcaster {
  private readonly subscribers = new Map<number, SenderLike>();

  constructor(private readonly isAppUrl: (url: string) => boolean) {}

  /** Handles `status:subscribe`; returns false (and subscribes nothing) for a foreign sender. */
  subscribe(event: IpcEventLike): boolean {
    try {
      checkSender(event, this.isAppUrl);
    } catch {
      return false;
    }
    const wc = event.sender;
    if (!wc || wc.isDestroyed() || this.subscribers.has(wc.id)) return Boolean(wc && !wc.isDestroyed());
    this.subscribers.set(wc.id, wc);
    wc.once('destroyed', () => this.subscribers.delete(wc.id));
    return true;
  }

  unsubscribe(event: IpcEventLike): void {
    if (event.sender) this.subscribers.delete(event.sender.id);
  }

  push(doc: StatusDocument): void {
    for (const [id, wc] of this.subscribers) {
      if (wc.isDestroyed()) {
        this.subscribers.delete(id);
        continue;
      }
      wc.send(IPC.statusPush, doc);
    }
  }

  get size(): number {
    return this.subscribers.size;
  }
}

/** The parts of Electron's ipcMain used to register the handlers. */
export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcEventLike, ...args: unknown[]) => unknown): void;
  on(channel: string, listener: (event: IpcEventLike, ...args: unknown[]) => void): unknown;
}

export function registerIpc(ipcMain: IpcMainLike, handlers: InvokeHandlers, broadcaster: StatusBroadcaster): void {
  for (const channel of INVOKE_CHANNELS) {
    const handler = handlers[channel] as (event: IpcEventLike, ...args: unknown[]) => Promise<unknown>;
    ipcMain.handle(channel, (event, ...args) => handler(event, ...args));
  }
  ipcMain.on(IPC.statusSubscribe, (event) => void broadcaster.subscribe(event));
  ipcMain.on(IPC.statusUnsubscribe, (event) => broadcaster.unsubscribe(event));
}
