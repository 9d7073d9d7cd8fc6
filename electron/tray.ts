// The tray icon: Electron wiring around the pure template in tray-menu.ts.
import { Menu, nativeImage, Tray, type MenuItemConstructorOptions, type NativeImage } from 'electron';
import path from 'node:path';
import type { StatusDocument } from '../gateway/status-types.js';
import {
  buildTrayMenu,
  trayIconState,
  trayTooltip,
  type TrayAction,
  type TrayIconState,
  type TrayMenuItem,
  type TrayMenuOptions,
} from './tray-menu.js';

/** Turns the plain template into Electron's, with each action dispatched on click. */
export function toElectronTemplate(items: readonly TrayMenuItem[], dispatch: (action: TrayAction) => void): MenuItemConstructorOptions[] {
  return items.map((item) => {
    const out: MenuItemConstructorOptions = {};
    if (item.id !== undefined) out.id = item.id;
    if (item.label !== undefined) out.label = item.label;
    if (item.type !== undefined) out.type = item.type;
    if (item.enabled !== undefined) out.enabled = item.enabled;
    if (item.checked !== undefined) out.checked = item.checked;
    if (item.toolTip !== undefined) out.toolTip = item.toolTip;
    if (item.submenu) out.submenu = toElectronTemplate(item.submenu, dispatch);
    const action = item.action;
    if (action) out.click = () => dispatch(action);
    return out;
  });
}

export function trayIconPath(assetsDir: string, state: TrayIconState): string {
  return path.join(assetsDir, `tray-${state}.png`);
}

export class AppTray {
  private readonly tray: Tray;
  private readonly icons = new Map<TrayIconState, NativeImage>();
  private lastState: TrayIconState | null = null;
  private lastMenuKey = '';

  constructor(
    private readonly assetsDir: string,
    private readonly dispatch: (action: TrayAction) => void,
  ) {
    this.tray = new Tray(this.icon('loading'));
    this.tray.setToolTip('vLLM Gateway');
  }

  private icon(state: TrayIconState): NativeImage {
    let img = this.icons.get(state);
    if (!img) {
      img = nativeImage.createFromPath(trayIconPath(this.assetsDir, state));
      this.icons.set(state, img);
    }
    return img;
  }

  /** Refreshes icon, tooltip and menu (the menu only when its content changed). */
  update(status: StatusDocument | null, opts: TrayMenuOptions): void {
    const state = trayIconState(status, opts.gatewayError);
    if (state !== this.lastState) {
      this.tray.setImage(this.icon(state));
      this.lastState = state;
    }
    this.tray.setToolTip(trayTooltip(status, opts.gatewayError));
    const template = buildTrayMenu(status, opts);
    const key = JSON.stringify(template);
    if (key !== this.lastMenuKey) {
      this.lastMenuKey = key;
      this.tray.setContextMenu(Menu.buildFromTemplate(toElectronTemplate(template, this.dispatch)));
    }
  }

  onClick(fn: () => void): void {
    this.tray.on('click', fn);
  }

  destroy(): void {
    this.tray.destroy();
  }
}
