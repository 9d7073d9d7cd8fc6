// The one way a model server's process group is stopped: SIGTERM to the group, SIGKILL once the
// grace is over. vLLM's API server forks an engine core and workers; signalling the group (the
// server is spawned as a group leader) reaches them all, as llama-swap's killProcess does.

/** Signals process group `pgid`; false when there is none left. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

export interface StopTarget {
  pgid: number;
  /** Settles once the server (and what must go with it) is gone. */
  gone: Promise<unknown>;
  /** Sends a signal; by default to the whole group. */
  signal?: (sig: NodeJS.Signals) => void | Promise<void>;
}

/**
 * SIGTERM, then SIGKILL after `graceMs`; resolves true once `gone` settles, false when it has not
 * `killWaitMs` after the SIGKILL (a process stuck in the kernel).
 */
export async function stopGroup(target: StopTarget, graceMs: number, killWaitMs = Infinity): Promise<boolean> {
  const send = target.signal ?? ((sig: NodeJS.Signals) => void signalGroup(target.pgid, sig));
  await send('SIGTERM');
  if (await settlesWithin(target.gone, graceMs)) return true;
  await send('SIGKILL');
  return settlesWithin(target.gone, killWaitMs);
}

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  if (ms === Infinity) {
    await p;
    return true;
  }
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([p.then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)))]);
  clearTimeout(timer);
  return done;
}
