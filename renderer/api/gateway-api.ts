// The one interface the dashboard talks to (docs/desktop.md). Two implementations:
// ipc-api.ts (desktop, through the preload's window.gateway) and http-api.ts (browser, /ui).
// The renderer never imports Node or Electron; status types are imported type-only.
import type { HistoryDocument, ModelStatus, StatusDocument } from '../../gateway/status-types.js';

export type { HistoryDocument, ModelStatus, StatusDocument };

export interface GatewayApi {
  /** 'desktop' over IPC, 'browser' over HTTP + SSE. */
  readonly mode: 'desktop' | 'browser';
  /** False when state-changing calls will be refused (browser without the admin token). */
  readonly canControl: boolean;
  status(): Promise<StatusDocument>;
  /** Calls cb with every new status document until signal aborts; also returns an unsubscribe. */
  onStatus(cb: (doc: StatusDocument) => void, signal?: AbortSignal): () => void;
  load(id: string): Promise<ModelStatus>;
  unload(id: string, opts: { force: boolean }): Promise<ModelStatus>;
  logs(id: string, tail: number): Promise<string>;
  /** GPU memory and tokens/s over the last `seconds` (1–300) at the poll interval. */
  history(seconds: number): Promise<HistoryDocument>;
  /** Opens an http(s) URL in the user's browser. */
  openExternal(url: string): Promise<void>;
}

/** An error the gateway answered with ({error:{message,type,code,param}}), or a transport failure. */
export class ApiError extends Error {
  readonly code: string;
  readonly type: string;
  readonly status: number | null;

  constructor(
    message: string,
    opts: {
      code?: string | null;
      type?: string | null;
      status?: number | null;
    } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.code = opts.code ?? 'unknown_error';
    this.type = opts.type ?? 'server_error';
    this.status = opts.status ?? null;
  }
}

export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}

/** The message to show for anything thrown by a GatewayApi call. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error && err.message) return err.message;
  if (typeof err === 'string' && err) return err;
  return 'Something went wrong.';
}
