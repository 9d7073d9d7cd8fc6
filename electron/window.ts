// The dashboard window: security settings (pure, tested), URL checks for IPC senders and
// navigation, and the hardening applied to its webContents.
import type { BrowserWindowConstructorOptions } from 'electron';
import { pathToFileURL } from 'node:url';
import { DASHBOARD_CSP } from '../gateway/http/content-security-policy.js';

/** The CSP the window's responses carry (also in the built index.html as a meta tag). */
export const WINDOW_CSP = DASHBOARD_CSP;

export function mainWindowOptions(opts: {
  preloadPath: string;
  dark?: boolean;
  iconPath?: string;
  /** Off in packaged builds: DevTools would let anyone at the keyboard run code with the window's IPC bridge. */
  devTools?: boolean;
  /** Window mode (no tray): the menu bar holds Quit and the rest, so it stays visible. */
  showMenuBar?: boolean;
}): BrowserWindowConstructorOptions {
  return {
    width: 1280,
    height: 860,
    minWidth: 720,
    minHeight: 520,
    show: false,
    title: 'vLLM Gateway',
    backgroundColor: opts.dark ? '#0c0c0f' : '#f6f6f7',
    autoHideMenuBar: !opts.showMenuBar,
    ...(opts.iconPath ? { icon: opts.iconPath } : {}),
    webPreferences: {
      preload: opts.preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
      devTools: opts.devTools ?? false,
    },
  };
}

export interface AppUrls {
  /** file:// URL of dist/renderer/index.html. */
  indexUrl: string;
  /** Vite dev server origin in development (ELECTRON_RENDERER_URL), else null. */
  devServerUrl: string | null;
}

export function appUrls(indexPath: string, devServerUrl: string | null | undefined): AppUrls {
  return { indexUrl: pathToFileURL(indexPath).toString(), devServerUrl: devServerUrl ? new URL(devServerUrl).toString() : null };
}

/** True for the app's own page: the file:// index (any hash/query) or a page of the dev server. */
export function isAppUrl(url: string, urls: AppUrls): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol === 'file:') {
    const idx = new URL(urls.indexUrl);
    return u.pathname === idx.pathname && u.host === idx.host;
  }
  if (urls.devServerUrl) {
    const dev = new URL(urls.devServerUrl);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === dev.origin;
  }
  return false;
}

export function isHttpUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Permissions the dashboard may use: writing the clipboard (copy buttons). Everything else is denied. */
export function permissionAllowed(permission: string): boolean {
  return permission === 'clipboard-sanitized-write';
}

interface PreventableEvent {
  preventDefault(): void;
}

/** The parts of WebContents the hardening touches. */
export interface HardenableContents {
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' } | { action: 'allow' }): void;
  on(event: 'will-navigate' | 'will-redirect', listener: (event: PreventableEvent, url: string) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: PreventableEvent) => void): unknown;
}

/**
 * New windows are denied (http(s) links open in the user's browser instead); navigation away from
 * the loaded page and <webview> are blocked.
 */
export function hardenWebContents(wc: HardenableContents, deps: { openExternal(url: string): void }): void {
  wc.setWindowOpenHandler(({ url }) => {
    if (isHttpUrl(url)) deps.openExternal(url);
    return { action: 'deny' };
  });
  wc.on('will-navigate', (event: PreventableEvent) => event.preventDefault());
  wc.on('will-redirect', (event: PreventableEvent) => event.preventDefault());
  wc.on('will-attach-webview', (event: PreventableEvent) => event.preventDefault());
}
