// The desktop app's own preferences (not the gateway's config): desktop.json in the config folder.
// A missing or unreadable file means the defaults; an unknown value is ignored, never fatal.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { TrayPreference } from './tray-host.js';

export const PREFS_FILE = 'desktop.json';

const Prefs = z.object({ trayIcon: z.enum(['auto', 'tray', 'window']).catch('auto') }).partial();
export interface DesktopPrefs {
  /** auto: a tray icon where one can be shown (see tray-host.ts), else a normal window. */
  trayIcon: TrayPreference;
}
const DEFAULTS: DesktopPrefs = { trayIcon: 'auto' };

export async function readPrefs(dir: string): Promise<DesktopPrefs> {
  try {
    const parsed = Prefs.safeParse(JSON.parse(await readFile(path.join(dir, PREFS_FILE), 'utf8')));
    return { ...DEFAULTS, ...(parsed.success ? parsed.data : {}) };
  } catch {
    return { ...DEFAULTS };
  }
}

export async function writePrefs(dir: string, prefs: DesktopPrefs): Promise<void> {
  await writeFile(path.join(dir, PREFS_FILE), `${JSON.stringify(prefs, null, 2)}\n`, { mode: 0o600 });
}
