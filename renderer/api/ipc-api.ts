// GatewayApi over Electron IPC, through the `window.gateway` bridge the preload exposes.
import type { GatewayBridge, IpcResult } from '../../electron/ipc/contract.js';
import type { ModelStatus, StatusDocument } from '../../gateway/status-types.js';
import { ApiError, type GatewayApi } from './gateway-api.js';

function unwrap<T>(result: IpcResult<T>): T {
  if (result && result.ok) return result.value;
  const e =
    result && !result.ok
      ? result.error
      : {
          message: 'No answer from the app.',
          code: 'ipc_error',
          type: 'server_error',
        };
  throw new ApiError(e.message, { code: e.code, type: e.type });
}

export class IpcGatewayApi implements GatewayApi {
  readonly mode = 'desktop' as const;
  readonly canControl = true;

  constructor(private readonly bridge: GatewayBridge) {}

  async status(): Promise<StatusDocument> {
    return unwrap(await this.bridge.status());
  }

  onStatus(cb: (doc: StatusDocument) => void, signal?: AbortSignal): () => void {
    if (signal?.aborted) return () => {};
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

  async load(id: string): Promise<ModelStatus> {
    return unwrap(await this.bridge.load(id));
  }

  async unload(id: string, opts: { force: boolean }): Promise<ModelStatus> {
    return unwrap(await this.bridge.unload(id, { force: opts.force }));
  }

  async logs(id: string, tail: number): Promise<string> {
    return unwrap(await this.bridge.logs(id, tail));
  }

  async openExternal(url: string): Promise<void> {
    unwrap(await this.bridge.openExternal(url));
  }
}
