// IPC handlers under Node with `electron` replaced: sender checks, argument validation, error
// mapping, registration and status pushes (CONTRACT.md §6, RELIABILITY.md Security).
import { describe, expect, it, vi } from 'vitest';
import { BRIDGE_KEYS, INVOKE_CHANNELS, IPC } from '../../electron/ipc/contract.js';
import { createIpcHandlers, registerIpc, StatusBroadcaster, type IpcEventLike, type SenderLike } from '../../electron/ipc/handlers.js';
import { appUrls, isAppUrl } from '../../electron/window.js';
import { GatewayError } from '../../gateway/errors.js';
import type { GatewayHandle } from '../../gateway/gateway-handle.js';
import { sampleStatus } from '../e2e/sample-status.js';

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
    logs: vi.fn(async () => 'log'),
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
    expect([...BRIDGE_KEYS].sort()).toEqual(['load', 'logs', 'onStatus', 'openExternal', 'status', 'unload']);
    expect(INVOKE_CHANNELS).toEqual(['status:get', 'models:load', 'models:unload', 'models:logs', 'shell:openExternal']);
  });
});

describe('IPC handlers', () => {
  it('answer the app’s own window', async () => {
    const { handlers, gateway } = setup();
    expect(await handlers['status:get'](own())).toMatchObject({ ok: true, value: { listen: 'http://127.0.0.1:8080' } });
    expect(await handlers['models:load'](own(), 'bge-m3')).toMatchObject({ ok: true, value: { id: 'bge-m3' } });
    expect(await handlers['models:unload'](own(), 'bge-m3', { force: true })).toMatchObject({ ok: true });
    expect(await handlers['models:logs'](own(), 'bge-m3', 200)).toEqual({ ok: true, value: 'log' });
    expect(gateway!.unload).toHaveBeenCalledWith('bge-m3', { force: true });
    expect(gateway!.logs).toHaveBeenCalledWith('bge-m3', 200);
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
