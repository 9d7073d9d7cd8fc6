// The application menu (menu bar on Linux and Windows, the top bar on macOS): the tray menu's items
// plus the tray-icon preference, so everything stays reachable where no tray icon can be seen
// (window mode, tray-host.ts). Pure: a template with Electron roles, turned into a Menu by main.ts.
import type { ShellMode, TrayPreference } from './tray-host.js';
import type { TrayMenuItem } from './tray-menu.js';

/** A tray-menu item, or one of Electron's built-in menus/items by role. */
export interface AppMenuItem extends Omit<TrayMenuItem, 'submenu' | 'type'> {
  type?: TrayMenuItem['type'] | 'radio';
  role?: 'appMenu' | 'editMenu' | 'windowMenu' | 'togglefullscreen';
  submenu?: AppMenuItem[];
}

const PREFERENCES: Array<[TrayPreference, string]> = [
  ['auto', 'Automatic (where the desktop shows tray icons)'],
  ['tray', 'Always: closing the window keeps the app in the tray'],
  ['window', 'Never: a normal window; closing it quits'],
];

export function buildAppMenu(
  trayItems: readonly TrayMenuItem[],
  opts: { platform: NodeJS.Platform; mode: ShellMode; preference: TrayPreference },
): AppMenuItem[] {
  // "Open dashboard" is this window; Quit gets the usual shortcut (macOS has its own in appMenu).
  const items: AppMenuItem[] = trayItems
    .filter((i) => i.id !== 'open-dashboard' && !(opts.platform === 'darwin' && i.id === 'quit'))
    .map((i) => (i.id === 'quit' && i.action ? { ...i, accelerator: 'CmdOrCtrl+Q' } : i));
  if (opts.platform === 'darwin' && items.at(-1)?.type === 'separator') items.pop();
  const trayIcon: AppMenuItem = {
    id: 'tray-icon',
    label: `Tray icon (now: ${opts.mode === 'tray' ? 'shown' : 'not shown'}; applies at next start)`,
    type: 'submenu',
    submenu: PREFERENCES.map(([value, label]) => ({
      id: `tray-icon:${value}`,
      label,
      type: 'radio',
      checked: opts.preference === value,
      action: { type: 'set-tray-preference', value },
    })),
  };
  const gateway: AppMenuItem = {
    id: 'gateway-menu',
    label: opts.platform === 'darwin' ? 'Gateway' : '&Gateway',
    type: 'submenu',
    submenu: items,
  };
  const view: AppMenuItem = {
    id: 'view-menu',
    label: '&View',
    type: 'submenu',
    submenu: [trayIcon, { type: 'separator' }, { role: 'togglefullscreen' }],
  };
  if (opts.platform === 'darwin') return [{ role: 'appMenu' }, gateway, { role: 'editMenu' }, view, { role: 'windowMenu' }];
  return [gateway, { role: 'editMenu' }, view];
}
