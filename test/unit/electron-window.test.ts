// Window options keep the security settings; new windows and navigation are denied. (The preload
// bundle is built and run in test/unit/electron-ipc.test.ts.)
import { describe, expect, it, vi } from 'vitest';
import { hardenWebContents, mainWindowOptions, permissionAllowed, WINDOW_CSP } from '../../electron/window.js';

vi.mock('electron', () => ({}));

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
