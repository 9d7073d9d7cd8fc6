// GatewayApi over Electron IPC, through the `window.gateway` bridge the preload exposes. The
// bridge resolves with values and rejects with Errors whose message is `[code] message`
// (formatBridgeError in common/ipc-contract.ts); this turns those back into ApiErrors, so that
// e.g. `model_busy` still leads to the confirm-before-force dialog.
import { parseBridgeError, type GatewayBridge } from '../../common/ipc-contract.js';
import type { HistoryDocument, ModelStatus, StatusDocument } from '../../gateway/status-types.js';
import { ApiError, type GatewayApi } from './gateway-api.js';

/** An ApiError from whatever a bridge method rejected with. */
export function bridgeApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const text =
    err && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string'
      ? (err as { message: string }).message
      : typeof err === 'string'
        ? err
        : '';
  const parsed = parseBridgeError(text);
  if (parsed) return new ApiError(parsed.message || 'Something went wrong.', { code: parsed.code });
  return new ApiError(text || 'No answer from the app.', { code: 'ipc_error' });
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw bridgeApiError(err);
  }
}

export class IpcGatewayApi implements GatewayApi {
  readonly mode = 'desktop' as const;
  readonly canControl = true;

  constructor(private readonly bridge: GatewayBridge) {}

  status(): Promise<StatusDocument> {
    return call(() => this.bridge.status());
  }

  onStatus(cb: (doc: StatusDocument) => void, signal?: AbortSignal): () => void {
    if (signal?.aborted) return () => {};
    // The signal is not passed across: it may arrive in the preload as a copy without its
    // methods. It is mapped onto the returned unsubscribe function instead, which always works.
    const off = this.bridge.onStatus(cb);
    let done = false;
    const close = () => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', close);
      off();
    };
    signal?.addEventListener('abort', close, { once: true });
    return close;
  }

  load(id: string): Promise<ModelStatus> {
    return call(() => this.bridge.load(id));
  }

  unload(id: string, opts: { force: boolean }): Promise<ModelStatus> {
    return call(() => this.bridge.unload(id, { force: opts.force }));
  }

  sleep(id: string): Promise<ModelStatus> {
    return call(() => this.bridge.sleep(id));
  }

  logs(id: string, tail: number): Promise<string> {
    return call(() => this.bridge.logs(id, tail));
  }

  history(seconds: number): Promise<HistoryDocument> {
    return call(() => this.bridge.history(seconds));
  }

  async openExternal(url: string): Promise<void> {
    await call(() => this.bridge.openExternal(url));
  }
}
