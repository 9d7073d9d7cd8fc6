// "Start at login": the OS login item on macOS and Windows, an XDG autostart entry on Linux
// (Electron's login item API does not cover Linux). The app starts hidden in the tray then.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const HIDDEN_ARG = '--hidden';
export const AUTOSTART_FILE = 'vllm-gateway.desktop';

export interface LoginItemApi {
  getLoginItemSettings(): { openAtLogin: boolean };
  setLoginItemSettings(settings: { openAtLogin: boolean; args?: string[] }): void;
}

export interface StartAtLoginEnv {
  platform: NodeJS.Platform;
  /** Electron's app (login items) — used on macOS and Windows. */
  app: LoginItemApi;
  /** ~/.config (XDG_CONFIG_HOME) — used on Linux. */
  configHome: string;
  /** The command that starts this app: the AppImage, the installed binary, or electron + app path. */
  command: string[];
}

function quoteExec(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/(["`$\\])/g, '\\$1')}"`;
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

function autostartPath(env: StartAtLoginEnv): string {
  return path.join(env.configHome, 'autostart', AUTOSTART_FILE);
}

export async function getStartAtLogin(env: StartAtLoginEnv): Promise<boolean> {
  if (env.platform !== 'linux') return env.app.getLoginItemSettings().openAtLogin;
  try {
    const text = await readFile(autostartPath(env), 'utf8');
    return !/^X-GNOME-Autostart-enabled=false$/m.test(text) && !/^Hidden=true$/m.test(text);
  } catch {
    return false;
  }
}

export async function setStartAtLogin(env: StartAtLoginEnv, on: boolean): Promise<void> {
  if (env.platform !== 'linux') {
    env.app.setLoginItemSettings({ openAtLogin: on, args: [HIDDEN_ARG] });
    return;
  }
  const file = autostartPath(env);
  if (on) {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, autostartEntry(env.command), { mode: 0o644 });
  } else {
    await rm(file, { force: true });
  }
}

/** How this process was started, as a command that starts it again. */
export function launchCommand(opts: { execPath: string; isPackaged: boolean; appPath: string; appImage?: string | undefined }): string[] {
  if (opts.appImage) return [opts.appImage];
  if (opts.isPackaged) return [opts.execPath];
  return [opts.execPath, opts.appPath];
}
