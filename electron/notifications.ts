// Which status changes deserve a native notification: a model that enters `failed`. Pure.
import type { StatusDocument } from '../gateway/status-types.js';

export interface FailureNotice {
  id: string;
  title: string;
  body: string;
}

/** Models that are failed in `next` and were not failed in `prev` (or were absent). */
export function newFailures(prev: StatusDocument | null, next: StatusDocument): FailureNotice[] {
  const before = new Map((prev?.models ?? []).map((m) => [m.id, m] as const));
  const out: FailureNotice[] = [];
  for (const m of next.models) {
    if (m.state !== 'failed') continue;
    const was = before.get(m.id);
    if (was && was.state === 'failed' && was.stateSince === m.stateSince) continue;
    const lines = (m.error ?? 'The model failed to start.')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    // The last lines of a server's output carry the reason; the first names the failure.
    const reason = lines.length > 1 ? `${lines[0]} … ${lines[lines.length - 1]}` : (lines[0] ?? '');
    out.push({ id: m.id, title: `${m.id} failed to start`, body: reason.length > 240 ? `${reason.slice(0, 237)}…` : reason });
  }
  return out;
}
