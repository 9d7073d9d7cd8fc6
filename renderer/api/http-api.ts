// GatewayApi over HTTP + Server-Sent Events, for the dashboard served by the gateway at /ui.
import type { HistoryDocument, ModelStatus, StatusDocument } from '../../gateway/status-types.js';
import { ApiError, type GatewayApi } from './gateway-api.js';
import { readSse } from './sse-fetch.js';

export interface HttpApiOptions {
  /** Origin (and optional path prefix) of the gateway; '' = same origin as the page. */
  baseUrl?: string;
  /**
   * Admin token: sent as a bearer on every request (POST /gateway/* needs it, and so does every
   * GET once the gateway has API keys set); null = read-only.
   */
  adminToken: string | null;
  fetch?: typeof fetch;
  EventSource?: typeof EventSource;
  openWindow?: (url: string) => void;
}

async function errorFrom(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`.trim();
  let code: string | null = null;
  let type: string | null = null;
  try {
    const text = await res.text();
    try {
      const body = JSON.parse(text) as {
        error?: { message?: unknown; code?: unknown; type?: unknown };
      };
      if (body && typeof body.error === 'object' && body.error) {
        if (typeof body.error.message === 'string' && body.error.message) message = body.error.message;
        if (typeof body.error.code === 'string') code = body.error.code;
        if (typeof body.error.type === 'string') type = body.error.type;
      }
    } catch {
      if (text.trim()) message = text.trim().slice(0, 500);
    }
  } catch {
    /* body unreadable: keep the status line */
  }
  return new ApiError(message, { code, type, status: res.status });
}

export function isHttpUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

export class HttpGatewayApi implements GatewayApi {
  readonly mode = 'browser' as const;
  readonly canControl: boolean;
  private readonly base: string;
  private readonly token: string | null;
  private readonly fetchImpl: typeof fetch;
  private readonly EventSourceImpl: typeof EventSource | undefined;
  private readonly openWindow: (url: string) => void;

  constructor(opts: HttpApiOptions) {
    this.base = (opts.baseUrl ?? '').replace(/\/+$/, '');
    this.token = opts.adminToken;
    this.canControl = Boolean(opts.adminToken);
    this.fetchImpl = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.EventSourceImpl = opts.EventSource ?? globalThis.EventSource;
    this.openWindow = opts.openWindow ?? ((url) => void window.open(url, '_blank', 'noopener,noreferrer'));
  }

  private async request(path: string, init: RequestInit = {}, admin = false): Promise<Response> {
    const headers = new Headers(init.headers);
    if (admin && !this.token) {
      throw new ApiError('Read-only: open the dashboard link that `serve` prints (it carries the admin token) to control models.', {
        code: 'invalid_admin_token',
        type: 'authentication_error',
        status: 401,
      });
    }
    // With auth.apiKeys set every route but /health needs a bearer, reads included.
    if (this.token) headers.set('Authorization', `Bearer ${this.token}`);
    let res: Response;
    try {
      res = await this.fetchImpl(this.base + path, {
        ...init,
        headers,
        cache: 'no-store',
        credentials: 'same-origin',
      });
    } catch (err) {
      throw new ApiError(`The gateway cannot be reached (${err instanceof Error ? err.message : String(err)}).`, {
        code: 'network_error',
      });
    }
    if (!res.ok) throw await errorFrom(res);
    return res;
  }

  async status(): Promise<StatusDocument> {
    const res = await this.request('/gateway/status', {
      headers: { Accept: 'application/json' },
    });
    return (await res.json()) as StatusDocument;
  }

  onStatus(cb: (doc: StatusDocument) => void, signal?: AbortSignal): () => void {
    if (signal?.aborted) return () => {};
    const deliver = (data: string) => {
      try {
        cb(JSON.parse(data) as StatusDocument);
      } catch {
        /* a malformed event is skipped; the next one (at most 5 s later) repairs the view */
      }
    };
    // EventSource cannot send an Authorization header, which the gateway asks for on every route
    // once API keys are set: with a token, read the stream with fetch instead (reconnecting with
    // backoff); without one, EventSource (which reconnects by itself) is all a read-only tab can use.
    if (this.token) return this.onStatusFetch(deliver, signal);
    const ES = this.EventSourceImpl;
    if (!ES) return () => {};
    const es = new ES(`${this.base}/gateway/events`);
    const onMessage = (ev: MessageEvent) => deliver(String(ev.data));
    es.addEventListener('status', onMessage as EventListener);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      es.removeEventListener('status', onMessage as EventListener);
      es.close();
      signal?.removeEventListener('abort', close);
    };
    signal?.addEventListener('abort', close, { once: true });
    return close;
  }

  private onStatusFetch(deliver: (data: string) => void, signal?: AbortSignal): () => void {
    const ctrl = new AbortController();
    const close = () => {
      ctrl.abort();
      signal?.removeEventListener('abort', close);
    };
    signal?.addEventListener('abort', close, { once: true });
    void readSse({
      url: `${this.base}/gateway/events`,
      headers: { Authorization: `Bearer ${this.token}` },
      signal: ctrl.signal,
      fetch: this.fetchImpl,
      onEvent: (ev) => {
        if (ev.type === 'status') deliver(ev.data);
      },
    });
    return close;
  }

  async load(id: string): Promise<ModelStatus> {
    const res = await this.request(`/gateway/models/${encodeURIComponent(id)}/load`, { method: 'POST' }, true);
    return (await res.json()) as ModelStatus;
  }

  async unload(id: string, opts: { force: boolean }): Promise<ModelStatus> {
    const q = opts.force ? '?force=true' : '';
    const res = await this.request(`/gateway/models/${encodeURIComponent(id)}/unload${q}`, { method: 'POST' }, true);
    return (await res.json()) as ModelStatus;
  }

  async logs(id: string, tail: number): Promise<string> {
    const n = Math.max(1, Math.min(10_000, Math.floor(tail)));
    const res = await this.request(`/gateway/models/${encodeURIComponent(id)}/logs?tail=${n}`, {
      headers: { Accept: 'text/plain' },
    });
    return res.text();
  }

  async history(seconds: number): Promise<HistoryDocument> {
    const s = Math.max(1, Math.min(300, Math.round(seconds)));
    const res = await this.request(`/gateway/history?seconds=${s}`, { headers: { Accept: 'application/json' } });
    return (await res.json()) as HistoryDocument;
  }

  async openExternal(url: string): Promise<void> {
    if (!isHttpUrl(url))
      throw new ApiError('Only http(s) links can be opened.', {
        code: 'invalid_request',
      });
    this.openWindow(url);
  }
}
