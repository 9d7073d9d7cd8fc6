// Formatting helpers: pure, locale-independent so figures do not change width between updates.
import type { ModelStatus } from '../../gateway/status-types.js';

export const MIB_PER_GIB = 1024;

export function gib(mib: number | null | undefined, digits = 1): string {
  if (mib === null || mib === undefined || !Number.isFinite(mib)) return '—';
  return (mib / MIB_PER_GIB).toFixed(digits);
}

/** "30.5 of 140.4 GiB used" */
export function gpuUsageText(usedMiB: number, totalMiB: number): string {
  return `${gib(usedMiB)} of ${gib(totalMiB)} GiB used`;
}

function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
}

/** Compact duration: 42s, 3m 05s, 2h 10m, 3d 4h. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  const d = Math.floor(h / 24);
  return `${d}d ${h % 24}h`;
}

/** Clock-style elapsed time: 0:42, 12:05, 1:02:03. */
export function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function ago(iso: string | null | undefined, now: number): string {
  const t = parseTime(iso);
  if (t === null) return 'never';
  const d = now - t;
  if (d < 5_000) return 'just now';
  return `${duration(d)} ago`;
}

export function elapsedSince(iso: string | null | undefined, now: number): number | null {
  const t = parseTime(iso);
  return t === null ? null : Math.max(0, now - t);
}

export type IdleStop = { kind: 'countdown'; ms: number; text: string; title: string } | { kind: 'none'; text: string; title?: string };

/**
 * Time left before the model is stopped for idleness: the gateway's `idleDeadline` (its last
 * request's end + the keep_alive in force, or ttlSeconds); from lastUsedAt + ttlSeconds for a
 * gateway that does not send it.
 */
export function idleStop(m: ModelStatus, now: number): IdleStop {
  if (m.runtime === 'remote') return { kind: 'none', text: 'not managed' };
  // A sleeper is stopped after the same idle time as a ready model (docs/scheduling.md).
  if (m.state !== 'ready' && m.state !== 'sleeping') return { kind: 'none', text: '—' };
  if (m.pinned) return { kind: 'none', text: 'pinned' };
  const keepAlive = m.keepAliveSeconds ?? null;
  if (keepAlive === -1) return { kind: 'none', text: 'never', title: 'Kept loaded: a request asked keep_alive < 0' };
  if (keepAlive === null && (!m.ttlSeconds || m.ttlSeconds <= 0)) return { kind: 'none', text: 'never' };
  if (m.inFlight + m.queued > 0) return { kind: 'none', text: 'in use' };
  let at: number | null;
  if (m.idleDeadline !== undefined) at = parseTime(m.idleDeadline);
  else {
    const since = parseTime(m.lastUsedAt) ?? parseTime(m.stateSince);
    at = since === null ? null : since + m.ttlSeconds * 1000;
  }
  if (at === null) return { kind: 'none', text: '—' };
  const title =
    keepAlive !== null
      ? `Stopped ${duration(keepAlive * 1000)} after its last request (a request's keep_alive; ttlSeconds is ${m.ttlSeconds})`
      : `Stopped after ${m.ttlSeconds}s without requests`;
  const left = at - now;
  if (left <= 0) return { kind: 'countdown', ms: 0, text: 'stopping soon', title };
  return { kind: 'countdown', ms: left, text: `in ${duration(left)}${keepAlive !== null ? ' (keep_alive)' : ''}`, title };
}

export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  if (n < 1000) return `${Math.round(n)} ms`;
  return `${(n / 1000).toFixed(n < 10_000 ? 2 : 1)} s`;
}

export function timeOfDay(iso: string): string {
  const t = parseTime(iso);
  if (t === null) return '—';
  const d = new Date(t);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, '0')).join(':');
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
