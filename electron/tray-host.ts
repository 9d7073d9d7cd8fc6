// Whether a tray icon can be seen. On Linux, Electron's Tray is a StatusNotifierItem, shown only when
// a StatusNotifier host runs (KDE, XFCE, Cinnamon, Ubuntu's GNOME with its AppIndicator extension);
// stock GNOME (Fedora, Debian, RHEL) has none, and an icon there is invisible. Without one the app
// keeps a normal window with its menu and Quit instead. The user's choice overrides the guess.
import { execFile } from 'node:child_process';

export type TrayHost = 'present' | 'absent' | 'unknown';
export type TrayPreference = 'auto' | 'tray' | 'window';
export type ShellMode = 'tray' | 'window';

/** A command's stdout, or an error with `code` (ENOENT: not installed) and stderr. */
export type RunCommand = (cmd: string, args: string[]) => Promise<string>;

const WATCHER = 'org.kde.StatusNotifierWatcher';
const GDBUS_ARGS = [
  'call',
  '--session',
  '--dest',
  WATCHER,
  '--object-path',
  '/StatusNotifierWatcher',
  '--method',
  'org.freedesktop.DBus.Properties.Get',
  WATCHER,
  'IsStatusNotifierHostRegistered',
];
const DBUS_SEND_ARGS = [
  '--session',
  '--print-reply=literal',
  `--dest=${WATCHER}`,
  '/StatusNotifierWatcher',
  'org.freedesktop.DBus.Properties.Get',
  `string:${WATCHER}`,
  'string:IsStatusNotifierHostRegistered',
];

/** `gdbus call` prints `(<true>,)`; `dbus-send --print-reply=literal` prints `variant boolean true`. */
export function parseHostRegistered(stdout: string): boolean | null {
  const m = /\(<(true|false)>,\)|boolean\s+(true|false)/.exec(stdout);
  if (!m) return null;
  return (m[1] ?? m[2]) === 'true';
}

/** The bus answered that no one owns the watcher's name: no StatusNotifier host. */
export function isNoWatcherError(text: string): boolean {
  return /ServiceUnknown|NameHasNoOwner|was not provided by any \.service files/.test(text);
}

export async function probeTrayHost(run: RunCommand): Promise<TrayHost> {
  for (const [cmd, args] of [
    ['gdbus', GDBUS_ARGS],
    ['dbus-send', DBUS_SEND_ARGS],
  ] as const) {
    try {
      const registered = parseHostRegistered(await run(cmd, [...args]));
      if (registered !== null) return registered ? 'present' : 'absent';
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT') continue; // this tool is not installed: try the next
      if (isNoWatcherError(`${e.stderr ?? ''} ${e.message}`)) return 'absent';
      return 'unknown'; // no session bus, a timeout…
    }
  }
  return 'unknown';
}

export const runCommand: RunCommand = (cmd, args) =>
  new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 3000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr }));
      else resolve(stdout);
    });
  });

/**
 * Tray or window. Only Linux guesses: elsewhere the tray always exists. An unknown answer picks the
 * window, which can always be seen.
 */
export function chooseShellMode(opts: { platform: NodeJS.Platform; preference: TrayPreference; host: TrayHost }): ShellMode {
  if (opts.preference !== 'auto') return opts.preference;
  if (opts.platform !== 'linux') return 'tray';
  return opts.host === 'present' ? 'tray' : 'window';
}

/** `--tray` / `--no-tray` on the command line win over the saved preference. */
export function preferenceFromArgs(argv: readonly string[], saved: TrayPreference): TrayPreference {
  if (argv.includes('--no-tray')) return 'window';
  if (argv.includes('--tray')) return 'tray';
  return saved;
}
