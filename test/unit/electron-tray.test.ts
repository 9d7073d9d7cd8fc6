// Tray icon state, tooltip and menu template from status documents, and the Electron wiring
// with `electron` replaced.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { newFailures } from '../../electron/notifications.js';
import { buildTrayMenu, modelsToUnload, trayIconState, trayTooltip, type TrayMenuItem } from '../../electron/tray-menu.js';
import type { StatusDocument } from '../../gateway/status-types.js';
import { sampleStatus } from '../e2e/sample-status.js';

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
    on() {}
    destroy() {}
  }
  return {
    trays,
    Tray,
    Menu: { buildFromTemplate: (t: unknown) => ({ template: t }) },
    nativeImage: { createFromPath: (p: string) => ({ path: p }) },
  };
});
vi.mock('electron', () => electron);

const { AppTray, toElectronTemplate } = await import('../../electron/tray.js');

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

describe('Electron tray wiring', () => {
  beforeEach(() => electron.trays.splice(0));

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
    const tray = new AppTray('/assets', vi.fn());
    const t = electron.trays[0];
    expect(t.image).toEqual({ path: '/assets/tray-loading.png' });
    tray.update(quiet(), { startAtLogin: false });
    expect(t.image).toEqual({ path: '/assets/tray-idle.png' });
    tray.update(sampleStatus(), { startAtLogin: false });
    expect(t.image).toEqual({ path: '/assets/tray-error.png' });
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
