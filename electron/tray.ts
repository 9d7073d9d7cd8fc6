// The tray icon: Electron wiring around the pure template in tray-menu.ts.
import { Menu, nativeImage, Tray, type MenuItemConstructorOptions, type NativeImage } from 'electron';
import path from 'node:path';
import type { StatusDocument } from '../gateway/status-types.js';
import type { AppMenuItem } from './app-menu.js';
import { MenuRefreshGate } from './menu-refresh.js';
import { buildTrayMenu, trayIconState, trayTooltip, type TrayAction, type TrayIconState, type TrayMenuOptions } from './tray-menu.js';

/** Turns the plain template (tray or app menu) into Electron's, with each action dispatched on click. */
export function toElectronTemplate(items: readonly AppMenuItem[], dispatch: (action: TrayAction) => void): MenuItemConstructorOptions[] {
  return items.map((item) => {
    const out: MenuItemConstructorOptions = {};
    if (item.role !== undefined) out.role = item.role;
    if (item.id !== undefined) out.id = item.id;
    if (item.label !== undefined) out.label = item.label;
    if (item.type !== undefined) out.type = item.type;
    if (item.enabled !== undefined) out.enabled = item.enabled;
    if (item.checked !== undefined) out.checked = item.checked;
    if (item.toolTip !== undefined) out.toolTip = item.toolTip;
    if (item.accelerator !== undefined) out.accelerator = item.accelerator;
    if (item.submenu) out.submenu = toElectronTemplate(item.submenu, dispatch);
    const action = item.action;
    if (action) out.click = () => dispatch(action);
    return out;
  });
}

/**
 * Windows: a multi-size .ico (16/24/32 px, crisp at each scale); macOS: a black-and-alpha template
 * image the menu bar tints (the name ending in "Template" marks it; @2x is picked up beside it);
 * Linux: the coloured PNG.
 */
export function trayIconPath(assetsDir: string, state: TrayIconState, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return path.join(assetsDir, `tray-${state}.ico`);
  if (platform === 'darwin') return path.join(assetsDir, `tray-${state}Template.png`);
  return path.join(assetsDir, `tray-${state}.png`);
}

/** Labels may change at most this often while the menu keeps its items (counts under load). */
const LABEL_REFRESH_MS = 2000;

export class AppTray {
  private readonly tray: Tray;
  private readonly icons = new Map<TrayIconState, NativeImage>();
  private lastState: TrayIconState | null = null;
  private lastTooltip = '';
  private last: { status: StatusDocument | null; opts: TrayMenuOptions } | null = null;
  private readonly gate: MenuRefreshGate;

  constructor(
    private readonly assetsDir: string,
    private readonly dispatch: (action: TrayAction) => void,
    private readonly platform: NodeJS.Platform = process.platform,
    now: () => number = Date.now,
  ) {
    this.gate = new MenuRefreshGate(LABEL_REFRESH_MS, now);
    this.tray = new Tray(this.icon('loading'));
    this.tray.setToolTip('vLLM Gateway');
  }

  private icon(state: TrayIconState): NativeImage {
    let img = this.icons.get(state);
    if (!img) {
      img = nativeImage.createFromPath(trayIconPath(this.assetsDir, state, this.platform));
      if (this.platform === 'darwin') img.setTemplateImage(true);
      this.icons.set(state, img);
    }
    return img;
  }

  /** Refreshes icon, tooltip and menu (the menu as menu-refresh.ts allows). */
  update(status: StatusDocument | null, opts: TrayMenuOptions): void {
    this.last = { status, opts };
    const state = trayIconState(status, opts.gatewayError, opts.quitPhase);
    if (state !== this.lastState) {
      this.tray.setImage(this.icon(state));
      this.lastState = state;
    }
    const tooltip = trayTooltip(status, opts.gatewayError, opts.quitPhase);
    if (tooltip !== this.lastTooltip) {
      this.tray.setToolTip(tooltip);
      this.lastTooltip = tooltip;
    }
    const template = buildTrayMenu(status, opts);
    if (this.gate.offer(template) !== 'apply') return;
    const menu = Menu.buildFromTemplate(toElectronTemplate(template, this.dispatch));
    // Emitted on macOS and Windows; on Linux the menu lives in the tray host's process.
    menu.on('menu-will-show', () => this.gate.menuOpened());
    menu.on('menu-will-close', () => {
      this.gate.menuClosed();
      if (this.last) this.update(this.last.status, this.last.opts);
    });
    this.tray.setContextMenu(menu);
  }

  /**
   * A click opens the dashboard on macOS and Windows. Not on Linux: there `click` is an "activation"
   * that some hosts send on double-click or never, so the menu's "Open dashboard" is the way in.
   */
  onClick(fn: () => void): void {
    if (this.platform !== 'linux') this.tray.on('click', fn);
  }

  destroy(): void {
    this.tray.destroy();
  }
}
