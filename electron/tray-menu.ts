// The tray: icon state, tooltip and menu template, all pure functions of the status document.
// tray.ts turns the template into an Electron Menu and dispatches the actions.
import type { ModelStatus, StatusDocument } from '../gateway/status-types.js';
import type { QuitPhase } from './quit-controller.js';
import type { TrayPreference } from './tray-host.js';

export type TrayIconState = 'idle' | 'busy' | 'loading' | 'error';

export type TrayAction =
  | { type: 'copy-url' }
  | { type: 'load'; id: string }
  | { type: 'unload'; id: string }
  | { type: 'sleep'; id: string }
  | { type: 'unload-all' }
  | { type: 'open-dashboard' }
  | { type: 'open-config' }
  | { type: 'toggle-start-at-login' }
  | { type: 'set-tray-preference'; value: TrayPreference }
  | { type: 'quit' };

/** A plain menu template item (no functions): easy to test, turned into Electron items by tray.ts. */
export interface TrayMenuItem {
  id?: string;
  label?: string;
  type?: 'normal' | 'separator' | 'checkbox' | 'submenu';
  enabled?: boolean;
  checked?: boolean;
  toolTip?: string;
  /** App menu only (Electron accelerator syntax, e.g. CmdOrCtrl+Q). */
  accelerator?: string;
  submenu?: TrayMenuItem[];
  action?: TrayAction;
}

export interface TrayMenuOptions {
  /** null: start at login cannot work in this run (login-item.ts), and the item is hidden. */
  startAtLogin: boolean | null;
  /** Set once Quit was asked for (quit-controller.ts). */
  quitPhase?: QuitPhase;
  /** Why the gateway is not running (config error, port taken…); null while it runs. */
  gatewayError?: string | null;
  /** Platform label for the dashboard item. */
  dashboardLabel?: string;
}

const LOADING = new Set<ModelStatus['state']>(['pulling', 'starting', 'waking', 'stopping']);
/** Load wakes a sleeper. */
const LOADABLE = new Set<ModelStatus['state']>(['stopped', 'failed', 'sleeping']);
const UNLOADABLE = new Set<ModelStatus['state']>(['pulling', 'starting', 'ready', 'sleeping', 'waking', 'failed']);

const SHUTTING_DOWN: Partial<Record<QuitPhase, string>> = {
  draining: 'Shutting down: finishing requests, then stopping models…',
  stopping: 'Shutting down: stopping models…',
  done: 'Shutting down…',
};

export function trayIconState(status: StatusDocument | null, gatewayError?: string | null, quitPhase?: QuitPhase): TrayIconState {
  if (quitPhase && quitPhase !== 'running') return 'loading';
  if (gatewayError) return 'error';
  if (!status) return 'loading';
  if (status.models.some((m) => m.state === 'failed')) return 'error';
  if (status.models.some((m) => LOADING.has(m.state))) return 'loading';
  if (status.models.some((m) => m.inFlight + m.queued > 0)) return 'busy';
  return 'idle';
}

function gib(mib: number | null): string {
  return mib === null ? '—' : (mib / 1024).toFixed(1);
}

export function modelVramText(m: ModelStatus): string {
  if (m.runtime === 'remote') return 'remote';
  if (m.vramUsedMiB !== null && m.vramUsedMiB > 0) return `${gib(m.vramUsedMiB)} / ${gib(m.vramBudgetMiB)} GiB`;
  return `${gib(m.vramBudgetMiB)} GiB`;
}

export function modelMenuLabel(m: ModelStatus, now = Date.now()): string {
  let state: string = m.state;
  const wait = m.waitingForMemory ?? null;
  if (m.state === 'starting' && wait) {
    const s = Math.max(0, Math.round((now - Date.parse(wait.since)) / 1000));
    state = `waiting for GPU memory ${s} s${wait.blockedBy.length ? ` (held by ${wait.blockedBy.join(', ')})` : ''}`;
  } else if (
    (m.state === 'pulling' || m.state === 'starting' || m.state === 'waking') &&
    m.progress?.percent !== null &&
    m.progress?.percent !== undefined
  ) {
    state += ` ${Math.round(m.progress.percent)}%`;
  } else if (m.state === 'ready' && m.yielding) {
    state = `ready, yielding to ${m.yieldingTo ?? 'a waiting model'}`;
  }
  const load = m.inFlight + m.queued > 0 ? ` · ${m.inFlight} in flight${m.queued ? `, ${m.queued} queued` : ''}` : '';
  return `${m.id} — ${state} · ${modelVramText(m)}${load}`;
}

export function trayTooltip(status: StatusDocument | null, gatewayError?: string | null, quitPhase?: QuitPhase): string {
  const shutting = quitPhase && SHUTTING_DOWN[quitPhase];
  if (shutting) return `vLLM Gateway — ${shutting}`;
  if (gatewayError) return `vLLM Gateway — not running: ${gatewayError}`.slice(0, 120);
  if (!status) return 'vLLM Gateway — starting';
  const ready = status.models.filter((m) => m.state === 'ready').length;
  const loading = status.models.filter((m) => m.state === 'pulling' || m.state === 'starting' || m.state === 'waking').length;
  const asleep = status.models.filter((m) => m.state === 'sleeping').length;
  const failed = status.models.filter((m) => m.state === 'failed').length;
  const inFlight = status.models.reduce((n, m) => n + m.inFlight, 0);
  const queued = status.models.reduce((n, m) => n + m.queued, 0);
  const parts = [`${ready} ready`];
  if (loading) parts.push(`${loading} loading`);
  if (asleep) parts.push(`${asleep} asleep`);
  if (failed) parts.push(`${failed} failed`);
  if (inFlight) parts.push(`${inFlight} in flight`);
  if (queued) parts.push(`${queued} queued`);
  // What the engines report (their /metrics): the tokens/s of all models, and the GPUs' memory.
  const figures: string[] = [];
  const rates = status.models.map((m) => m.engine?.generationTokensPerSecond).filter((v): v is number => typeof v === 'number');
  if (rates.length) figures.push(`${Math.round(rates.reduce((a, b) => a + b, 0))} tok/s`);
  if (status.gpus.length) {
    const used = status.gpus.reduce((n, g) => n + g.usedMiB, 0);
    const total = status.gpus.reduce((n, g) => n + g.totalMiB, 0);
    figures.push(`VRAM ${gib(used)} / ${gib(total)} GiB`);
  }
  return `vLLM Gateway — ${status.listen} — ${parts.join(', ')}${figures.length ? ` — ${figures.join(', ')}` : ''}`;
}

function modelSubmenu(m: ModelStatus): TrayMenuItem[] {
  const remote = m.runtime === 'remote';
  const items: TrayMenuItem[] = [
    { id: `load:${m.id}`, label: 'Load', enabled: !remote && LOADABLE.has(m.state), action: { type: 'load', id: m.id } },
    { id: `unload:${m.id}`, label: 'Unload', enabled: !remote && UNLOADABLE.has(m.state), action: { type: 'unload', id: m.id } },
  ];
  if (!remote && m.sleepLevel > 0) {
    items.push({
      id: `sleep:${m.id}`,
      label: 'Sleep',
      enabled: m.state === 'ready' && m.inFlight + m.queued === 0,
      toolTip: 'Free its GPU memory and keep the server; the next request wakes it',
      action: { type: 'sleep', id: m.id },
    });
  }
  if (m.state === 'sleeping' && m.sleepHostRamMiB) {
    items.push({ label: `Asleep: ${gib(m.sleepHostRamMiB)} GiB in host RAM`, enabled: false });
  }
  if (m.state === 'failed' && m.error) {
    items.push({ type: 'separator' }, { label: `Failed: ${m.error.split('\n').find((l) => l.trim()) ?? ''}`.slice(0, 90), enabled: false });
  }
  return items;
}

/** While quitting: what is happening, and (during the drain) a Quit that ends it now. */
function shutdownMenu(phase: QuitPhase): TrayMenuItem[] {
  return [
    { id: 'shutting-down', label: SHUTTING_DOWN[phase] ?? 'Shutting down…', enabled: false },
    { type: 'separator' },
    phase === 'draining'
      ? { id: 'quit', label: 'Quit now (end requests, stop models)', action: { type: 'quit' } }
      : { id: 'quit', label: 'Quit', enabled: false },
  ];
}

export function buildTrayMenu(status: StatusDocument | null, opts: TrayMenuOptions, now = Date.now()): TrayMenuItem[] {
  if (opts.quitPhase && opts.quitPhase !== 'running') return shutdownMenu(opts.quitPhase);
  const items: TrayMenuItem[] = [];
  if (opts.gatewayError) {
    items.push({ id: 'gateway-error', label: `Gateway not running: ${opts.gatewayError}`.slice(0, 100), enabled: false });
  } else if (!status) {
    items.push({ id: 'gateway-starting', label: 'Gateway starting…', enabled: false });
  } else {
    items.push({ id: 'copy-url', label: `Copy URL  ${status.listen}`, action: { type: 'copy-url' } });
  }
  items.push({ type: 'separator' });

  const models = status?.models ?? [];
  if (status) {
    if (models.length === 0) items.push({ id: 'no-models', label: 'No models configured', enabled: false });
    const item = (m: ModelStatus): TrayMenuItem => ({
      id: `model:${m.id}`,
      label: modelMenuLabel(m, now),
      type: 'submenu',
      submenu: modelSubmenu(m),
    });
    if (!status.hosts) for (const m of models) items.push(item(m));
    else {
      // With remote hosts (docs/hosts.md): the models on each host under its name and state,
      // then those running nowhere now.
      for (const h of status.hosts) {
        const on = models.filter((m) => m.host === h.name);
        if (on.length === 0 && h.state === 'connected') continue;
        const state = h.state === 'connected' ? '' : ` (${h.state})`;
        items.push({ id: `host:${h.name}`, label: `On ${h.name}${state}`, enabled: false });
        for (const m of on) items.push(item(m));
      }
      const elsewhere = models.filter((m) => !m.host || !status.hosts!.some((h) => h.name === m.host));
      if (elsewhere.length > 0) {
        items.push({ id: 'host:none', label: 'Not loaded', enabled: false });
        for (const m of elsewhere) items.push(item(m));
      }
    }
    const anyLoaded = models.some((m) => m.runtime !== 'remote' && UNLOADABLE.has(m.state));
    items.push({ id: 'unload-all', label: 'Unload all', enabled: anyLoaded, action: { type: 'unload-all' } });
    items.push({ type: 'separator' });
  }

  items.push(
    { id: 'open-dashboard', label: opts.dashboardLabel ?? 'Open dashboard', action: { type: 'open-dashboard' } },
    { id: 'open-config', label: 'Open config', action: { type: 'open-config' } },
  );
  if (opts.startAtLogin !== null) {
    items.push({
      id: 'start-at-login',
      label: 'Start at login',
      type: 'checkbox',
      checked: opts.startAtLogin,
      action: { type: 'toggle-start-at-login' },
    });
  }
  items.push({ type: 'separator' }, { id: 'quit', label: 'Quit', action: { type: 'quit' } });
  return items;
}

/** Ids of the models unload-all should stop (local models holding or about to hold memory). */
export function modelsToUnload(status: StatusDocument | null): string[] {
  return (status?.models ?? []).filter((m) => m.runtime !== 'remote' && UNLOADABLE.has(m.state)).map((m) => m.id);
}
