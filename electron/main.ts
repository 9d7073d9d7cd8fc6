// Electron main: lifecycle wiring only (docs/architecture.md rule 8). Decisions live in pure modules
// tested under Node: quit-controller.ts, tray-menu.ts, app-menu.ts, menu-refresh.ts, tray-host.ts,
// login-item.ts, login-shell-env.ts, ipc/handlers.ts, window.ts, notifications.ts, ../common/unload-asking-first.ts.
import { app, BrowserWindow, clipboard, dialog, ipcMain, Menu, nativeTheme, Notification, powerMonitor, session, shell } from 'electron';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { createGateway } from '../gateway/index.js';
import { appConfigDir, CONFIG_FILE_NAME, ensureDefaultConfig } from '../gateway/config/default-config.js';
import { loadConfigFile } from '../gateway/config/load-config.js';
import { registerUi } from '../gateway/http/ui-route.js';
import type { GatewayHandle } from '../gateway/gateway-handle.js';
import type { StatusDocument } from '../gateway/status-types.js';
import { buildAppMenu } from './app-menu.js';
import { readPrefs, writePrefs, type DesktopPrefs } from './desktop-prefs.js';
import { createIpcHandlers, registerIpc, StatusBroadcaster, toIpcError } from './ipc/handlers.js';
import { getStartAtLogin, launchedAtLogin, loginItemPlan, setStartAtLogin, type LoginItemEnv } from './login-item.js';
import { resolveLoginShellEnv } from './login-shell-env.js';
import { MenuRefreshGate } from './menu-refresh.js';
import { newFailures } from './notifications.js';
import { QuitController, type QuitReason } from './quit-controller.js';
import { AppTray, toElectronTemplate } from './tray.js';
import { chooseShellMode, preferenceFromArgs, probeTrayHost, runCommand, type ShellMode, type TrayPreference } from './tray-host.js';
import { buildTrayMenu, modelsToUnload, type TrayAction, type TrayMenuOptions } from './tray-menu.js';
import { unloadAskingFirst, type BusyReason } from '../common/unload-asking-first.js';
import { appUrls, hardenWebContents, isAppUrl, isHttpUrl, mainWindowOptions, permissionAllowed, WINDOW_CSP } from './window.js';

/** Must match build/electron-builder.yml's appId: Windows ties toasts and the taskbar to it. */
const APP_ID = 'dev.vllm-gateway.app';
const TITLE = 'vLLM Gateway';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/electron
const appRoot = app.getAppPath(); // holds package.json, dist/ and assets/
const rendererDir = path.join(appRoot, 'dist', 'renderer');
const indexPath = path.join(rendererDir, 'index.html');
const preloadPath = path.join(here, 'preload.cjs');
const assetsDir = path.join(appRoot, 'assets');
const urls = appUrls(indexPath, app.isPackaged ? null : process.env.ELECTRON_RENDERER_URL);
const isOurs = (url: string) => isAppUrl(url, urls);

// The config folder is fixed (not derived from the display name), so `npm start`, the packaged app
// and `serve` without --config share ~/.config/vllm-gateway (see default-config.ts). Set before
// anything reads userData: the single-instance lock lives there too.
app.setPath('userData', appConfigDir());
const userData = app.getPath('userData');
const configPath = path.join(userData, CONFIG_FILE_NAME);

let gateway: GatewayHandle | null = null;
let gatewayError: string | null = null;
let lastStatus: StatusDocument | null = null;
let win: BrowserWindow | null = null;
let winReady = false;
let showWhenReady = false;
let tray: AppTray | null = null;
let mode: ShellMode = 'tray';
let prefs: DesktopPrefs = { trayIcon: 'auto' };
let preference: TrayPreference = 'auto';
let startAtLogin: boolean | null = null;
let resolveStarted: (g: GatewayHandle | null) => void = () => undefined;
const started = new Promise<GatewayHandle | null>((resolve) => (resolveStarted = resolve));

const logDestination = pino.destination({ dest: path.join(userData, 'logs', 'gateway.log'), mkdir: true, sync: false });
const logger = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, logDestination);

const broadcaster = new StatusBroadcaster(isOurs);
const appMenuGate = new MenuRefreshGate(2000, Date.now);
const loginEnv = (): LoginItemEnv => ({
  plan: loginItemPlan({
    platform: process.platform,
    execPath: process.execPath,
    isPackaged: app.isPackaged,
    appPath: appRoot,
    appImage: process.env.APPIMAGE,
  }),
  app,
  configHome: process.env.XDG_CONFIG_HOME || path.join(app.getPath('home'), '.config'),
});

const quit = new QuitController({
  gateway: () => started,
  onPhase: (phase) => {
    logger.info({ phase }, phase === 'draining' ? 'quitting: draining requests' : `quitting: ${phase}`);
    refreshMenus();
  },
  finish: ({ error }) => {
    if (error) logger.error({ err: toIpcError(error).message }, 'shutdown failed');
    else logger.info('stopped');
    tray?.destroy();
    try {
      logDestination.flushSync(); // sync: false buffers; app.exit does not wait for it
    } catch {
      /* a write in progress: nothing more can be done at exit */
    }
    app.exit(error ? 1 : 0);
  },
});

function requestQuit(reason: QuitReason): void {
  quit.request(reason);
}

function openExternal(url: string): Promise<void> {
  return isHttpUrl(url) ? shell.openExternal(url) : Promise.resolve();
}

function menuOptions(): TrayMenuOptions {
  return { startAtLogin, gatewayError, quitPhase: quit.phase };
}

function refreshMenus(): void {
  if (!app.isReady()) return; // a signal before ready: menus come with the window
  const opts = menuOptions();
  tray?.update(lastStatus, opts);
  const template = buildAppMenu(buildTrayMenu(lastStatus, opts), { platform: process.platform, mode, preference });
  if (appMenuGate.offer(template) === 'apply') {
    Menu.setApplicationMenu(Menu.buildFromTemplate(toElectronTemplate(template, (a) => void dispatch(a))));
  }
  const title = quit.quitting ? `${TITLE} — shutting down…` : TITLE;
  if (win && !win.isDestroyed() && win.getTitle() !== title) win.setTitle(title);
}

function onStatus(doc: StatusDocument): void {
  for (const n of newFailures(lastStatus, doc)) {
    if (Notification.isSupported()) new Notification({ title: n.title, body: n.body }).show();
  }
  lastStatus = doc;
  broadcaster.push(doc);
  refreshMenus();
}

function reveal(w: BrowserWindow): void {
  if (w.isMinimized()) w.restore();
  w.show();
  w.focus();
}

/** Shows the window once it has painted (ready-to-show), never a blank one. */
function showWindow(): void {
  if (!win || win.isDestroyed()) win = createWindow();
  if (winReady) reveal(win);
  else showWhenReady = true;
}

function createWindow(): BrowserWindow {
  winReady = false;
  const w = new BrowserWindow(
    mainWindowOptions({
      preloadPath,
      dark: nativeTheme.shouldUseDarkColors,
      iconPath: path.join(assetsDir, 'icon.png'),
      devTools: !app.isPackaged,
      showMenuBar: mode === 'window',
    }),
  );
  hardenWebContents(w.webContents, { openExternal: (url) => void openExternal(url) });
  w.on('page-title-updated', (event) => event.preventDefault()); // the title says when it shuts down
  w.on('close', (event) => {
    if (quit.done) return;
    event.preventDefault();
    if (mode === 'window')
      requestQuit('window-closed'); // a normal window: closing it quits (again: now)
    else w.hide(); // tray mode: closing hides; Quit is in the tray menu
  });
  // Windows ends a session without before-quit; only windows hear of it (a hidden one too).
  w.on('session-end', () => requestQuit('session-end'));
  w.once('ready-to-show', () => {
    winReady = true;
    if (showWhenReady) reveal(w);
    showWhenReady = false;
  });
  if (urls.devServerUrl) void w.loadURL(urls.devServerUrl);
  else void w.loadFile(indexPath);
  refreshMenus();
  return w;
}

/** The tray's confirmation before a forced unload: a native dialog. */
async function confirmForce(id: string, reason: BusyReason): Promise<boolean> {
  const why = reason.kind === 'refused' ? reason.message : `${id} has requests in flight or queued.`;
  const { response } = await dialog.showMessageBox({
    type: 'warning',
    buttons: ['Cancel', 'Unload anyway'],
    defaultId: 0,
    cancelId: 0,
    title: `Unload ${id}?`,
    message: `Unload ${id} now?`,
    detail: `${why}\n\nUnloading now ends its requests with an error (503).`,
  });
  return response === 1;
}

async function unloadAsking(id: string): Promise<void> {
  const g = gateway;
  if (!g) return;
  await unloadAskingFirst(id, { unload: (m, opts) => g.unload(m, opts), confirm: confirmForce });
}

function reportActionError(what: string, err: unknown): void {
  const e = toIpcError(err);
  if (Notification.isSupported()) new Notification({ title: `Could not ${what}`, body: e.message.slice(0, 240) }).show();
}

async function openConfig(): Promise<void> {
  // Works before the gateway has started, and after the user deleted the file.
  await ensureDefaultConfig(userData);
  const failure = await shell.openPath(configPath);
  if (failure) shell.showItemInFolder(configPath);
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
    case 'sleep':
      await gateway?.sleep(action.id).catch((err: unknown) => reportActionError(`put ${action.id} to sleep`, err));
      return;
    case 'unload-all':
      for (const id of modelsToUnload(lastStatus)) await unloadAsking(id).catch((err: unknown) => reportActionError(`unload ${id}`, err));
      return;
    case 'open-dashboard':
      showWindow();
      return;
    case 'open-config':
      await openConfig().catch((err: unknown) => reportActionError('open the config', err));
      return;
    case 'toggle-start-at-login':
      await setStartAtLogin(loginEnv(), !startAtLogin).catch((err: unknown) => reportActionError('change Start at login', err));
      startAtLogin = await getStartAtLogin(loginEnv()).catch(() => false);
      refreshMenus();
      return;
    case 'set-tray-preference':
      prefs = { ...prefs, trayIcon: action.value };
      preference = action.value;
      await writePrefs(userData, prefs).catch((err: unknown) => reportActionError('save the tray icon setting', err));
      refreshMenus();
      return;
    case 'quit':
      requestQuit('quit');
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

/** Resolves with the gateway that was created (listening or not), so quitting can always close it. */
async function startGateway(): Promise<GatewayHandle | null> {
  await ensureDefaultConfig(userData);
  const { config, issues } = await loadConfigFile(configPath, process.env);
  if (!config) {
    gatewayError = `${issues.length} problem(s) in ${configPath}: ${issues.map((i) => `${i.path || '(file)'}: ${i.message}`).join('; ')}`;
    return null;
  }
  const g = await createGateway(config, { logger, registerUi: (fastify) => registerUi(fastify, { distDir: rendererDir }) });
  try {
    await g.listen();
  } catch (err) {
    gatewayError = `Could not listen on ${config.listen.host}:${config.listen.port}: ${toIpcError(err).message}`;
    void g.close().catch(() => undefined); // what it started (preloads, adoptions) must not outlive it
    return g;
  }
  gateway = g;
  g.onStatus(onStatus);
  onStatus(g.status());
  return g;
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

  // A desktop launch lacks the shell's PATH and variables (login-shell-env.ts): read them once,
  // before the config's ${NAME}s are filled and before any model's command is spawned.
  const resolved = await resolveLoginShellEnv({ platform: process.platform, env: process.env });
  Object.assign(process.env, resolved.env);
  logger.info({ pathSource: resolved.pathSource, PATH: process.env.PATH, added: resolved.added }, 'environment');

  prefs = await readPrefs(userData);
  preference = preferenceFromArgs(process.argv, prefs.trayIcon);
  const host = process.platform === 'linux' && preference === 'auto' ? await probeTrayHost(runCommand) : 'unknown';
  mode = chooseShellMode({ platform: process.platform, preference, host });
  logger.info({ mode, preference, trayHost: host }, 'desktop shell');

  startAtLogin = await getStartAtLogin(loginEnv()).catch(() => false);
  tray = new AppTray(assetsDir, (action) => void dispatch(action));
  tray.onClick(showWindow);

  // The window exists from the start (hidden when launched at login): on Windows only windows hear
  // that the session ends. Without a tray it is the app, so a login launch shows it minimised.
  win = createWindow();
  if (!launchedAtLogin(process.argv, process.platform, app)) showWindow();
  else if (mode === 'window') {
    win.once('ready-to-show', () => {
      win?.showInactive();
      win?.minimize();
    });
  }

  // Linux and macOS: the system is shutting down; preventDefault asks it to wait for the exit.
  powerMonitor.on('shutdown', (event?: { preventDefault(): void }) => {
    event?.preventDefault();
    requestQuit('system-shutdown');
  });

  if (quit.quitting) {
    resolveStarted(null); // asked to quit while setting up: start nothing
    return;
  }
  const g = await startGateway().catch((err: unknown) => {
    gatewayError = toIpcError(err).message;
    return null;
  });
  resolveStarted(g);
  refreshMenus();
  if (gatewayError && !quit.quitting) {
    if (Notification.isSupported()) new Notification({ title: 'vLLM Gateway is not running', body: gatewayError.slice(0, 240) }).show();
    showWindow();
  }
}

app.enableSandbox();
if (process.platform === 'win32') app.setAppUserModelId(app.isPackaged ? APP_ID : process.execPath);
if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => showWindow());
  app.on('activate', () => showWindow()); // macOS: dock icon clicked
  app.on('window-all-closed', () => {
    /* the quit path decides when to exit (quit-controller.ts) */
  });
  app.on('before-quit', (event) => {
    // Cmd+Q, the app menu's Quit, app.quit() from anywhere: all go through the one quit path.
    if (quit.done) return;
    event.preventDefault();
    requestQuit('quit');
  });
  // Ctrl-C in the terminal of `npm start`, or a service manager's SIGTERM. Chromium's own handler
  // allows one graceful attempt and then dies at the next signal, leaving models running.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => requestQuit('signal'));
  main().catch((err: unknown) => {
    dialog.showErrorBox('vLLM Gateway could not start', err instanceof Error ? (err.stack ?? err.message) : String(err));
    resolveStarted(null);
    requestQuit('quit');
  });
}
