// Window options keep the security settings; new windows and navigation are denied; the bundled
// preload is one CommonJS file that exposes exactly window.gateway; first-run config and login item.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { CONFIG_FILE_NAME, DEFAULT_CONFIG_YAML, ensureDefaultConfig } from '../../electron/default-config.js';
import { BRIDGE_KEYS } from '../../electron/ipc/contract.js';
import { autostartEntry, getStartAtLogin, launchCommand, setStartAtLogin, type StartAtLoginEnv } from '../../electron/settings.js';
import { hardenWebContents, mainWindowOptions, permissionAllowed, WINDOW_CSP } from '../../electron/window.js';
import { parseConfigText } from '../../gateway/config/load-config.js';

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

describe('first-run config', () => {
  it('the default config is valid for the gateway', () => {
    const { config, issues } = parseConfigText(DEFAULT_CONFIG_YAML, path.join(tmp, 'gateway.yaml'), {});
    expect(issues).toEqual([]);
    expect(config?.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config?.models).toEqual([]);
  });

  it('is written once, 0600, and never overwrites the user’s file', async () => {
    const dir = path.join(tmp, 'userData');
    const first = await ensureDefaultConfig(dir);
    expect(first).toEqual({ path: path.join(dir, CONFIG_FILE_NAME), created: true });
    expect(statSync(first.path).mode & 0o777).toBe(0o600);
    writeFileSync(first.path, 'models: {}\n');
    const again = await ensureDefaultConfig(dir);
    expect(again.created).toBe(false);
    expect(readFileSync(first.path, 'utf8')).toBe('models: {}\n');
  });
});

describe('start at login', () => {
  it('writes and removes an XDG autostart entry on Linux', async () => {
    const env: StartAtLoginEnv = {
      platform: 'linux',
      app: { getLoginItemSettings: () => ({ openAtLogin: false }), setLoginItemSettings: vi.fn() },
      configHome: path.join(tmp, 'config'),
      command: launchCommand({ execPath: '/usr/bin/electron', isPackaged: false, appPath: '/home/me/vllm gateway' }),
    };
    expect(await getStartAtLogin(env)).toBe(false);
    await setStartAtLogin(env, true);
    expect(await getStartAtLogin(env)).toBe(true);
    const text = readFileSync(path.join(env.configHome, 'autostart', 'vllm-gateway.desktop'), 'utf8');
    expect(text).toContain('Exec=/usr/bin/electron "/home/me/vllm gateway" --hidden');
    await setStartAtLogin(env, false);
    expect(await getStartAtLogin(env)).toBe(false);
    expect(env.app.setLoginItemSettings).not.toHaveBeenCalled();
  });

  it('uses the login item API elsewhere, and the AppImage path when packaged as one', async () => {
    const set = vi.fn();
    const env: StartAtLoginEnv = {
      platform: 'darwin',
      app: { getLoginItemSettings: () => ({ openAtLogin: true }), setLoginItemSettings: set },
      configHome: tmp,
      command: [],
    };
    expect(await getStartAtLogin(env)).toBe(true);
    await setStartAtLogin(env, false);
    expect(set).toHaveBeenCalledWith({ openAtLogin: false, args: ['--hidden'] });
    expect(launchCommand({ execPath: '/tmp/.mount/vllm', isPackaged: true, appPath: '/x', appImage: '/home/me/vLLM.AppImage' })).toEqual([
      '/home/me/vLLM.AppImage',
    ]);
    expect(autostartEntry(['/opt/vllm-gateway/vllm-gateway'])).toContain('Exec=/opt/vllm-gateway/vllm-gateway --hidden');
  });
});
