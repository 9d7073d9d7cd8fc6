// Whether a tray icon can be seen on Linux (a StatusNotifier host on the session bus), over a real
// dbus-daemon with no host on it as on stock GNOME, and the answers of gdbus and dbus-send.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chooseShellMode,
  isNoWatcherError,
  parseHostRegistered,
  preferenceFromArgs,
  probeTrayHost,
  runCommand,
  type RunCommand,
} from '../../electron/tray-host.js';
import { waitUntil } from '../integration/helpers.js';

const enoent = () => Object.assign(new Error('spawn gdbus ENOENT'), { code: 'ENOENT' });

describe('tray host answers', () => {
  it('reads gdbus and dbus-send replies', () => {
    expect(parseHostRegistered('(<true>,)\n')).toBe(true);
    expect(parseHostRegistered('(<false>,)\n')).toBe(false);
    expect(parseHostRegistered('   variant       boolean true\n')).toBe(true);
    expect(parseHostRegistered('   variant       boolean false\n')).toBe(false);
    expect(parseHostRegistered('')).toBeNull();
    expect(
      isNoWatcherError(
        'Error: GDBus.Error:org.freedesktop.DBus.Error.ServiceUnknown: The name org.kde.StatusNotifierWatcher was not provided by any .service files',
      ),
    ).toBe(true);
    expect(isNoWatcherError('Cannot autolaunch D-Bus without X11 $DISPLAY')).toBe(false);
  });

  it('falls back to dbus-send when gdbus is not installed, and is unknown without a bus', async () => {
    const calls: string[] = [];
    const viaDbusSend: RunCommand = async (cmd) => {
      calls.push(cmd);
      if (cmd === 'gdbus') throw enoent();
      return '   variant       boolean true\n';
    };
    expect(await probeTrayHost(viaDbusSend)).toBe('present');
    expect(calls).toEqual(['gdbus', 'dbus-send']);
    expect(await probeTrayHost(async () => Promise.reject(enoent()))).toBe('unknown');
    const noBus: RunCommand = async () =>
      Promise.reject(Object.assign(new Error('exit 1'), { stderr: 'Cannot autolaunch D-Bus without X11 $DISPLAY' }));
    expect(await probeTrayHost(noBus)).toBe('unknown');
    expect(await probeTrayHost(async () => '(<false>,)')).toBe('absent');
  });
});

describe('tray or window', () => {
  it('guesses only on Linux; an unknown host picks the window; the user’s choice wins', () => {
    expect(chooseShellMode({ platform: 'linux', preference: 'auto', host: 'present' })).toBe('tray');
    expect(chooseShellMode({ platform: 'linux', preference: 'auto', host: 'absent' })).toBe('window');
    expect(chooseShellMode({ platform: 'linux', preference: 'auto', host: 'unknown' })).toBe('window');
    expect(chooseShellMode({ platform: 'darwin', preference: 'auto', host: 'unknown' })).toBe('tray');
    expect(chooseShellMode({ platform: 'win32', preference: 'window', host: 'unknown' })).toBe('window');
    expect(chooseShellMode({ platform: 'linux', preference: 'tray', host: 'absent' })).toBe('tray');
    expect(preferenceFromArgs(['x', '--no-tray'], 'tray')).toBe('window');
    expect(preferenceFromArgs(['x', '--tray'], 'window')).toBe('tray');
    expect(preferenceFromArgs(['x'], 'window')).toBe('window');
  });
});

describe('over a real session bus', () => {
  let bus: ChildProcess;
  let saved: string | undefined;
  beforeAll(async () => {
    bus = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    bus.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    saved = process.env.DBUS_SESSION_BUS_ADDRESS;
    process.env.DBUS_SESSION_BUS_ADDRESS = await waitUntil(() => out.startsWith('unix:') && out.split('\n')[0], 10_000, 'the bus address');
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.DBUS_SESSION_BUS_ADDRESS;
    else process.env.DBUS_SESSION_BUS_ADDRESS = saved;
    bus.kill('SIGTERM');
  });

  it('a bus without a StatusNotifierWatcher (stock GNOME) reads absent', async () => {
    expect(await probeTrayHost(runCommand)).toBe('absent');
  });

  it('dbus-send gives the same answer', async () => {
    const onlyDbusSend: RunCommand = (cmd, args) => (cmd === 'gdbus' ? Promise.reject(enoent()) : runCommand(cmd, args));
    expect(await probeTrayHost(onlyDbusSend)).toBe('absent');
  });
});
