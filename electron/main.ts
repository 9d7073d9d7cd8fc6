// Electron main: lifecycle wiring only (ARCHITECTURE.md rule 8). Decisions live in pure modules
// tested under Node: tray-menu.ts, ipc/handlers.ts, window.ts, notifications.ts, settings.ts.
import { app, BrowserWindow, clipboard, dialog, ipcMain, nativeTheme, Notification, session, shell } from 'electron';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { createGateway } from '../gateway/index.js';
import { loadConfigFile } from '../gateway/config/load-config.js';
import { registerUi } from '../gateway/http/ui-route.js';
import type { GatewayHandle } from '../gateway/gateway-handle.js';
import type { StatusDocument } from '../gateway/status-types.js';
import { ensureDefaultConfig } from './default-config.js';
import { createIpcHandlers, registerIpc, StatusBroadcaster, toIpcError } from './ipc/handlers.js';
import { newFailures } from './notifications.js';
import { getStartAtLogin, HIDDEN_ARG, launchCommand, setStartAtLogin, type StartAtLoginEnv } from './settings.js';
import { AppTray } from './tray.js';
import { modelsToUnload, type TrayAction } from './tray-menu.js';
import { appUrls, hardenWebContents, isAppUrl, isHttpUrl, mainWindowOptions, permissionAllowed, WINDOW_CSP } from './window.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/electron
const appRoot = app.getAppPath(); // holds package.json, dist/ and assets/
const rendererDir = path.join(appRoot, 'dist', 'renderer');
const indexPath = path.join(rendererDir, 'index.html');
const preloadPath = path.join(here, 'preload.cjs');
const assetsDir = path.join(appRoot, 'assets');
const urls = appUrls(indexPath, app.isPackaged ? null : process.env.ELECTRON_RENDERER_URL);
const isOurs = (url: string) => isAppUrl(url, urls);

let gateway: GatewayHandle | null = null;
let gatewayError: string | null = null;
let configPath = '';
let lastStatus: StatusDocument | null = null;
let win: BrowserWindow | null = null;
let tray: AppTray | null = null;
let quitting = false;
let closed = false;
let startAtLogin = false;

const broadcaster = new StatusBroadcaster(isOurs);
const loginEnv = (): StartAtLoginEnv => ({
  platform: process.platform,
  app,
  configHome: process.env.XDG_CONFIG_HOME || path.join(app.getPath('home'), '.config'),
  command: launchCommand({ execPath: process.execPath, isPackaged: app.isPackaged, appPath: appRoot, appImage: process.env.APPIMAGE }),
});

function openExternal(url: string): Promise<void> {
  return isHttpUrl(url) ? shell.openExternal(url) : Promise.resolve();
}

function refreshTray(): void {
  tray?.update(lastStatus, { startAtLogin, gatewayError });
}

function onStatus(doc: StatusDocument): void {
  for (const n of newFailures(lastStatus, doc)) {
    if (Notification.isSupported()) new Notification({ title: n.title, body: n.body }).show();
  }
  lastStatus = doc;
  broadcaster.push(doc);
  refreshTray();
}

function showWindow(): void {
  if (!win || win.isDestroyed()) win = createWindow();
  if (win.isMinimized()) win.restore();
  win.show();
  win.focus();
}

function createWindow(): BrowserWindow {
  const w = new BrowserWindow(
    mainWindowOptions({ preloadPath, dark: nativeTheme.shouldUseDarkColors, iconPath: path.join(assetsDir, 'icon.png') }),
  );
  hardenWebContents(w.webContents, { openExternal: (url) => void openExternal(url) });
  w.on('close', (event) => {
    if (!quitting) {
      event.preventDefault(); // closing hides to the tray; Quit is in the tray menu
      w.hide();
    }
  });
  w.once('ready-to-show', () => w.show());
  if (urls.devServerUrl) void w.loadURL(urls.devServerUrl);
  else void w.loadFile(indexPath);
  return w;
}

async function confirmForce(id: string, message: string): Promise<boolean> {
  const { response } = await dialog.showMessageBox({
    type: 'warning',
    buttons: ['Cancel', 'Unload anyway'],
    defaultId: 0,
    cancelId: 0,
    title: `Unload ${id}?`,
    message: `Unload ${id} now?`,
    detail: `${message}\n\nUnloading now ends its requests with an error (503).`,
  });
  return response === 1;
}

async function unloadAsking(id: string): Promise<void> {
  if (!gateway) return;
  try {
    await gateway.unload(id, { force: false });
  } catch (err) {
    const e = toIpcError(err);
    if (e.code === 'model_busy' && (await confirmForce(id, e.message))) await gateway.unload(id, { force: true });
    else if (e.code !== 'model_busy') throw err;
  }
}

function reportActionError(what: string, err: unknown): void {
  const e = toIpcError(err);
  if (Notification.isSupported()) new Notification({ title: `Could not ${what}`, body: e.message.slice(0, 240) }).show();
}

async function dispatch(action: TrayAction): Promise<void> {
  switch (action.type) {
    case 'copy-url':
      if (lastStatus) clipboard.writeText(lastStatus.listen);
      return;
    case 'load':
      await gateway?.load(action.id).catch((err: unknown) => reportActionError(`load ${action.id}`, err));
      return;
    case 'unload':
      await unloadAsking(action.id).catch((err: unknown) => reportActionError(`unload ${action.id}`, err));
      return;
    case 'unload-all':
      for (const id of modelsToUnload(lastStatus)) await unloadAsking(id).catch((err: unknown) => reportActionError(`unload ${id}`, err));
      return;
    case 'open-dashboard':
      showWindow();
      return;
    case 'open-config': {
      const failure = await shell.openPath(configPath);
      if (failure) shell.showItemInFolder(configPath);
      return;
    }
    case 'toggle-start-at-login':
      await setStartAtLogin(loginEnv(), !startAtLogin).catch((err: unknown) => reportActionError('change Start at login', err));
      startAtLogin = await getStartAtLogin(loginEnv()).catch(() => false);
      refreshTray();
      return;
    case 'quit':
      app.quit();
      return;
  }
}

function hardenSession(): void {
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, permission, callback) => callback(permissionAllowed(permission)));
  ses.setPermissionCheckHandler((_wc, permission) => permissionAllowed(permission));
  ses.webRequest.onHeadersReceived((details, callback) => {
    // The dev server needs inline scripts for hot reload; the built app gets the strict policy.
    if (urls.devServerUrl && details.url.startsWith(urls.devServerUrl)) return callback({});
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [WINDOW_CSP] } });
  });
}

async function startGateway(): Promise<void> {
  const userData = app.getPath('userData');
  const ensured = await ensureDefaultConfig(userData);
  configPath = ensured.path;
  const { config, issues } = await loadConfigFile(configPath, process.env);
  if (!config) {
    gatewayError = `${issues.length} problem(s) in ${configPath}: ${issues.map((i) => `${i.path || '(file)'}: ${i.message}`).join('; ')}`;
    return;
  }
  const logDir = app.getPath('logs');
  mkdirSync(logDir, { recursive: true });
  const logger = pino(
    { base: undefined, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: path.join(logDir, 'gateway.log'), mkdir: true, sync: false }),
  );
  try {
    const g = await createGateway(config, { logger, registerUi: (fastify) => registerUi(fastify, { distDir: rendererDir }) });
    await g.listen();
    gateway = g;
    g.onStatus(onStatus);
    onStatus(g.status());
  } catch (err) {
    gatewayError = toIpcError(err).message;
  }
}

async function main(): Promise<void> {
  await app.whenReady();
  hardenSession();
  registerIpc(
    ipcMain,
    createIpcHandlers({
      gateway: () => gateway,
      unavailableReason: () => gatewayError ?? 'The gateway is starting.',
      isAppUrl: isOurs,
      openExternal,
    }),
    broadcaster,
  );
  startAtLogin = await getStartAtLogin(loginEnv()).catch(() => false);
  tray = new AppTray(assetsDir, (action) => void dispatch(action));
  tray.onClick(showWindow);
  refreshTray();

  if (!process.argv.includes(HIDDEN_ARG)) showWindow();
  await startGateway();
  refreshTray();
  if (gatewayError) {
    if (Notification.isSupported()) new Notification({ title: 'vLLM Gateway is not running', body: gatewayError.slice(0, 240) }).show();
    showWindow();
  }
}

app.enableSandbox();
if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => showWindow());
  app.on('activate', () => showWindow()); // macOS: dock icon clicked
  app.on('window-all-closed', () => {
    /* keep running in the tray */
  });
  app.on('before-quit', (event) => {
    quitting = true;
    if (closed || !gateway) return;
    // Graceful shutdown first (drain, stop the models it started as configured), then quit.
    event.preventDefault();
    const g = gateway;
    gateway = null;
    void g
      .close()
      .catch(() => undefined)
      .finally(() => {
        closed = true;
        tray?.destroy();
        app.quit();
      });
  });
  main().catch((err: unknown) => {
    dialog.showErrorBox('vLLM Gateway could not start', err instanceof Error ? (err.stack ?? err.message) : String(err));
    app.exit(1);
  });
}
