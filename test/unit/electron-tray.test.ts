// Tray icon state, tooltip and menu template from status documents, and the Electron wiring
// with `electron` replaced.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { newFailures } from '../../electron/notifications.js';
import { buildTrayMenu, modelMenuLabel, modelsToUnload, trayIconState, trayTooltip, type TrayMenuItem } from '../../electron/tray-menu.js';
import type { StatusDocument } from '../../gateway/status-types.js';
import { hostsStatus, sampleStatus } from '../e2e/sample-status.js';
import { REPO_ROOT } from '../integration/helpers.js';

const electron = vi.hoisted(() => {
  const trays: Array<{ image: unknown; menu: unknown; tooltip: string }> = [];
  class Tray {
    image: unknown;
    menu: unknown = null;
    tooltip = '';
    constructor(image: unknown) {
      this.image = image;
      trays.push(this);
    }
    setImage(i: unknown) {
      this.image = i;
    }
    setToolTip(t: string) {
      this.tooltip = t;
    }
    setContextMenu(m: unknown) {
      this.menu = m;
    }
    clicks = 0;
    on(event: string) {
      if (event === 'click') this.clicks++;
    }
    destroy() {}
  }
  const menus: Array<{ template: unknown; listeners: Map<string, () => void> }> = [];
  return {
    trays,
    menus,
    Tray,
    Menu: {
      buildFromTemplate: (t: unknown) => {
        const listeners = new Map<string, () => void>();
        const m = { template: t, listeners, on: (ev: string, fn: () => void) => listeners.set(ev, fn) };
        menus.push(m);
        return m;
      },
    },
    nativeImage: {
      createFromPath: (p: string) => ({
        path: p,
        setTemplateImage(this: { template?: boolean }, on: boolean) {
          this.template = on;
        },
      }),
    },
  };
});
vi.mock('electron', () => electron);

const { AppTray, toElectronTemplate, trayIconPath } = await import('../../electron/tray.js');
const { buildAppMenu } = await import('../../electron/app-menu.js');

function quiet(): StatusDocument {
  const doc = sampleStatus();
  doc.models = doc.models.filter((m) => ['ready', 'stopped'].includes(m.state)).map((m) => ({ ...m, inFlight: 0, queued: 0 }));
  return doc;
}

const labels = (items: TrayMenuItem[]) => items.map((i) => (i.type === 'separator' ? '---' : i.label));

describe('tray icon state', () => {
  it('is idle, busy, loading or error from the status', () => {
    const doc = quiet();
    expect(trayIconState(doc)).toBe('idle');
    doc.models[0].queued = 1;
    expect(trayIconState(doc)).toBe('busy');
    doc.models[1].state = 'starting';
    expect(trayIconState(doc)).toBe('loading');
    doc.models[2].state = 'failed';
    expect(trayIconState(doc)).toBe('error');
    expect(trayIconState(quiet(), 'port 8080 in use')).toBe('error');
    expect(trayIconState(null)).toBe('loading');
  });

  it('tooltip sums up the gateway', () => {
    expect(trayTooltip(sampleStatus())).toBe(
      'vLLM Gateway — http://127.0.0.1:8080 — 4 ready, 2 loading, 1 failed, 19 in flight, 9 queued — 497 tok/s, VRAM 151.8 / 280.8 GiB',
    );
    const quiet = sampleStatus();
    for (const m of quiet.models) m.engine = null;
    quiet.gpus = [];
    expect(trayTooltip(quiet)).toBe('vLLM Gateway — http://127.0.0.1:8080 — 4 ready, 2 loading, 1 failed, 19 in flight, 9 queued');
  });
});

describe('turn-taking in the menu', () => {
  it('says which model a yielding one makes room for, and how long a model has waited for memory and for whom', () => {
    const doc = sampleStatus();
    const now = Date.parse('2026-11-27T12:00:30.000Z');
    const a = { ...doc.models[0], id: 'a', state: 'ready' as const, yielding: true, yieldingTo: 'b', inFlight: 1, queued: 2 };
    const b = {
      ...doc.models[0],
      id: 'b',
      state: 'starting' as const,
      inFlight: 0,
      queued: 1,
      vramUsedMiB: null,
      waitingForMemory: { since: '2026-11-27T12:00:18.000Z', reason: 'waiting for a to finish and yield', blockedBy: ['a'] },
    };
    expect(modelMenuLabel(a, now)).toBe('a — ready, yielding to b · 19.3 / 20.0 GiB · 1 in flight, 2 queued');
    expect(modelMenuLabel(b, now)).toBe('b — waiting for GPU memory 12 s (held by a) · 20.0 GiB · 0 in flight, 1 queued');
    doc.models = [a, b];
    expect(labels(buildTrayMenu(doc, { startAtLogin: false }, now)).slice(2, 4)).toEqual([modelMenuLabel(a, now), modelMenuLabel(b, now)]);
  });
});

describe('buildTrayMenu with remote hosts', () => {
  it('lists the models under the host they run on, an unreachable host with its state, then the rest', () => {
    const doc = hostsStatus();
    const items = labels(buildTrayMenu(doc, { startAtLogin: false }));
    const at = (l: string) => items.indexOf(l);
    expect(at('On local')).toBeGreaterThan(0);
    expect(at('On gpu-a')).toBeGreaterThan(at('On local'));
    expect(at('On gpu-b (unreachable)')).toBeGreaterThan(at('On gpu-a'));
    expect(at('Not loaded')).toBeGreaterThan(at('On gpu-b (unreachable)'));
    for (const m of doc.models) {
      const row = items.findIndex((l) => l.startsWith(`${m.id} — `));
      const group = m.host === 'gpu-a' ? 'On gpu-a' : m.host === 'local' ? 'On local' : 'Not loaded';
      const next = ['On local', 'On gpu-a', 'On gpu-b (unreachable)', 'Not loaded', 'Unload all'].map(at).filter((i) => i > at(group));
      expect(row, m.id).toBeGreaterThan(at(group));
      expect(row, m.id).toBeLessThan(Math.min(...next));
    }
  });
});

describe('buildTrayMenu', () => {
  it('lists URL copy, each model with state and VRAM, Unload all, dashboard, config, login, quit', () => {
    const items = buildTrayMenu(sampleStatus(), { startAtLogin: true });
    expect(labels(items)).toEqual([
      'Copy URL  http://127.0.0.1:8080',
      '---',
      'qwen2.5-7b-instruct — ready · 19.3 / 20.0 GiB · 3 in flight',
      'llama-3.1-70b-instruct — ready · 86.9 / 90.0 GiB · 16 in flight, 7 queued',
      'mistral-small-24b — starting · 29.4 / 50.0 GiB · 0 in flight, 2 queued',
      'deepseek-r1-distill-32b — pulling 63% · 64.0 GiB',
      'phi-4-mini — failed · 12.0 GiB',
      'gemma-3-27b — stopped · 60.0 GiB',
      'bge-m3 — ready · 3.8 / 4.0 GiB',
      'gpt-oss-120b — ready · remote',
      'Unload all',
      '---',
      'Open dashboard',
      'Open config',
      'Start at login',
      '---',
      'Quit',
    ]);
    expect(items.find((i) => i.id === 'start-at-login')).toMatchObject({ type: 'checkbox', checked: true });
    expect(items.find((i) => i.id === 'copy-url')?.action).toEqual({ type: 'copy-url' });
    expect(items.find((i) => i.id === 'quit')?.action).toEqual({ type: 'quit' });
  });

  it('offers Load for stopped or failed models and Unload for loaded ones; none for remote', () => {
    const items = buildTrayMenu(sampleStatus(), { startAtLogin: false });
    const sub = (id: string) => items.find((i) => i.id === `model:${id}`)!.submenu!;
    const enabled = (id: string) =>
      Object.fromEntries(
        sub(id)
          .filter((i) => i.label === 'Load' || i.label === 'Unload')
          .map((i) => [i.label, i.enabled]),
      );
    expect(enabled('gemma-3-27b')).toEqual({ Load: true, Unload: false });
    expect(enabled('qwen2.5-7b-instruct')).toEqual({ Load: false, Unload: true });
    expect(enabled('phi-4-mini')).toEqual({ Load: true, Unload: true });
    expect(enabled('gpt-oss-120b')).toEqual({ Load: false, Unload: false });
    expect(sub('gemma-3-27b')[0].action).toEqual({ type: 'load', id: 'gemma-3-27b' });
    expect(sub('phi-4-mini').some((i) => i.label?.startsWith('Failed: vLLM exited with code 1'))).toBe(true);
    expect(modelsToUnload(sampleStatus()).sort()).toEqual(
      ['bge-m3', 'deepseek-r1-distill-32b', 'llama-3.1-70b-instruct', 'mistral-small-24b', 'phi-4-mini', 'qwen2.5-7b-instruct'].sort(),
    );
  });

  it('sleep mode: a Sleep item for a ready idle model that can sleep; a sleeper can be loaded (woken) and unloaded', () => {
    const doc = sampleStatus();
    const bge = doc.models.find((m) => m.id === 'bge-m3')!;
    bge.sleepLevel = 1;
    const gemma = doc.models.find((m) => m.id === 'gemma-3-27b')!;
    Object.assign(gemma, { state: 'sleeping', sleepLevel: 1, sleepHostRamMiB: 16 * 1024, gpus: [0] });
    const items = buildTrayMenu(doc, { startAtLogin: false });
    const sub = (id: string) => items.find((i) => i.id === `model:${id}`)!.submenu!;
    const sleepItem = sub('bge-m3').find((i) => i.label === 'Sleep')!;
    expect([sleepItem.enabled, sleepItem.action]).toEqual([bge.inFlight + bge.queued === 0, { type: 'sleep', id: 'bge-m3' }]);
    expect(sub('qwen2.5-7b-instruct').some((i) => i.label === 'Sleep')).toBe(false); // sleepLevel 0
    const asleep = sub('gemma-3-27b');
    expect(asleep.filter((i) => i.label === 'Load' || i.label === 'Unload').map((i) => i.enabled)).toEqual([true, true]);
    expect(asleep.find((i) => i.label?.startsWith('Asleep'))?.label).toBe('Asleep: 16.0 GiB in host RAM');
    expect(trayTooltip(doc)).toContain('1 asleep');
    expect(modelsToUnload(doc)).toContain('gemma-3-27b');
  });

  it('disables Unload all when nothing is loaded, and shows a gateway that is not running', () => {
    const doc = quiet();
    for (const m of doc.models) if (m.runtime !== 'remote') m.state = 'stopped';
    expect(buildTrayMenu(doc, { startAtLogin: false }).find((i) => i.id === 'unload-all')?.enabled).toBe(false);
    const broken = buildTrayMenu(null, { startAtLogin: false, gatewayError: 'models.x.vramGiB: required' });
    expect(broken[0]).toMatchObject({ label: 'Gateway not running: models.x.vramGiB: required', enabled: false });
    expect(labels(broken)).toContain('Open config');
    expect(labels(broken)).toContain('Quit');
    expect(labels(broken)).not.toContain('Unload all');
  });

  it('is plain data (serialisable, no functions)', () => {
    const items = buildTrayMenu(sampleStatus(), { startAtLogin: false });
    expect(JSON.parse(JSON.stringify(items))).toEqual(items);
  });
});

describe('while quitting', () => {
  it('shows what is happening, and a Quit that ends the drain only while draining', () => {
    const draining = buildTrayMenu(sampleStatus(), { startAtLogin: false, quitPhase: 'draining' });
    expect(labels(draining)).toEqual([
      'Shutting down: finishing requests, then stopping models…',
      '---',
      'Quit now (end requests, stop models)',
    ]);
    expect(draining.at(-1)).toMatchObject({ id: 'quit', action: { type: 'quit' } });
    const stopping = buildTrayMenu(sampleStatus(), { startAtLogin: false, quitPhase: 'stopping' });
    expect(labels(stopping)).toEqual(['Shutting down: stopping models…', '---', 'Quit']);
    expect(stopping.at(-1)).toMatchObject({ id: 'quit', enabled: false });
    expect(trayTooltip(sampleStatus(), null, 'draining')).toBe('vLLM Gateway — Shutting down: finishing requests, then stopping models…');
    expect(trayTooltip(null, 'port in use', 'stopping')).toBe('vLLM Gateway — Shutting down: stopping models…');
    expect(trayIconState(quiet(), null, 'draining')).toBe('loading');
    expect(trayIconState(quiet(), null, 'running')).toBe('idle');
  });

  it('hides Start at login where it cannot work', () => {
    expect(buildTrayMenu(sampleStatus(), { startAtLogin: null }).some((i) => i.id === 'start-at-login')).toBe(false);
    expect(buildTrayMenu(sampleStatus(), { startAtLogin: true }).find((i) => i.id === 'start-at-login')).toMatchObject({ checked: true });
  });
});

describe('app menu', () => {
  const tray = () => buildTrayMenu(sampleStatus(), { startAtLogin: false });

  it('holds the tray items (not "Open dashboard": it is this window), Quit with its shortcut, and the tray-icon choice', () => {
    const menu = buildAppMenu(tray(), { platform: 'linux', mode: 'window', preference: 'auto' });
    expect(menu.map((i) => i.id ?? i.role)).toEqual(['gateway-menu', 'editMenu', 'view-menu']);
    const gateway = menu[0]!.submenu!;
    expect(gateway.some((i) => i.id === 'open-dashboard')).toBe(false);
    expect(gateway.find((i) => i.id === 'quit')).toMatchObject({ accelerator: 'CmdOrCtrl+Q', action: { type: 'quit' } });
    expect(gateway.some((i) => i.id === 'model:gemma-3-27b')).toBe(true);
    const trayIcon = menu[2]!.submenu!.find((i) => i.id === 'tray-icon')!;
    expect(trayIcon.label).toBe('Tray icon (now: not shown; applies at next start)');
    expect(trayIcon.submenu!.map((i) => [i.id, i.type, i.checked])).toEqual([
      ['tray-icon:auto', 'radio', true],
      ['tray-icon:tray', 'radio', false],
      ['tray-icon:window', 'radio', false],
    ]);
    expect(trayIcon.submenu![2]!.action).toEqual({ type: 'set-tray-preference', value: 'window' });
  });

  it('on macOS: the app menu role (with its own Quit), no second Quit', () => {
    const menu = buildAppMenu(tray(), { platform: 'darwin', mode: 'tray', preference: 'tray' });
    expect(menu.map((i) => i.id ?? i.role)).toEqual(['appMenu', 'gateway-menu', 'editMenu', 'view-menu', 'windowMenu']);
    const gateway = menu[1]!.submenu!;
    expect(gateway.some((i) => i.id === 'quit')).toBe(false);
    expect(gateway.at(-1)?.type).not.toBe('separator');
  });
});

describe('Electron tray wiring', () => {
  beforeEach(() => {
    electron.trays.splice(0);
    electron.menus.splice(0);
  });

  it('uses the .ico on Windows, a template image on macOS, the PNG on Linux', () => {
    expect(trayIconPath('/a', 'busy', 'win32')).toBe(path.join('/a', 'tray-busy.ico'));
    expect(trayIconPath('/a', 'busy', 'darwin')).toBe(path.join('/a', 'tray-busyTemplate.png'));
    expect(trayIconPath('/a', 'busy', 'linux')).toBe(path.join('/a', 'tray-busy.png'));
    new AppTray('/assets', vi.fn(), 'darwin');
    expect(electron.trays[0]!.image).toEqual({
      path: '/assets/tray-loadingTemplate.png',
      template: true,
      setTemplateImage: expect.any(Function),
    });
    // The icons the tray names are in assets/ (and so in the packaged app).
    for (const platform of ['win32', 'darwin', 'linux'] as const) {
      for (const state of ['idle', 'busy', 'loading', 'error'] as const) {
        expect(existsSync(trayIconPath(path.join(REPO_ROOT, 'assets'), state, platform))).toBe(true);
      }
    }
  });

  it('does not rely on click on Linux, where hosts send it on double-click or never', () => {
    new AppTray('/assets', vi.fn(), 'linux').onClick(vi.fn());
    new AppTray('/assets', vi.fn(), 'win32').onClick(vi.fn());
    expect(electron.trays.map((t) => t.clicks)).toEqual([0, 1]);
  });

  it('rebuilds the menu only when it changed, label-only changes at most every 2 s, and never while it is open', () => {
    let now = 0;
    const tray = new AppTray('/assets', vi.fn(), 'linux', () => now);
    const busy = (inFlight: number) => {
      const doc = quiet();
      doc.models[0]!.inFlight = inFlight;
      return doc;
    };
    tray.update(busy(1), { startAtLogin: false });
    expect(electron.menus).toHaveLength(1);
    tray.update(busy(1), { startAtLogin: false }); // same content
    now = 500;
    tray.update(busy(2), { startAtLogin: false }); // a count changed: too soon
    expect(electron.menus).toHaveLength(1);
    tray.update(busy(2), { startAtLogin: true }); // what can be clicked changed: at once
    expect(electron.menus).toHaveLength(2);
    now = 2600;
    tray.update(busy(3), { startAtLogin: true });
    expect(electron.menus).toHaveLength(3);
    electron.menus[2]!.listeners.get('menu-will-show')!();
    now = 10_000;
    tray.update(busy(4), { startAtLogin: false });
    expect(electron.menus).toHaveLength(3); // open: wait
    electron.menus[2]!.listeners.get('menu-will-close')!(); // closed: the latest is applied
    expect(electron.menus).toHaveLength(4);
    expect(JSON.stringify(electron.menus[3]!.template)).toContain('4 in flight');
  });

  it('turns actions into click handlers that dispatch them', () => {
    const dispatch = vi.fn();
    const tpl = toElectronTemplate(buildTrayMenu(sampleStatus(), { startAtLogin: false }), dispatch);
    const gemma = tpl.find((i) => i.id === 'model:gemma-3-27b')!;
    const load = (gemma.submenu as Array<{ label?: string; click?: () => void }>).find((i) => i.label === 'Load')!;
    load.click!();
    expect(dispatch).toHaveBeenCalledWith({ type: 'load', id: 'gemma-3-27b' });
    tpl.find((i) => i.id === 'quit')!.click!(undefined as never, undefined as never, undefined as never);
    expect(dispatch).toHaveBeenLastCalledWith({ type: 'quit' });
  });

  it('switches the icon with the state', () => {
    const tray = new AppTray('/assets', vi.fn(), 'linux');
    const t = electron.trays[0]!;
    expect(t.image).toMatchObject({ path: '/assets/tray-loading.png' });
    tray.update(quiet(), { startAtLogin: false });
    expect(t.image).toMatchObject({ path: '/assets/tray-idle.png' });
    tray.update(sampleStatus(), { startAtLogin: false });
    expect(t.image).toMatchObject({ path: '/assets/tray-error.png' });
    expect(t.tooltip).toContain('1 failed');
    expect(t.menu).toMatchObject({ template: expect.any(Array) });
  });
});

describe('notifications', () => {
  it('notify once when a model enters failed', () => {
    const before = quiet();
    const after = structuredClone(before);
    const m = after.models.find((x) => x.id === 'gemma-3-27b')!;
    m.state = 'failed';
    m.error = 'vLLM exited with code 1\nCUDA out of memory';
    m.stateSince = new Date().toISOString();
    expect(newFailures(before, after)).toEqual([
      { id: 'gemma-3-27b', title: 'gemma-3-27b failed to start', body: 'vLLM exited with code 1 … CUDA out of memory' },
    ]);
    expect(newFailures(after, structuredClone(after))).toEqual([]);
  });
});
