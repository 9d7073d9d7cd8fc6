// @vitest-environment jsdom
// The two GatewayApi implementations (HTTP + SSE, IPC), the admin token's handling, and the
// renderer's pure helpers (VRAM segments, colours, idle countdown).
import { describe, expect, it, vi } from 'vitest';
import { formatBridgeError, parseBridgeError, type GatewayBridge } from '../../common/ipc-contract.js';
import { createGatewayApi } from '../../renderer/api/create-api.js';
import { ApiError } from '../../renderer/api/gateway-api.js';
import { HttpGatewayApi } from '../../renderer/api/http-api.js';
import { IpcGatewayApi } from '../../renderer/api/ipc-api.js';
import { takeAdminToken, TOKEN_STORAGE_KEY } from '../../renderer/api/token.js';
import { assignModelColors, MODEL_PALETTE_SIZE } from '../../renderer/lib/colors.js';
import { gpuUsageText, idleStop } from '../../renderer/lib/format.js';
import { gpuSegments } from '../../renderer/lib/gpu-segments.js';
import { sampleStatus } from '../e2e/sample-status.js';

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

describe('admin token from the URL fragment', () => {
  it('stores #token=… in sessionStorage and removes it from the address bar', () => {
    window.history.replaceState(null, '', '/ui/?x=1#token=s3cret&view=gpus');
    sessionStorage.clear();
    const token = takeAdminToken({ location: window.location, history: window.history, storage: sessionStorage });
    expect(token).toBe('s3cret');
    expect(sessionStorage.getItem(TOKEN_STORAGE_KEY)).toBe('s3cret');
    expect(window.location.hash).toBe('#view=gpus');
    expect(window.location.href).not.toContain('s3cret');
    expect(window.location.search).toBe('?x=1');
  });

  it('uses the stored token on reload, and none at all without one', () => {
    window.history.replaceState(null, '', '/ui/');
    sessionStorage.setItem(TOKEN_STORAGE_KEY, 'kept');
    expect(takeAdminToken({ location: window.location, history: window.history, storage: sessionStorage })).toBe('kept');
    sessionStorage.clear();
    expect(takeAdminToken({ location: window.location, history: window.history, storage: sessionStorage })).toBeNull();
  });

  it('createGatewayApi picks HTTP (read-only without token) in a browser and IPC with the bridge', () => {
    window.history.replaceState(null, '', '/ui/');
    sessionStorage.clear();
    const http = createGatewayApi(window);
    expect(http.mode).toBe('browser');
    expect(http.canControl).toBe(false);
    const bridge = {} as GatewayBridge;
    const w = Object.create(window, { gateway: { value: bridge } }) as Window;
    expect(createGatewayApi(w).mode).toBe('desktop');
  });
});

describe('HttpGatewayApi', () => {
  it('POSTs load and unload with the bearer token; force adds ?force=true', async () => {
    const fetch = vi.fn(async () => jsonResponse(200, { id: 'm' }));
    const api = new HttpGatewayApi({ adminToken: 'tok', fetch: fetch as unknown as typeof globalThis.fetch });
    await api.load('a/b');
    await api.unload('m', { force: true });
    await api.unload('m', { force: false });
    const calls = fetch.mock.calls as unknown as Array<[string, RequestInit]>;
    expect(calls.map((c) => [c[0], c[1].method])).toEqual([
      ['/gateway/models/a%2Fb/load', 'POST'],
      ['/gateway/models/m/unload?force=true', 'POST'],
      ['/gateway/models/m/unload', 'POST'],
    ]);
    for (const [, init] of calls) expect(new Headers(init.headers).get('Authorization')).toBe('Bearer tok');
  });

  it('turns the gateway’s error body into an ApiError carrying its message and code', async () => {
    const fetch = vi.fn(async () =>
      jsonResponse(409, {
        error: { message: 'm has 2 requests in flight', type: 'invalid_request_error', code: 'model_busy', param: null },
      }),
    );
    const api = new HttpGatewayApi({ adminToken: 'tok', fetch: fetch as unknown as typeof globalThis.fetch });
    const err = await api.unload('m', { force: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toBe('m has 2 requests in flight');
    expect((err as ApiError).code).toBe('model_busy');
    expect((err as ApiError).status).toBe(409);
  });

  it('refuses state changes without a token, before any request', async () => {
    const fetch = vi.fn();
    const api = new HttpGatewayApi({ adminToken: null, fetch: fetch as unknown as typeof globalThis.fetch });
    expect(api.canControl).toBe(false);
    await expect(api.load('m')).rejects.toMatchObject({ code: 'invalid_admin_token' });
    expect(fetch).not.toHaveBeenCalled();
  });

  it('reads logs as text with a bounded tail', async () => {
    const fetch = vi.fn(async () => new Response('a\nb\n', { status: 200, headers: { 'Content-Type': 'text/plain' } }));
    const api = new HttpGatewayApi({ adminToken: null, fetch: fetch as unknown as typeof globalThis.fetch });
    expect(await api.logs('m', 200)).toBe('a\nb\n');
    expect((fetch.mock.calls[0] as unknown as [string])[0]).toBe('/gateway/models/m/logs?tail=200');
  });

  it('reads the history with a bounded window, and the gateway’s 400 as an ApiError', async () => {
    const doc = { intervalSeconds: 1, windowSeconds: 300, at: [1], gpus: [], models: [] };
    const fetch = vi.fn(async (url: string) =>
      url.endsWith('seconds=300')
        ? jsonResponse(200, doc)
        : jsonResponse(400, { error: { message: 'bad', type: 'invalid_request_error', code: 'invalid_request', param: 'seconds' } }),
    );
    const api = new HttpGatewayApi({ adminToken: null, fetch: fetch as unknown as typeof globalThis.fetch });
    expect(await api.history(300)).toEqual(doc);
    expect(await api.history(10_000)).toEqual(doc); // clamped to the window
    await expect(api.history(5)).rejects.toMatchObject({ code: 'invalid_request', status: 400 });
    expect(fetch.mock.calls.map((c) => (c as unknown as [string])[0])).toEqual([
      '/gateway/history?seconds=300',
      '/gateway/history?seconds=300',
      '/gateway/history?seconds=5',
    ]);
  });

  it('opens only http(s) links', async () => {
    const open = vi.fn();
    const api = new HttpGatewayApi({ adminToken: null, openWindow: open });
    await expect(api.openExternal('javascript:alert(1)')).rejects.toBeInstanceOf(ApiError);
    await expect(api.openExternal('file:///etc/passwd')).rejects.toBeInstanceOf(ApiError);
    await api.openExternal('https://docs.vllm.ai/');
    expect(open).toHaveBeenCalledExactlyOnceWith('https://docs.vllm.ai/');
  });

  it('subscribes to `event: status` over EventSource and closes it on abort', () => {
    const instances: FakeES[] = [];
    class FakeES {
      listeners = new Map<string, (ev: MessageEvent) => void>();
      closed = false;
      constructor(readonly url: string) {
        instances.push(this);
      }
      addEventListener(type: string, fn: (ev: MessageEvent) => void) {
        this.listeners.set(type, fn);
      }
      removeEventListener(type: string) {
        this.listeners.delete(type);
      }
      close() {
        this.closed = true;
      }
    }
    const api = new HttpGatewayApi({ adminToken: null, EventSource: FakeES as unknown as typeof EventSource });
    const ctrl = new AbortController();
    const cb = vi.fn();
    api.onStatus(cb, ctrl.signal);
    expect(instances[0].url).toBe('/gateway/events');
    const doc = sampleStatus();
    instances[0].listeners.get('status')!(new MessageEvent('status', { data: JSON.stringify(doc) }));
    instances[0].listeners.get('status')!(new MessageEvent('status', { data: '{not json' }));
    expect(cb).toHaveBeenCalledTimes(1);
    expect(cb.mock.calls[0][0].listen).toBe(doc.listen);
    ctrl.abort();
    expect(instances[0].closed).toBe(true);
  });
});

describe('IpcGatewayApi', () => {
  function bridge(over: Partial<GatewayBridge> = {}): GatewayBridge {
    return {
      status: vi.fn(async () => sampleStatus()),
      onStatus: vi.fn(() => vi.fn()),
      load: vi.fn(async () => sampleStatus().models[0]),
      unload: vi.fn(async () => {
        throw new Error('[model_busy] busy!');
      }),
      logs: vi.fn(async () => 'lines'),
      history: vi.fn(async (seconds?: number) => ({ intervalSeconds: 1, windowSeconds: 300, at: [seconds ?? 0], gpus: [], models: [] })),
      openExternal: vi.fn(async () => undefined),
      ...over,
    };
  }

  it('passes values through and turns a rejected `[code] message` into an ApiError with that code', async () => {
    const b = bridge();
    const api = new IpcGatewayApi(b);
    expect((await api.status()).listen).toBe('http://127.0.0.1:8080');
    expect(await api.logs('m', 10)).toBe('lines');
    expect((await api.history(60)).at).toEqual([60]);
    expect(b.history).toHaveBeenCalledWith(60);
    expect(await api.openExternal('https://example.com/')).toBeUndefined();
    const err = await api.unload('m', { force: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'model_busy', message: 'busy!' });
    expect(b.unload).toHaveBeenCalledWith('m', { force: false });
  });

  it('keeps multi-line messages, and calls anything unprefixed an ipc_error', async () => {
    const api = new IpcGatewayApi(
      bridge({
        load: vi.fn(async () => {
          throw new Error('[invalid_request] bad id\nsecond line');
        }),
        logs: vi.fn(async () => {
          throw new Error("Error invoking remote method 'models:logs': boom");
        }),
        status: vi.fn(async () => {
          throw 'gone';
        }),
      }),
    );
    await expect(api.load('x')).rejects.toMatchObject({ code: 'invalid_request', message: 'bad id\nsecond line' });
    await expect(api.logs('x', 1)).rejects.toMatchObject({
      code: 'ipc_error',
      message: "Error invoking remote method 'models:logs': boom",
    });
    await expect(api.status()).rejects.toMatchObject({ code: 'ipc_error', message: 'gone' });
  });

  it('formats and parses the bridge-error prefix', () => {
    expect(formatBridgeError({ code: 'model_busy', message: 'm is busy' })).toBe('[model_busy] m is busy');
    expect(formatBridgeError({ code: 'bad code]', message: '' })).toBe('[internal_error] Unexpected error.');
    expect(parseBridgeError('[model_busy] m is busy')).toEqual({ code: 'model_busy', message: 'm is busy' });
    expect(parseBridgeError('model_busy: m is busy')).toBeNull();
    expect(parseBridgeError('[a b] x')).toBeNull();
  });

  it('maps the AbortSignal onto the bridge’s unsubscribe function', () => {
    const off = vi.fn();
    const api = new IpcGatewayApi(bridge({ onStatus: vi.fn(() => off) }));
    const ctrl = new AbortController();
    api.onStatus(() => undefined, ctrl.signal);
    expect(off).not.toHaveBeenCalled();
    ctrl.abort();
    expect(off).toHaveBeenCalledTimes(1);
  });
});

describe('renderer helpers', () => {
  it('usage text matches the contract’s example', () => {
    expect(gpuUsageText(31_247, 143_771)).toBe('30.5 of 140.4 GiB used');
  });

  it('segments a GPU by model (span = max of use and budget), other, reserved and free, filling the bar', () => {
    const doc = sampleStatus();
    const segs = gpuSegments(doc.gpus[0], doc.models);
    const total = segs.reduce((n, s) => n + s.spanMiB, 0);
    expect(total).toBeCloseTo(doc.gpus[0].totalMiB, 0);
    const mistral = segs.find((s) => s.kind === 'model' && s.id === 'mistral-small-24b');
    expect(mistral).toMatchObject({ usedMiB: 30_100, budgetMiB: 51_200, spanMiB: 51_200 });
    expect(segs.map((s) => s.kind)).toEqual(['model', 'model', 'other', 'reserved', 'free']);
  });

  it('scales budgets down when they claim more than the GPU has', () => {
    const doc = sampleStatus();
    const g = doc.gpus[0];
    doc.models.find((m) => m.id === 'mistral-small-24b')!.vramBudgetMiB = 500_000;
    const segs = gpuSegments(g, doc.models);
    const total = segs.reduce((n, s) => n + s.spanMiB, 0);
    expect(total).toBeCloseTo(g.totalMiB, 0);
    expect(segs.find((s) => s.kind === 'free')!.spanMiB).toBe(0);
  });

  it('gives every model of a config its own stable colour', () => {
    const ids = sampleStatus().models.map((m) => m.id);
    const a = assignModelColors(ids);
    const b = assignModelColors([...ids].reverse());
    expect(new Set(a.values()).size).toBe(Math.min(ids.length, MODEL_PALETTE_SIZE));
    expect([...a.entries()].sort()).toEqual([...b.entries()].sort());
  });

  it('counts down to the idle stop from lastUsedAt + ttlSeconds', () => {
    const now = Date.parse('2026-11-27T12:00:00Z');
    const m = { ...sampleStatus().models[0], inFlight: 0, queued: 0, ttlSeconds: 600, lastUsedAt: '2026-11-27T11:55:00Z' };
    expect(idleStop(m, now)).toMatchObject({ kind: 'countdown', text: 'in 5m 00s' });
    expect(idleStop({ ...m, inFlight: 1 }, now).text).toBe('in use');
    expect(idleStop({ ...m, pinned: true }, now).text).toBe('pinned');
    expect(idleStop({ ...m, ttlSeconds: 0 }, now).text).toBe('never');
    expect(idleStop({ ...m, state: 'stopped' }, now).text).toBe('—');
  });

  it("counts down to the gateway's idleDeadline, which a request's keep_alive sets", () => {
    const now = Date.parse('2026-11-27T12:00:00Z');
    const m = { ...sampleStatus().models[0], inFlight: 0, queued: 0, ttlSeconds: 600, lastUsedAt: '2026-11-27T11:55:00Z' };
    const ka = { ...m, keepAliveSeconds: 3600, idleDeadline: '2026-11-27T12:55:00Z' };
    expect(idleStop(ka, now)).toMatchObject({ kind: 'countdown', text: 'in 55m 00s (keep_alive)' });
    expect((idleStop(ka, now) as { title: string }).title).toMatch(/^Stopped 1h 00m after its last request \(a request's keep_alive/);
    // keep_alive on a model whose ttlSeconds is 0 still counts down; keep_alive < 0 never stops it
    expect(idleStop({ ...ka, ttlSeconds: 0 }, now).kind).toBe('countdown');
    expect(idleStop({ ...ka, keepAliveSeconds: -1, idleDeadline: null }, now)).toMatchObject({ kind: 'none', text: 'never' });
    // without keep_alive, the deadline the gateway sends wins over the local sum
    expect(idleStop({ ...m, keepAliveSeconds: null, idleDeadline: '2026-11-27T12:01:00Z' }, now).text).toBe('in 1m 00s');
  });
});
