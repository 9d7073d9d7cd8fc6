// Window options keep the security settings; new windows and navigation are denied; the bundled
// preload is one CommonJS file that exposes exactly window.gateway.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BRIDGE_KEYS } from '../../electron/ipc/contract.js';
import { hardenWebContents, mainWindowOptions, permissionAllowed, WINDOW_CSP } from '../../electron/window.js';

vi.mock('electron', () => ({}));

const tmp = mkdtempSync(path.join(tmpdir(), 'vllm-gw-electron-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('window', () => {
  it('keeps contextIsolation and sandbox on, nodeIntegration off, webSecurity on', () => {
    const o = mainWindowOptions({ preloadPath: '/app/dist/electron/preload.cjs' });
    expect(o.webPreferences).toMatchObject({
      preload: '/app/dist/electron/preload.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    });
    expect(o.show).toBe(false);
  });

  it('has DevTools off unless asked (the unpackaged run), and the menu bar shown in window mode', () => {
    expect(mainWindowOptions({ preloadPath: '/p' }).webPreferences?.devTools).toBe(false);
    expect(mainWindowOptions({ preloadPath: '/p', devTools: true }).webPreferences?.devTools).toBe(true);
    expect(mainWindowOptions({ preloadPath: '/p' }).autoHideMenuBar).toBe(true);
    expect(mainWindowOptions({ preloadPath: '/p', showMenuBar: true }).autoHideMenuBar).toBe(false);
  });

  it('denies new windows (http links go to the browser) and blocks navigation and webviews', () => {
    const handlers = new Map<string, (e: { preventDefault(): void }, url?: string) => void>();
    let openHandler: ((d: { url: string }) => { action: string }) | null = null;
    const wc = {
      setWindowOpenHandler: (h: typeof openHandler) => (openHandler = h),
      on: (ev: string, fn: (e: { preventDefault(): void }, url?: string) => void) => handlers.set(ev, fn),
    };
    const openExternal = vi.fn();
    hardenWebContents(wc as never, { openExternal });
    expect(openHandler!({ url: 'https://docs.vllm.ai/' })).toEqual({ action: 'deny' });
    expect(openHandler!({ url: 'javascript:alert(1)' })).toEqual({ action: 'deny' });
    expect(openHandler!({ url: 'file:///etc/passwd' })).toEqual({ action: 'deny' });
    expect(openExternal).toHaveBeenCalledExactlyOnceWith('https://docs.vllm.ai/');
    for (const ev of ['will-navigate', 'will-redirect', 'will-attach-webview']) {
      const e = { preventDefault: vi.fn() };
      handlers.get(ev)!(e, 'https://evil.example/');
      expect(e.preventDefault).toHaveBeenCalled();
    }
  });

  it('allows only clipboard writes among permissions, and a strict CSP', () => {
    expect(permissionAllowed('clipboard-sanitized-write')).toBe(true);
    for (const p of ['media', 'geolocation', 'notifications', 'openExternal', 'clipboard-read']) expect(permissionAllowed(p)).toBe(false);
    expect(WINDOW_CSP).toContain("default-src 'self'");
    expect(WINDOW_CSP).toContain("script-src 'self'");
    expect(WINDOW_CSP).not.toContain('unsafe-inline');
    expect(WINDOW_CSP).not.toContain('unsafe-eval');
  });
});

describe('preload bundle', () => {
  it('is CommonJS requiring only electron, and exposes exactly window.gateway', async () => {
    const { build } = await import('vite');
    const config = (await import('../../build/vite.preload.config.js')).default as Record<string, unknown> & {
      build: Record<string, unknown>;
    };
    const outDir = path.join(tmp, 'preload');
    await build({ ...config, configFile: false, build: { ...config.build, outDir } });
    const code = readFileSync(path.join(outDir, 'preload.cjs'), 'utf8');
    expect(code).not.toMatch(/^\s*import\s/m);
    expect(code).not.toMatch(/\bexport\s/);
    const required = [...code.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]);
    expect(new Set(required)).toEqual(new Set(['electron']));

    const exposed: Record<string, Record<string, (...a: unknown[]) => unknown>> = {};
    const invoke = vi.fn(async (...args: unknown[]) => ({ ok: true, value: args }));
    const send = vi.fn();
    const on = vi.fn();
    const removeListener = vi.fn();
    const electron = {
      contextBridge: { exposeInMainWorld: vi.fn((key: string, api: Record<string, (...a: unknown[]) => unknown>) => (exposed[key] = api)) },
      ipcRenderer: { invoke, send, on, removeListener },
    };
    const sandboxRequire = (name: string) => {
      if (name === 'electron') return electron;
      throw new Error(`a sandboxed preload cannot require ${name}`);
    };
    vm.runInNewContext(code, { require: sandboxRequire, module: { exports: {} }, exports: {} });
    expect(electron.contextBridge.exposeInMainWorld).toHaveBeenCalledTimes(1);
    expect(Object.keys(exposed)).toEqual(['gateway']);
    expect(Object.keys(exposed.gateway).sort()).toEqual([...BRIDGE_KEYS].sort());

    await exposed.gateway.load('m');
    await exposed.gateway.unload('m', { force: true, extra: 1 });
    expect(invoke).toHaveBeenCalledWith('models:load', 'm');
    expect(invoke).toHaveBeenCalledWith('models:unload', 'm', { force: true });
    const off = exposed.gateway.onStatus(() => undefined) as () => void;
    expect(send).toHaveBeenCalledWith('status:subscribe');
    expect(on).toHaveBeenCalledWith('status:push', expect.any(Function));
    off();
    expect(send).toHaveBeenCalledWith('status:unsubscribe');
    expect(removeListener).toHaveBeenCalled();
  }, 60_000);
});
