// IPC handlers under Node with `electron` replaced: sender checks, argument validation, error
// mapping, registration and status pushes (docs/desktop.md, docs/reliability.md "Security"); and the
// bundled preload's window.gateway, run in a vm sandbox with a fake `electron`.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BRIDGE_KEYS, INVOKE_CHANNELS, IPC } from '../../common/ipc-contract.js';
import { createIpcHandlers, registerIpc, StatusBroadcaster, type IpcEventLike, type SenderLike } from '../../electron/ipc/handlers.js';
import { appUrls, isAppUrl } from '../../electron/window.js';
import { GatewayError } from '../../gateway/errors.js';
import type { GatewayHandle } from '../../gateway/gateway-handle.js';
import type { ModelStatus, StatusDocument } from '../../gateway/status-types.js';
import { sampleStatus } from '../e2e/sample-status.js';
import { baseYaml, chat, cleanupAll, post, processModel, startGateway, waitUntil } from '../integration/helpers.js';

vi.mock('electron', () => ({}));

const urls = appUrls('/opt/vllm-gateway/resources/app.asar/dist/renderer/index.html', null);
const INDEX = urls.indexUrl;
const own = (over: Partial<IpcEventLike['senderFrame']> = {}): IpcEventLike => ({ senderFrame: { url: INDEX, parent: null, ...over } });

function fakeGateway(): GatewayHandle {
  const doc = sampleStatus();
  return {
    listen: vi.fn(async () => doc.listen),
    adminToken: 't',
    status: vi.fn(() => doc),
    onStatus: vi.fn(() => () => undefined),
    load: vi.fn(async (id: string) => doc.models.find((m) => m.id === id)!),
    unload: vi.fn(async (id: string, opts?: { force?: boolean }) => {
      if (!opts?.force) throw new GatewayError('model_busy', `${id} has requests in flight`);
      return doc.models.find((m) => m.id === id)!;
    }),
    sleep: vi.fn(async (id: string) => doc.models.find((m) => m.id === id)!),
    logs: vi.fn(async () => 'log'),
    history: vi.fn((seconds = 300) => ({ intervalSeconds: 1, windowSeconds: 300, at: [seconds], gpus: [], models: [] })),
    close: vi.fn(async () => undefined),
  };
}

function setup(gateway: GatewayHandle | null = fakeGateway()) {
  const openExternal = vi.fn(async () => undefined);
  const handlers = createIpcHandlers({
    gateway: () => gateway,
    unavailableReason: () => 'config has 2 problems',
    isAppUrl: (u) => isAppUrl(u, urls),
    openExternal,
  });
  return { handlers, gateway, openExternal };
}

describe('IPC contract', () => {
  it('names every channel domain:action and the bridge exposes exactly the contract members', () => {
    for (const c of Object.values(IPC)) expect(c).toMatch(/^[a-z]+:[a-zA-Z]+$/);
    expect([...BRIDGE_KEYS].sort()).toEqual(['history', 'load', 'logs', 'onStatus', 'openExternal', 'sleep', 'status', 'unload']);
    expect(INVOKE_CHANNELS).toEqual([
      'status:get',
      'status:history',
      'models:load',
      'models:unload',
      'models:sleep',
      'models:logs',
      'shell:openExternal',
    ]);
  });
});

describe('IPC handlers', () => {
  afterAll(cleanupAll);

  it('answer the app’s own window with what a real gateway says (port 0, a mock vLLM process model)', async () => {
    const t = await startGateway(baseYaml(`models:\n${processModel('ipc1', { extra: 'maxConcurrent: 1' })}`));
    const { handlers } = setup(t.gw);
    const status = (await handlers['status:get'](own())) as { ok: true; value: StatusDocument };
    expect(status.ok).toBe(true);
    expect(status.value.listen).toBe(t.url);
    expect(status.value.models.map((m) => [m.id, m.state])).toEqual([['ipc1', 'stopped']]);

    const loaded = (await handlers['models:load'](own(), 'ipc1')) as { ok: true; value: ModelStatus };
    expect(loaded).toMatchObject({ ok: true, value: { id: 'ipc1', state: 'ready', inFlight: 0 } });
    expect(loaded.value.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(t.runtime.starts).toEqual(['ipc1']);
    const logs = (await handlers['models:logs'](own(), 'ipc1', 200)) as { ok: true; value: string };
    expect(logs.ok).toBe(true);
    expect(logs.value).toContain('Application startup complete');
    // Sleep reaches the gateway: this model has no sleep mode, answered in the contract's terms.
    expect(await handlers['models:sleep'](own(), 'ipc1')).toMatchObject({ ok: false, error: { code: 'sleep_not_enabled' } });
    expect(await handlers['models:sleep'](own(), 42)).toMatchObject({ ok: false, error: { code: 'invalid_request' } });

    // Busy: unload without force is refused in the contract's terms; with force it stops the model.
    const running = post(t.url, '/v1/chat/completions', chat('ipc1'), { 'x-mock-delay-ms': '3000' });
    await waitUntil(async () => (await t.model('ipc1')).inFlight === 1, 5000, 'a request in flight');
    expect(await handlers['models:unload'](own(), 'ipc1', { force: false })).toMatchObject({ ok: false, error: { code: 'model_busy' } });
    expect(await handlers['models:unload'](own(), 'ipc1', { force: true })).toMatchObject({
      ok: true,
      value: { id: 'ipc1', state: 'stopped' },
    });
    expect((await running).status).toBe(503);
    expect(await handlers['models:load'](own(), 'nope')).toMatchObject({ ok: false, error: { code: 'model_not_found' } });
  });

  it.each([
    ['another origin', { senderFrame: { url: 'https://evil.example/', parent: null } }],
    ['another local file', { senderFrame: { url: 'file:///tmp/evil/index.html', parent: null } }],
    ['a subframe of the app', { senderFrame: { url: INDEX, parent: {} } }],
    ['a destroyed frame', { senderFrame: null }],
    ['a data: URL', { senderFrame: { url: 'data:text/html,<script>', parent: null } }],
  ])('reject %s, and never touch the gateway', async (_name, event) => {
    const { handlers, gateway, openExternal } = setup();
    for (const [channel, args] of [
      ['status:get', []],
      ['models:load', ['bge-m3']],
      ['models:unload', ['bge-m3', { force: true }]],
      ['models:logs', ['bge-m3', 10]],
      ['shell:openExternal', ['https://example.com/']],
    ] as const) {
      const res = await (handlers[channel] as (e: IpcEventLike, ...a: unknown[]) => Promise<unknown>)(event as IpcEventLike, ...args);
      expect(res).toMatchObject({ ok: false, error: { code: 'forbidden_sender' } });
    }
    expect(gateway!.status).not.toHaveBeenCalled();
    expect(gateway!.load).not.toHaveBeenCalled();
    expect(gateway!.unload).not.toHaveBeenCalled();
    expect(openExternal).not.toHaveBeenCalled();
  });

  it.each([[42], [null], [undefined], [''], [{ id: 'x' }], [['x']], ['a'.repeat(300)], ['bad\nid']])(
    'reject a model id of %j',
    async (id) => {
      const { handlers, gateway } = setup();
      expect(await handlers['models:load'](own(), id)).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
      expect(await handlers['models:unload'](own(), id, { force: false })).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
      expect(await handlers['models:logs'](own(), id, 10)).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
      expect(gateway!.load).not.toHaveBeenCalled();
    },
  );

  it('reject bad unload options, tails and extra arguments', async () => {
    const { handlers, gateway } = setup();
    for (const opts of ['yes', { force: 'true' }, { force: true, wipe: true }, [true], null]) {
      expect(await handlers['models:unload'](own(), 'bge-m3', opts)).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    }
    for (const tail of [0, -1, 1.5, '10', 10_001, Number.NaN]) {
      expect(await handlers['models:logs'](own(), 'bge-m3', tail)).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    }
    expect(await handlers['models:load'](own(), 'bge-m3', 'extra')).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    expect(await handlers['status:get'](own(), 'extra')).toMatchObject({ ok: false });
    for (const seconds of [0, 301, '60', Number.NaN, Infinity, null]) {
      expect(await handlers['status:history'](own(), seconds)).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    }
    expect(await handlers['status:history'](own())).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    expect(gateway!.history).not.toHaveBeenCalled();
    expect(await handlers['status:history'](own(), 60)).toEqual({
      ok: true,
      value: { intervalSeconds: 1, windowSeconds: 300, at: [60], gpus: [], models: [] },
    });
    expect(await handlers['status:history']({ senderFrame: { url: 'https://evil.example/', parent: null } }, 60)).toMatchObject({
      ok: false,
      error: { code: 'forbidden_sender' },
    });
    expect(gateway!.unload).not.toHaveBeenCalled();
    expect(gateway!.logs).not.toHaveBeenCalled();
  });

  it.each([
    'javascript:alert(1)',
    'file:///etc/passwd',
    'data:text/html,x',
    'smb://host/share',
    'not a url',
    42,
    'https://user:pw@example.com/',
  ])('shell:openExternal refuses %j', async (url) => {
    const { handlers, openExternal } = setup();
    expect(await handlers['shell:openExternal'](own(), url)).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    expect(openExternal).not.toHaveBeenCalled();
  });

  it('shell:openExternal opens http(s)', async () => {
    const { handlers, openExternal } = setup();
    expect(await handlers['shell:openExternal'](own(), 'http://127.0.0.1:8080/v1/models')).toEqual({ ok: true, value: null });
    expect(openExternal).toHaveBeenCalledWith('http://127.0.0.1:8080/v1/models');
  });

  it('pass the gateway’s errors on with their code (model_busy) and say when there is no gateway', async () => {
    const { handlers } = setup();
    expect(await handlers['models:unload'](own(), 'llama', { force: false })).toEqual({
      ok: false,
      error: { message: 'llama has requests in flight', code: 'model_busy', type: 'invalid_request_error' },
    });
    const none = setup(null);
    expect(await none.handlers['status:get'](own())).toMatchObject({
      ok: false,
      error: { code: 'gateway_unavailable', message: 'config has 2 problems' },
    });
  });

  it('accept the dev server only when one is configured', () => {
    const dev = appUrls('/app/dist/renderer/index.html', 'http://localhost:5173/');
    expect(isAppUrl('http://localhost:5173/#x', dev)).toBe(true);
    expect(isAppUrl('http://localhost:5174/', dev)).toBe(false);
    expect(isAppUrl('http://localhost:5173/', urls)).toBe(false);
    expect(isAppUrl(`${INDEX}#/models`, urls)).toBe(true);
  });
});

describe('registration and status pushes', () => {
  it('registers every invoke channel and the subscribe pair on ipcMain', async () => {
    const handle = vi.fn();
    const on = vi.fn();
    const { handlers } = setup();
    registerIpc({ handle, on }, handlers, new StatusBroadcaster(() => true));
    expect(handle.mock.calls.map((c) => c[0]).sort()).toEqual([...INVOKE_CHANNELS].sort());
    expect(on.mock.calls.map((c) => c[0]).sort()).toEqual(['status:subscribe', 'status:unsubscribe']);
    const statusGet = handle.mock.calls.find((c) => c[0] === 'status:get')![1];
    expect(await statusGet(own())).toMatchObject({ ok: true });
    expect(await statusGet({ senderFrame: { url: 'https://evil.example/', parent: null } })).toMatchObject({ ok: false });
  });

  function sender(id: number): SenderLike & { sent: unknown[][]; destroy(): void } {
    let destroyed = false;
    let onDestroyed: (() => void) | null = null;
    return {
      id,
      sent: [],
      send(...args: unknown[]) {
        this.sent.push(args);
      },
      isDestroyed: () => destroyed,
      once: (_e: 'destroyed', fn: () => void) => (onDestroyed = fn),
      destroy() {
        destroyed = true;
        onDestroyed?.();
      },
    };
  }

  it('pushes status documents to subscribed app windows only, until they go away', () => {
    const b = new StatusBroadcaster((u) => isAppUrl(u, urls));
    const mine = sender(1);
    const foreign = sender(2);
    expect(b.subscribe({ ...own(), sender: mine })).toBe(true);
    expect(b.subscribe({ senderFrame: { url: 'https://evil.example/', parent: null }, sender: foreign })).toBe(false);
    const doc = sampleStatus();
    b.push(doc);
    expect(mine.sent).toEqual([['status:push', doc]]);
    expect(foreign.sent).toEqual([]);
    mine.destroy();
    expect(b.size).toBe(0);
    b.push(doc);
    expect(mine.sent).toHaveLength(1);
  });
});

describe('preload bundle: window.gateway', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'vllm-gw-preload-test-'));
  let code = '';
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  beforeAll(async () => {
    const { build } = await import('vite');
    const config = (await import('../../build/vite.preload.config.js')).default as Record<string, unknown> & {
      build: Record<string, unknown>;
    };
    const outDir = path.join(tmp, 'preload');
    await build({ ...config, configFile: false, build: { ...config.build, outDir } });
    code = readFileSync(path.join(outDir, 'preload.cjs'), 'utf8');
  }, 60_000);

  type Gateway = Record<string, (...a: unknown[]) => unknown>;

  /** Runs the bundle with a fake electron whose invoke answers from `answers` (channel → envelope). */
  function loadPreload(answers: Record<string, (...args: unknown[]) => unknown> = {}) {
    const exposed: Record<string, Gateway> = {};
    const invoke = vi.fn(async (channel: string, ...args: unknown[]) => {
      const answer = answers[channel];
      if (!answer) throw new Error(`No handler registered for '${channel}'`);
      return answer(...args);
    });
    const pushHandlers: Array<(event: unknown, doc: unknown) => void> = [];
    const ipcRenderer = {
      invoke,
      send: vi.fn(),
      on: vi.fn((_channel: string, fn: (event: unknown, doc: unknown) => void) => pushHandlers.push(fn)),
      removeListener: vi.fn((_channel: string, fn: (event: unknown, doc: unknown) => void) => {
        pushHandlers.splice(pushHandlers.indexOf(fn), 1);
      }),
    };
    const electron = {
      contextBridge: { exposeInMainWorld: vi.fn((key: string, api: Gateway) => (exposed[key] = api)) },
      ipcRenderer,
    };
    const sandboxRequire = (name: string) => {
      if (name === 'electron') return electron;
      throw new Error(`a sandboxed preload cannot require ${name}`);
    };
    vm.runInNewContext(code, { require: sandboxRequire, module: { exports: {} }, exports: {} });
    const push = (doc: unknown) => {
      for (const fn of [...pushHandlers]) fn({}, doc);
    };
    return { exposed, gateway: exposed.gateway, ipcRenderer, push };
  }

  const ok = (value: unknown) => ({ ok: true, value });
  const fail = (code: string, message: string) => ({ ok: false, error: { code, message, type: 'invalid_request_error' } });
  const rejection = (p: unknown) =>
    (p as Promise<unknown>).then(
      () => {
        throw new Error('expected a rejection');
      },
      (e: unknown) => e as { message: string },
    );

  it('is one CommonJS file requiring only electron (a sandboxed preload can require nothing else)', () => {
    expect(code).not.toMatch(/^\s*import\s/m);
    expect(code).not.toMatch(/\bexport\s/);
    const required = [...code.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]);
    expect(new Set(required)).toEqual(new Set(['electron']));
  });

  it('exposes exactly window.gateway with exactly the contract members', () => {
    const { exposed, gateway } = loadPreload();
    expect(Object.keys(exposed)).toEqual(['gateway']);
    expect(Object.keys(gateway).sort()).toEqual(['history', 'load', 'logs', 'onStatus', 'openExternal', 'sleep', 'status', 'unload']);
    expect(Object.keys(gateway).sort()).toEqual([...BRIDGE_KEYS].sort());
  });

  it('resolves with the values themselves, not envelopes', async () => {
    const doc = sampleStatus();
    const { gateway, ipcRenderer } = loadPreload({
      'status:get': () => ok(doc),
      'models:load': (id) => ok(doc.models.find((m) => m.id === id)),
      'models:unload': (id) => ok(doc.models.find((m) => m.id === id)),
      'models:logs': () => ok('line 1\nline 2'),
      'status:history': (seconds) => ok({ seconds }),
      'shell:openExternal': () => ok(null),
    });
    expect(await gateway.status()).toBe(doc);
    expect(await gateway.load('bge-m3')).toBe(doc.models.find((m) => m.id === 'bge-m3'));
    expect(await gateway.unload('bge-m3')).toMatchObject({ id: 'bge-m3' });
    expect(await gateway.unload('bge-m3', { force: true, extra: 1 })).toMatchObject({ id: 'bge-m3' });
    expect(await gateway.logs('bge-m3', 50)).toBe('line 1\nline 2');
    expect(await gateway.openExternal('https://example.com/')).toBeUndefined();
    expect(await gateway.history(60)).toEqual({ seconds: 60 });
    expect(await gateway.history()).toEqual({ seconds: 300 });
    expect(ipcRenderer.invoke.mock.calls).toEqual([
      ['status:get'],
      ['models:load', 'bge-m3'],
      ['models:unload', 'bge-m3', { force: false }],
      ['models:unload', 'bge-m3', { force: true }],
      ['models:logs', 'bge-m3', 50],
      ['shell:openExternal', 'https://example.com/'],
      ['status:history', 60],
      ['status:history', 300],
    ]);
  });

  it('rejects an error envelope with an Error whose message is `[code] message`', async () => {
    const { gateway } = loadPreload({
      'models:unload': () => fail('model_busy', 'llama has 2 requests in flight'),
      'status:get': () => ({ nonsense: true }),
    });
    const err = await rejection(gateway.unload('llama', { force: false }));
    expect(err.constructor.name).toBe('Error');
    expect(err.message).toBe('[model_busy] llama has 2 requests in flight');
    expect((await rejection(gateway.status())).message).toBe('[ipc_error] No answer from the app.');
    expect((await rejection(gateway.logs('llama', 1))).message).toBe("[ipc_error] No handler registered for 'models:logs'");
  });

  it('onStatus delivers pushes, unsubscribes through the returned function and on a real signal’s abort', () => {
    const { gateway, ipcRenderer, push } = loadPreload();
    const seen: unknown[] = [];
    const ctrl = new AbortController();
    const off = gateway.onStatus((d: unknown) => seen.push(d), ctrl.signal) as () => void;
    expect(ipcRenderer.send).toHaveBeenCalledWith('status:subscribe');
    push('doc 1');
    expect(seen).toEqual(['doc 1']);
    ctrl.abort();
    expect(ipcRenderer.send).toHaveBeenLastCalledWith('status:unsubscribe');
    expect(ipcRenderer.removeListener).toHaveBeenCalledTimes(1);
    push('doc 2');
    expect(seen).toEqual(['doc 1']);
    off(); // idempotent after the abort
    expect(ipcRenderer.send).toHaveBeenCalledTimes(2);

    const again = gateway.onStatus(() => undefined) as () => void;
    again();
    expect(ipcRenderer.send.mock.calls.map((c) => c[0])).toEqual([
      'status:subscribe',
      'status:unsubscribe',
      'status:subscribe',
      'status:unsubscribe',
    ]);
  });

  it('onStatus copes with a signal contextBridge copied into a plain object, and an aborted one', () => {
    const { gateway, ipcRenderer, push } = loadPreload();
    const seen: unknown[] = [];
    let off: () => void = () => undefined;
    expect(() => (off = gateway.onStatus((d: unknown) => seen.push(d), { aborted: false }) as () => void)).not.toThrow();
    push('doc');
    expect(seen).toEqual(['doc']);
    off();
    expect(ipcRenderer.send).toHaveBeenLastCalledWith('status:unsubscribe');

    ipcRenderer.send.mockClear();
    const aborted = gateway.onStatus(() => undefined, { aborted: true }) as () => void;
    const ctrl = new AbortController();
    ctrl.abort();
    gateway.onStatus(() => undefined, ctrl.signal);
    expect(ipcRenderer.send).not.toHaveBeenCalled();
    expect(() => aborted()).not.toThrow();
    expect(() => gateway.onStatus('not a function')).toThrow('onStatus needs a callback');
  });
});
