// Start at login per platform: which login item applies (or none), the Windows query with the same
// path and args as the setting, macOS's wasOpenedAtLogin, and the Linux XDG autostart entry.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  autostartEntry,
  getStartAtLogin,
  launchCommand,
  launchedAtLogin,
  loginItemPlan,
  setStartAtLogin,
  type LoginItemApi,
  type LoginItemEnv,
} from '../../electron/login-item.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'vllm-gw-login-item-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Electron's login item API as Windows behaves: openAtLogin is true only for the same path and args. */
function windowsLoginItems(): LoginItemApi & { entries: Map<string, boolean> } {
  const entries = new Map<string, boolean>();
  const key = (p?: string, a?: string[]) => JSON.stringify([p ?? 'C:\\default.exe', a ?? []]);
  return {
    entries,
    getLoginItemSettings: (o) => ({
      openAtLogin: entries.has(key(o?.path, o?.args)),
      executableWillLaunchAtLogin: [...entries.values()].some(Boolean),
    }),
    setLoginItemSettings: (s) => {
      if (s.openAtLogin) entries.set(key(s.path, s.args), true);
      else entries.delete(key(s.path, s.args));
    },
  };
}

describe('login item plan', () => {
  const base = { execPath: '/x/electron', appPath: '/home/me/vllm-gateway', isPackaged: false };

  it('Linux: an autostart entry, also for npm start (electron + app folder) and the AppImage', () => {
    expect(loginItemPlan({ ...base, platform: 'linux' })).toEqual({
      kind: 'xdg-autostart',
      command: ['/x/electron', '/home/me/vllm-gateway'],
    });
    expect(loginItemPlan({ ...base, platform: 'linux', isPackaged: true, appImage: '/home/me/vLLM.AppImage' })).toEqual({
      kind: 'xdg-autostart',
      command: ['/home/me/vLLM.AppImage'],
    });
  });

  it('Windows: the exe with --hidden; unpackaged, electron.exe with the app folder too', () => {
    expect(loginItemPlan({ ...base, platform: 'win32', execPath: 'C:\\vLLM Gateway.exe', isPackaged: true })).toEqual({
      kind: 'login-item',
      path: 'C:\\vLLM Gateway.exe',
      args: ['--hidden'],
    });
    expect(loginItemPlan({ ...base, platform: 'win32', execPath: 'C:\\electron.exe', appPath: 'C:\\src\\gw' })).toEqual({
      kind: 'login-item',
      path: 'C:\\electron.exe',
      args: ['C:\\src\\gw', '--hidden'],
    });
  });

  it('macOS: the packaged app only (unpackaged it would be the bare Electron.app); elsewhere none', () => {
    expect(loginItemPlan({ ...base, platform: 'darwin', isPackaged: true })).toEqual({ kind: 'login-item' });
    expect(loginItemPlan({ ...base, platform: 'darwin' })).toMatchObject({ kind: 'unavailable' });
    expect(loginItemPlan({ ...base, platform: 'freebsd' })).toMatchObject({ kind: 'unavailable' });
  });
});

describe('start at login', () => {
  it('Windows: reads back what it wrote (asked with the same path and args), and turns off', async () => {
    const app = windowsLoginItems();
    const env: LoginItemEnv = {
      plan: loginItemPlan({ platform: 'win32', execPath: 'C:\\gw.exe', appPath: 'C:\\gw', isPackaged: true }),
      app,
      configHome: tmp,
    };
    expect(await getStartAtLogin(env)).toBe(false);
    await setStartAtLogin(env, true);
    expect(await getStartAtLogin(env)).toBe(true);
    expect([...app.entries.keys()]).toEqual([JSON.stringify(['C:\\gw.exe', ['--hidden']])]);
    await setStartAtLogin(env, false);
    expect(await getStartAtLogin(env)).toBe(false);
    expect(app.entries.size).toBe(0);
  });

  it('Windows: an entry the user disabled in Task Manager reads off', async () => {
    const app: LoginItemApi = {
      getLoginItemSettings: () => ({ openAtLogin: true, executableWillLaunchAtLogin: false }),
      setLoginItemSettings: vi.fn(),
    };
    const env: LoginItemEnv = { plan: { kind: 'login-item', path: 'C:\\gw.exe', args: ['--hidden'] }, app, configHome: tmp };
    expect(await getStartAtLogin(env)).toBe(false);
  });

  it('macOS: no args; a login launch is told by wasOpenedAtLogin', async () => {
    const set = vi.fn();
    const app: LoginItemApi = { getLoginItemSettings: () => ({ openAtLogin: true, wasOpenedAtLogin: true }), setLoginItemSettings: set };
    const env: LoginItemEnv = { plan: { kind: 'login-item' }, app, configHome: tmp };
    expect(await getStartAtLogin(env)).toBe(true);
    await setStartAtLogin(env, false);
    expect(set).toHaveBeenCalledWith({ openAtLogin: false });
    expect(launchedAtLogin(['/Applications/vLLM Gateway.app/Contents/MacOS/vLLM Gateway'], 'darwin', app)).toBe(true);
    expect(launchedAtLogin(['/x'], 'linux', app)).toBe(false);
    expect(launchedAtLogin(['/x', '--hidden'], 'linux', app)).toBe(true);
  });

  it('unavailable: reads null (the menu hides the item) and refuses to set', async () => {
    const env: LoginItemEnv = {
      plan: { kind: 'unavailable', reason: 'needs the packaged app' },
      app: windowsLoginItems(),
      configHome: tmp,
    };
    expect(await getStartAtLogin(env)).toBeNull();
    await expect(setStartAtLogin(env, true)).rejects.toThrow('needs the packaged app');
  });

  it('Linux: writes and removes an XDG autostart entry', async () => {
    const app = windowsLoginItems();
    const env: LoginItemEnv = {
      plan: loginItemPlan({ platform: 'linux', execPath: '/usr/bin/electron', isPackaged: false, appPath: '/home/me/vllm gateway' }),
      app,
      configHome: path.join(tmp, 'config'),
    };
    expect(await getStartAtLogin(env)).toBe(false);
    await setStartAtLogin(env, true);
    expect(await getStartAtLogin(env)).toBe(true);
    const text = readFileSync(path.join(env.configHome, 'autostart', 'vllm-gateway.desktop'), 'utf8');
    expect(text).toContain('Exec=/usr/bin/electron "/home/me/vllm gateway" --hidden');
    await setStartAtLogin(env, false);
    expect(await getStartAtLogin(env)).toBe(false);
    expect(app.entries.size).toBe(0);
    expect(autostartEntry(['/opt/vllm-gateway/vllm-gateway'])).toContain('Exec=/opt/vllm-gateway/vllm-gateway --hidden');
    // The Desktop Entry spec: reserved characters quoted, with ", `, $ and \\ escaped inside; the
    // string-value escaping doubles that backslash; a literal % is %% (a single % starts a field code).
    expect(autostartEntry(['/home/me/Apps/100%/vLLM $Gateway.AppImage'])).toContain(
      'Exec="/home/me/Apps/100%%/vLLM \\\\$Gateway.AppImage" --hidden',
    );
    expect(autostartEntry(['/opt/50%off/gw'])).toContain('Exec=/opt/50%%off/gw --hidden');
    expect(launchCommand({ execPath: '/opt/x', isPackaged: true, appPath: '/y' })).toEqual(['/opt/x']);
  });
});
