// Readiness: a model is ready when GET <endpoint><healthPath> answers 200 (P12). Polls start fast
// (every 25 ms, backing off to 100 ms) so readiness is seen within ~100 ms of the server answering,
// and race the server's exit so a crash during start is reported at once with its output.

import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { GatewayError } from '../errors.js';
import type { ExitInfo, Instance } from './runtime.js';
import { startFailureError } from './start-failure.js';

export interface WaitHealthyOptions {
  healthPath: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** Lines of output to quote when the start fails. */
  logLines?: number;
}

/** Resolves after `ms`, or at once when `signal` aborts (the caller then sees the abort). */
const pause = (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }).catch(() => undefined);

async function healthOk(url: string, signal: AbortSignal): Promise<boolean> {
  try {
    const res = await request(url, { method: 'GET', signal, headersTimeout: 2000, bodyTimeout: 2000 });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

export async function startFailure(instance: Instance, reason: string, logLines: number): Promise<GatewayError> {
  return startFailureError(reason, await instance.logs(logLines).catch(() => ''));
}

export async function waitHealthy(instance: Instance, opts: WaitHealthyOptions): Promise<void> {
  const url = instance.endpoint + opts.healthPath;
  const logLines = opts.logLines ?? 20;
  let exit: ExitInfo | null = null;
  void instance.exited.then((info) => {
    exit = info;
  });
  const local = new AbortController();
  const onAbort = () => local.abort();
  opts.signal.addEventListener('abort', onAbort, { once: true });
  void instance.exited.then(onAbort);
  const deadline = Date.now() + opts.timeoutMs;
  try {
    for (let attempt = 0; ; attempt++) {
      if (opts.signal.aborted) throw opts.signal.reason ?? new Error('start aborted');
      if (exit) throw await startFailure(instance, `The model server ${(exit as ExitInfo).reason} while starting`, logLines);
      if (await healthOk(url, local.signal)) return;
      if (Date.now() >= deadline) {
        throw await startFailure(
          instance,
          `The model server did not answer ${opts.healthPath} within ${Math.round(opts.timeoutMs / 1000)} s`,
          logLines,
        );
      }
      await pause(Math.min(100, 25 * 2 ** Math.min(attempt, 2)), local.signal);
      // Give the exit promise's callback a turn before checking it.
      await Promise.resolve();
    }
  } finally {
    opts.signal.removeEventListener('abort', onAbort);
  }
}
