// The built desktop main process (dist/electron/main.js) under Node with `electron` replaced by the
// stand-in (test/fixtures/electron-stand-in), with real mock vLLM process models: start-up, tray,
// window, menus, and the one quit path (a Quit, a second Quit during the drain, SIGINT, a Windows
// session ending, a failed listen), each of which must stop every model the gateway started.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchDesktop, desktopHome, type DesktopApp, type DesktopHome } from './desktop-harness.js';
import { alive, baseYaml, chat, http, MOCK_SERVE_ARGS, post, processModel, REPO_ROOT, waitUntil } from './helpers.js';

const MAIN_JS = path.join(REPO_ROOT, 'dist/electron/main.js');

const running: DesktopApp[] = [];
const homes: DesktopHome[] = [];
let bus: ChildProcess | null = null;
let busAddress = '';

beforeAll(async () => {
  if (!existsSync(MAIN_JS)) throw new Error('dist/electron/main.js is missing: `npm test` builds first (npm run build)');
  // A real, empty D-Bus session bus: no StatusNotifier host on it, as on stock GNOME.
  bus = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let addr = '';
  bus.stdout!.on('data', (c: Buffer) => (addr += c.toString()));
  busAddress = await waitUntil(
    () => addr.split('\n')[0]?.startsWith('unix:') && addr.split('\n')[0],
    10_000,
    'dbus-daemon to print its address',
  );
});

afterEach(async () => {
  for (const a of running.splice(0)) await a.stop();
  for (const h of homes.splice(0)) h.remove();
});

afterAll(() => {
  bus?.kill('SIGTERM');
});

function start(
  yaml: string,
  opts: { argv?: string[]; env?: Record<string, string>; home?: DesktopHome } = {},
): { app: DesktopApp; home: DesktopHome } {
  const home = opts.home ?? desktopHome(yaml);
  if (!opts.home) homes.push(home);
  const app = launchDesktop({ mainJs: MAIN_JS, appPath: REPO_ROOT, home: home.home, argv: opts.argv, env: opts.env });
  running.push(app);
  return { app, home };
}

async function pidOf(url: string, model: string): Promise<number> {
  const status = (await http(url, '/gateway/status')).json as { models: Array<{ id: string; endpoint: string | null }> };
  const endpoint = status.models.find((m) => m.id === model)!.endpoint!;
  return (await http(endpoint, '/mock/stats')).json.pid as number;
}

/** A stream that lasts ~10 min unless cut: 6000 tokens, 100 ms apart (longer than any test waits). */
async function longStream(url: string, model: string): Promise<{ text: Promise<string> }> {
  const res = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    body: JSON.stringify(chat(model, { stream: true })),
    headers: { 'content-type': 'application/json', 'x-mock-tokens': '6000', 'x-mock-token-delay-ms': '100' },
  });
  expect(res.statusCode).toBe(200);
  // Wrapped: an async function returning the promise itself would wait for the whole stream.
  return { text: res.body.text().catch((err: Error) => `(body error: ${err.message})`) };
}

/** A drain no test waits out (1 h): only a cut can end it, so an exit in the test's time proves one. */
const drainHour = (yaml: string) => yaml.replace('drainSeconds: 2', 'drainSeconds: 3600');

/** The app's exit, or null when it is still running after `ms`. */
function exitWithin(app: DesktopApp, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
  return Promise.race([app.exited, new Promise<null>((r) => setTimeout(() => r(null), ms))]);
}

describe('desktop main process', () => {
  it('starts with tray, window and menus, finds a command on the login shell PATH, and Quit stops every model', async () => {
    const home = desktopHome();
    homes.push(home);
    // A command only the login shell's PATH has (a venv or ~/.local/bin), and a variable from its profile.
    const shellBin = path.join(home.home, 'shell-bin');
    mkdirSync(shellBin);
    const wrapper = path.join(shellBin, 'mock-vllm-on-login-path');
    writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" "$@"\n`);
    chmodSync(wrapper, 0o755);
    writeFileSync(path.join(home.home, '.bash_profile'), `export PATH="${shellBin}:$PATH"\nexport GW_TEST_FROM_PROFILE=from-profile\n`);
    const yaml = baseYaml(
      `models:\n${processModel('a')}\n  b:\n    runtime: process\n    command: ${JSON.stringify(['mock-vllm-on-login-path', ...MOCK_SERVE_ARGS])}\n    vramGiB: 4\n    env: { PROFILE_VALUE: "\${GW_TEST_FROM_PROFILE}" }`,
    );
    writeFileSync(path.join(home.configDir, 'gateway.yaml'), yaml);
    const { app } = start(yaml, { argv: ['--tray'], home, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });

    const setPath = await app.waitFor((e) => e.ev === 'app.setPath' && e.name === 'userData', 'userData to be set');
    expect(setPath.path).toBe(home.configDir);
    const trayCreated = await app.waitFor((e) => e.ev === 'tray.create', 'the tray');
    expect(trayCreated).toMatchObject({ image: path.join(REPO_ROOT, 'assets/tray-loading.png'), exists: true });
    const url = await app.url();
    expect(app.tooltip().startsWith(`vLLM Gateway — ${url} — 0 ready`)).toBe(true);

    // The window is shown only once it has painted.
    const load = app.events.findIndex((e) => e.ev === 'window.load');
    const show = await app.waitFor((e) => e.ev === 'window.show', 'the window to show');
    expect(load).toBeGreaterThanOrEqual(0);
    expect(app.events.indexOf(show)).toBeGreaterThan(load);
    const created = app.events.find((e) => e.ev === 'window.create')!;
    expect(created.webPreferences).toMatchObject({ contextIsolation: true, sandbox: true, devTools: true }); // unpackaged run
    expect(created.options).toMatchObject({ autoHideMenuBar: true });

    // The app menu carries the tray menu's items, and Quit with its shortcut.
    const appMenu = await app.waitFor((e) => e.ev === 'menu.setApplicationMenu', 'the app menu');
    const gatewayMenu = (appMenu.items as Array<{ id?: string; submenu?: Array<{ id?: string; accelerator?: string }> }>).find(
      (i) => i.id === 'gateway-menu',
    )!;
    expect(gatewayMenu.submenu!.find((i) => i.id === 'quit')).toMatchObject({ accelerator: 'CmdOrCtrl+Q' });

    expect((await post(url, '/v1/chat/completions', chat('a'))).status).toBe(200);
    const b = await post(url, '/v1/chat/completions', chat('b'));
    expect(b.status, JSON.stringify(b.json)).toBe(200);
    const pids = [await pidOf(url, 'a'), await pidOf(url, 'b')];
    expect(pids.every(alive)).toBe(true);
    const log = () => readFileSync(path.join(home.configDir, 'logs', 'gateway.log'), 'utf8');
    await waitUntil(() => /"msg":"environment"/.test(log()), 10_000, 'the environment log line');
    expect(log()).toMatch(/"pathSource":"the login shell \(\/bin\/bash\) and the app's environment"/);
    expect(log()).toMatch(/"added":\[[^\]]*"GW_TEST_FROM_PROFILE"/);

    app.send({ cmd: 'click', menu: 'tray', id: 'quit' });
    expect(await exitWithin(app, 45_000)).toEqual({ code: 0, signal: null }); // not after the 1 h drain
    expect(pids.filter(alive)).toEqual([]);
    expect(app.events.some((e) => e.ev === 'tray.setToolTip' && String(e.tooltip).includes('Shutting down'))).toBe(true);
    expect(app.events.some((e) => e.ev === 'window.setTitle' && e.title === 'vLLM Gateway — shutting down…')).toBe(true);
    expect(app.events.some((e) => e.ev === 'tray.destroy')).toBe(true);
    // The log was flushed before the exit.
    expect(log()).toMatch(/"msg":"stopped"/);
  }, 120_000);

  it('SIGINT drains; a second Quit during the drain ends it now and still stops the models', async () => {
    const { app } = start(drainHour(baseYaml(`models:\n${processModel('a')}`)), { argv: ['--tray'] });
    const url = await app.url();
    const body = await longStream(url, 'a');
    const pid = await pidOf(url, 'a');

    app.child.kill('SIGINT');
    await app.waitFor((e) => e.ev === 'tray.setToolTip' && String(e.tooltip).includes('finishing requests'), 'the draining tooltip');
    const menu = await app.waitFor(
      (e) => e.ev === 'tray.setContextMenu' && (e.items as Array<{ id?: string }>).some((i) => i.id === 'shutting-down'),
      'the shutdown menu',
    );
    expect((menu.items as Array<{ id?: string; label?: string }>).find((i) => i.id === 'quit')?.label).toBe(
      'Quit now (end requests, stop models)',
    );
    expect(alive(pid)).toBe(true); // still draining: the stream goes on

    app.send({ cmd: 'click', menu: 'tray', id: 'quit' });
    expect(await exitWithin(app, 45_000)).toEqual({ code: 0, signal: null }); // not after the 1 h drain
    expect(alive(pid)).toBe(false);
    expect(await body.text).not.toMatch(/data: \[DONE\]\s*$/); // cut, not finished
    expect(app.events.some((e) => e.ev === 'tray.setToolTip' && String(e.tooltip).includes('stopping models'))).toBe(true);
  }, 120_000);

  it('tray Unload of a busy model asks first: Cancel keeps it serving, Unload anyway forces it', async () => {
    const { app } = start(baseYaml(`models:\n${processModel('a')}`), { argv: ['--tray'] });
    const url = await app.url();
    const body = await longStream(url, 'a');
    const pid = await pidOf(url, 'a');
    const state = async () =>
      ((await http(url, '/gateway/status')).json as { models: Array<{ id: string; state: string }> }).models[0].state;
    const dialogs = () => app.events.filter((e) => e.ev === 'dialog.showMessageBox');

    await app.waitFor(
      (e) => e.ev === 'tray.setContextMenu' && JSON.stringify(e.items).includes('"unload:a"'),
      'the model in the tray menu',
    );
    app.send({ cmd: 'click', menu: 'tray', id: 'unload:a' });
    const asked = await app.waitFor((e) => e.ev === 'dialog.showMessageBox', 'the confirmation');
    expect(asked).toMatchObject({ title: 'Unload a?', message: 'Unload a now?', buttons: ['Cancel', 'Unload anyway'] });
    // Cancelled (the first button): the plain unload was refused, nothing was forced.
    expect((await post(url, '/v1/chat/completions', chat('a'))).status).toBe(200);
    expect(await state()).toBe('ready');
    expect(alive(pid)).toBe(true);

    app.send({ cmd: 'message-box-response', response: 1 });
    await app.waitFor((e) => e.ev === 'message-box-response', 'the new answer');
    app.send({ cmd: 'click', menu: 'tray', id: 'unload:a' });
    await waitUntil(() => dialogs().length === 2, 10_000, 'the second confirmation');
    await waitUntil(async () => (await state()) === 'stopped', 15_000, 'the forced unload');
    expect(alive(pid)).toBe(false);
    expect(await body.text).not.toMatch(/data: \[DONE\]\s*$/); // cut by the forced unload
  }, 120_000);

  it('a Windows session end stops the models without waiting for the drain', async () => {
    const { app } = start(drainHour(baseYaml(`models:\n${processModel('a')}`)), { argv: ['--tray'] });
    const url = await app.url();
    const body = await longStream(url, 'a');
    const pid = await pidOf(url, 'a');
    app.send({ cmd: 'session-end' });
    expect(await exitWithin(app, 45_000)).toEqual({ code: 0, signal: null }); // not after the 1 h drain
    expect(alive(pid)).toBe(false);
    expect(await body.text).not.toMatch(/data: \[DONE\]\s*$/);
  }, 120_000);

  it('a failed listen is reported, Open config works, and Quit still exits cleanly', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    try {
      const yaml = baseYaml(`models:\n${processModel('a')}`).replace('port: 0', `port: ${port}`);
      const { app, home } = start(yaml, { argv: ['--tray'] });
      const note = await app.waitFor(
        (e) => e.ev === 'notification' && e.title === 'vLLM Gateway is not running',
        'the failure notification',
      );
      expect(String(note.body)).toContain(`Could not listen on 127.0.0.1:${port}`);
      expect(app.tooltip()).toMatch(/^vLLM Gateway — not running: Could not listen/);
      app.send({ cmd: 'click', menu: 'tray', id: 'open-config' });
      const opened = await app.waitFor((e) => e.ev === 'shell.openPath', 'Open config');
      expect(opened).toMatchObject({ path: path.join(home.configDir, 'gateway.yaml'), exists: true });
      app.send({ cmd: 'click', menu: 'tray', id: 'quit' });
      expect(await app.exited).toEqual({ code: 0, signal: null });
    } finally {
      taken.close();
    }
  }, 120_000);

  it('without a StatusNotifier host it keeps a normal window: menu bar shown, closing it quits', async () => {
    const { app, home } = start(baseYaml(`models:\n${processModel('a')}`), {
      argv: ['--hidden'],
      env: { DBUS_SESSION_BUS_ADDRESS: busAddress },
    });
    const created = await app.waitFor((e) => e.ev === 'window.create', 'the window');
    expect(created.options).toMatchObject({ autoHideMenuBar: false });
    // Launched at login (--hidden) with no tray to find it in: shown minimised, not invisible.
    await app.waitFor((e) => e.ev === 'window.minimize', 'the window to be minimised');
    expect(app.events.some((e) => e.ev === 'window.showInactive')).toBe(true);
    const url = await app.url();
    expect((await post(url, '/v1/chat/completions', chat('a'))).status).toBe(200);
    const pid = await pidOf(url, 'a');
    const log = readFileSync(path.join(home.configDir, 'logs', 'gateway.log'), 'utf8');
    expect(log).toMatch(
      /"msg":"desktop shell".*"mode":"window".*"trayHost":"absent"|"mode":"window","preference":"auto","trayHost":"absent"/,
    );

    app.send({ cmd: 'close-window' });
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(alive(pid)).toBe(false);
  }, 120_000);

  it('the tray-icon choice is saved and wins over the guess at the next start', async () => {
    const { app, home } = start(baseYaml('models: {}'), { argv: ['--tray'] });
    await app.url();
    app.send({ cmd: 'click', menu: 'app', id: 'tray-icon:window' });
    const prefsFile = path.join(home.configDir, 'desktop.json');
    await waitUntil(() => existsSync(prefsFile) && readFileSync(prefsFile, 'utf8').endsWith('}\n'), 10_000, 'desktop.json');
    expect(JSON.parse(readFileSync(prefsFile, 'utf8'))).toEqual({ trayIcon: 'window' });
    app.send({ cmd: 'click', menu: 'tray', id: 'quit' });
    expect((await app.exited).code).toBe(0);

    const again = launchDesktop({ mainJs: MAIN_JS, appPath: REPO_ROOT, home: home.home });
    running.push(again);
    const created = await again.waitFor((e) => e.ev === 'window.create', 'the window');
    expect(created.options).toMatchObject({ autoHideMenuBar: false });
    again.send({ cmd: 'click', menu: 'app', id: 'quit' });
    expect((await again.exited).code).toBe(0);
  }, 120_000);
});
