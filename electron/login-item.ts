// "Start at login", per platform: the OS login item on macOS and Windows (Electron's API), an XDG
// autostart entry on Linux (Electron's API does not cover Linux). Which one applies, and whether it
// can work at all in this run, is a pure plan; the app starts hidden in the tray when launched by it.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const HIDDEN_ARG = '--hidden';
export const AUTOSTART_FILE = 'vllm-gateway.desktop';

/** The part of Electron's `app` the login item uses (macOS and Windows). */
export interface LoginItemApi {
  getLoginItemSettings(options?: { path?: string; args?: string[] }): {
    openAtLogin: boolean;
    wasOpenedAtLogin?: boolean;
    executableWillLaunchAtLogin?: boolean;
  };
  setLoginItemSettings(settings: { openAtLogin: boolean; path?: string; args?: string[] }): void;
}

/** How this process was started. */
export interface LaunchInfo {
  platform: NodeJS.Platform;
  execPath: string;
  isPackaged: boolean;
  /** app.getAppPath(): the folder (or app.asar) holding package.json. */
  appPath: string;
  /** $APPIMAGE: set by the AppImage runtime to the .AppImage file. */
  appImage?: string | undefined;
}

export type LoginItemPlan =
  /** Linux: ~/.config/autostart/vllm-gateway.desktop running `command --hidden`. */
  | { kind: 'xdg-autostart'; command: string[] }
  /**
   * Windows: a Run key for `path args` (getLoginItemSettings must be asked with the same path and
   * args, or it reads false). macOS: the app bundle itself; args are not passed there, so a login
   * launch is recognised by wasOpenedAtLogin instead.
   */
  | { kind: 'login-item'; path?: string; args?: string[] }
  | { kind: 'unavailable'; reason: string };

/** How this process was started, as a command that starts it again. */
export function launchCommand(info: Omit<LaunchInfo, 'platform'>): string[] {
  if (info.appImage) return [info.appImage]; // the mounted execPath is gone after the AppImage exits
  if (info.isPackaged) return [info.execPath];
  return [info.execPath, info.appPath]; // `npm start`: Electron plus this app's folder
}

export function loginItemPlan(info: LaunchInfo): LoginItemPlan {
  switch (info.platform) {
    case 'linux':
      return { kind: 'xdg-autostart', command: launchCommand(info) };
    case 'win32':
      return info.isPackaged
        ? { kind: 'login-item', path: info.execPath, args: [HIDDEN_ARG] }
        : { kind: 'login-item', path: info.execPath, args: [info.appPath, HIDDEN_ARG] };
    case 'darwin':
      // Unpackaged, the login item would be Electron.app itself, which starts Electron's default app.
      return info.isPackaged
        ? { kind: 'login-item' }
        : { kind: 'unavailable', reason: 'Start at login needs the packaged app (npm run dist) on macOS' };
    default:
      return { kind: 'unavailable', reason: `Start at login is not supported on ${info.platform}` };
  }
}

export interface LoginItemEnv {
  plan: LoginItemPlan;
  app: LoginItemApi;
  /** ~/.config or $XDG_CONFIG_HOME (Linux). */
  configHome: string;
}

/**
 * One argument of an Exec key (Desktop Entry spec, "The Exec key"): reserved characters quoted, with
 * ", `, $ and \ escaped inside the quotes; then the string-value escaping, applied by readers first,
 * doubles every backslash (GLib rejects a bare `\$`); and a literal % is %% (% starts a field code).
 */
function quoteExec(arg: string): string {
  const quoted = /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/(["`$\\])/g, '\\$1')}"`;
  return quoted.replaceAll('\\', '\\\\').replaceAll('%', '%%');
}

export function autostartEntry(command: readonly string[]): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=vLLM Gateway',
    'Comment=Local LLMs behind one OpenAI-compatible URL',
    `Exec=${[...command, HIDDEN_ARG].map(quoteExec).join(' ')}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

function autostartPath(env: LoginItemEnv): string {
  return path.join(env.configHome, 'autostart', AUTOSTART_FILE);
}

function loginItemQuery(plan: Extract<LoginItemPlan, { kind: 'login-item' }>): { path?: string; args?: string[] } {
  const q: { path?: string; args?: string[] } = {};
  if (plan.path !== undefined) q.path = plan.path;
  if (plan.args !== undefined) q.args = plan.args;
  return q;
}

/** null when the plan is unavailable (the menu then hides the item). */
export async function getStartAtLogin(env: LoginItemEnv): Promise<boolean | null> {
  const { plan } = env;
  if (plan.kind === 'unavailable') return null;
  if (plan.kind === 'login-item') {
    const s = env.app.getLoginItemSettings(loginItemQuery(plan));
    // Windows: a Run key the user disabled in Task Manager still reads openAtLogin.
    return s.openAtLogin && s.executableWillLaunchAtLogin !== false;
  }
  try {
    const text = await readFile(autostartPath(env), 'utf8');
    return !/^X-GNOME-Autostart-enabled=false$/m.test(text) && !/^Hidden=true$/m.test(text);
  } catch {
    return false;
  }
}

export async function setStartAtLogin(env: LoginItemEnv, on: boolean): Promise<void> {
  const { plan } = env;
  if (plan.kind === 'unavailable') throw new Error(plan.reason);
  if (plan.kind === 'login-item') {
    env.app.setLoginItemSettings({ openAtLogin: on, ...loginItemQuery(plan) });
    return;
  }
  const file = autostartPath(env);
  if (on) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, autostartEntry(plan.command), { mode: 0o644 });
  } else {
    await rm(file, { force: true });
  }
}

/** Whether this launch came from the login item: `--hidden` (Linux, Windows) or macOS's own flag. */
export function launchedAtLogin(
  argv: readonly string[],
  platform: NodeJS.Platform,
  app: Pick<LoginItemApi, 'getLoginItemSettings'>,
): boolean {
  if (argv.includes(HIDDEN_ARG)) return true;
  return platform === 'darwin' && app.getLoginItemSettings().wasOpenedAtLogin === true;
}
