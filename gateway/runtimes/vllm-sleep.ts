// Drives a vLLM server's sleep API (its development endpoints, served with VLLM_SERVER_DEV_MODE=1
// and `--enable-sleep-mode`; docs/scheduling.md "Sleep mode"). The scheduler decides when; this only speaks HTTP,
// as the runtimes' instances' sleep(), wake() and sleepingLevel() (runtime.ts Instance):
//   sleep:  POST /sleep?level=L, then GET /is_sleeping until true
//   wake 1: POST /wake_up
//   wake 2: POST /wake_up?tags=weights, POST /collective_rpc {"method":"reload_weights"},
//           POST /wake_up?tags=kv_cache (without the reload a level-2 engine answers garbage)
//   then:   GET /is_sleeping until false (it stays true until every memory tag is awake)
// Every call shares one deadline; a failure throws SleepApiError saying which step and why.

import { request } from 'undici';

export type SleepLevel = 1 | 2;
/** The steps of a wake, in order, for progress: level 1 has only `wake`. */
export type WakeStep = 'wake' | 'weights' | 'reload' | 'kv_cache' | 'confirm';

export interface SleepCallOptions {
  /** The whole operation's limit (every step and the confirmation polls together). */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Sent as X-Request-Id so the server's log lines can be matched with the gateway's. */
  requestId?: string;
  /** Between two /is_sleeping polls. */
  pollMs?: number;
  /** Called as each step of a wake begins. */
  onStep?: (step: WakeStep, index: number, of: number) => void;
}

export class SleepApiError extends Error {
  constructor(
    message: string,
    /** The HTTP status of the failing call; null when none came back (connection, timeout). */
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'SleepApiError';
  }
}

const DEFAULT_POLL_MS = 50;
const BODY_QUOTE_CHARS = 200;

interface Call {
  deadline: number;
  signal: AbortSignal | undefined;
  requestId: string | undefined;
}

async function call(
  endpoint: string,
  method: 'GET' | 'POST',
  path: string,
  c: Call,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const left = c.deadline - Date.now();
  if (left <= 0) throw new SleepApiError(`${method} ${path}: no time left`);
  const signals = [AbortSignal.timeout(left), ...(c.signal ? [c.signal] : [])];
  const headers: Record<string, string> = {};
  if (c.requestId) headers['x-request-id'] = c.requestId;
  if (body !== undefined) headers['content-type'] = 'application/json';
  try {
    const res = await request(endpoint + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.any(signals),
    });
    const text = await res.body.text();
    return { status: res.statusCode, text };
  } catch (err) {
    if (c.signal?.aborted) throw c.signal.reason ?? err;
    const e = err as Error & { code?: string };
    const why = e.name === 'TimeoutError' || e.name === 'AbortError' ? 'timed out' : (e.code ?? e.message);
    throw new SleepApiError(`${method} ${path}: ${why}`);
  }
}

async function expectOk(endpoint: string, method: 'GET' | 'POST', path: string, c: Call, body?: unknown): Promise<string> {
  const { status, text } = await call(endpoint, method, path, c, body);
  if (status === 200) return text;
  const quoted = text.trim().slice(0, BODY_QUOTE_CHARS);
  const hint =
    status === 404
      ? ' (is the server running with VLLM_SERVER_DEV_MODE=1?)'
      : status === 500
        ? ' (is it running with --enable-sleep-mode?)'
        : '';
  throw new SleepApiError(`${method} ${path} answered ${status}${hint}${quoted ? `: ${quoted}` : ''}`, status);
}

function parseIsSleeping(text: string): boolean {
  try {
    const v = (JSON.parse(text) as { is_sleeping?: unknown }).is_sleeping;
    if (typeof v === 'boolean') return v;
  } catch {
    // reported below
  }
  throw new SleepApiError(`GET /is_sleeping answered something else than {"is_sleeping": true|false}: ${text.slice(0, BODY_QUOTE_CHARS)}`);
}

const pause = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

async function until(endpoint: string, wanted: boolean, c: Call, pollMs: number): Promise<void> {
  for (;;) {
    if (parseIsSleeping(await expectOk(endpoint, 'GET', '/is_sleeping', c)) === wanted) return;
    if (Date.now() + pollMs >= c.deadline) {
      throw new SleepApiError(`GET /is_sleeping still says ${!wanted} (waited for ${wanted})`);
    }
    await pause(pollMs, c.signal);
    if (c.signal?.aborted) throw c.signal.reason;
  }
}

const callOf = (o: SleepCallOptions): Call => ({ deadline: Date.now() + o.timeoutMs, signal: o.signal, requestId: o.requestId });

/**
 * The server's answer to GET /is_sleeping: true/false, or null when it has no such route (not in
 * dev mode, or not vLLM). Throws only when it cannot be asked (connection, timeout) or answers oddly.
 */
export async function isSleeping(endpoint: string, opts: SleepCallOptions): Promise<boolean | null> {
  const { status, text } = await call(endpoint, 'GET', '/is_sleeping', callOf(opts));
  if (status === 404) return null;
  if (status !== 200) throw new SleepApiError(`GET /is_sleeping answered ${status}: ${text.slice(0, BODY_QUOTE_CHARS)}`, status);
  return parseIsSleeping(text);
}

/** Puts the server to sleep at `level` and waits until /is_sleeping confirms it. Only call it with nothing in flight. */
export async function sleepServer(endpoint: string, level: SleepLevel, opts: SleepCallOptions): Promise<void> {
  const c = callOf(opts);
  await expectOk(endpoint, 'POST', `/sleep?level=${level}`, c);
  await until(endpoint, true, c, opts.pollMs ?? DEFAULT_POLL_MS);
}

/** Wakes a server put to sleep at `level` (level 2: the reload sequence) and waits until /is_sleeping is false. */
export async function wakeServer(endpoint: string, level: SleepLevel, opts: SleepCallOptions): Promise<void> {
  const c = callOf(opts);
  const steps: Array<[WakeStep, () => Promise<unknown>]> =
    level === 1
      ? [['wake', () => expectOk(endpoint, 'POST', '/wake_up', c)]]
      : [
          ['weights', () => expectOk(endpoint, 'POST', '/wake_up?tags=weights', c)],
          ['reload', () => expectOk(endpoint, 'POST', '/collective_rpc', c, { method: 'reload_weights' })],
          ['kv_cache', () => expectOk(endpoint, 'POST', '/wake_up?tags=kv_cache', c)],
        ];
  const of = steps.length + 1;
  for (const [i, [step, run]] of steps.entries()) {
    opts.onStep?.(step, i, of);
    await run();
  }
  opts.onStep?.('confirm', steps.length, of);
  await until(endpoint, false, c, opts.pollMs ?? DEFAULT_POLL_MS);
}

/**
 * Whether a server sleeps (GET /is_sleeping), and at which level: vLLM's vllm:engine_sleep_state
 * tells (weights_offloaded = 1, discard_all = 2); without it, `configured`. Null when it is awake
 * or cannot say (then it is adopted as ready).
 */
export async function sleepingLevel(endpoint: string, configured: SleepLevel, timeoutMs: number): Promise<SleepLevel | null> {
  const asleep = await isSleeping(endpoint, { timeoutMs }).catch(() => null);
  if (asleep !== true) return null;
  const text = await fetch(`${endpoint}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })
    .then((r) => (r.ok ? r.text() : ''))
    .catch(() => '');
  const on = (state: string) => new RegExp(`^vllm:engine_sleep_state\\{[^}]*sleep_state="${state}"[^}]*\\} 1(\\.0)?$`, 'm').test(text);
  if (on('discard_all')) return 2;
  if (on('weights_offloaded')) return 1;
  return configured;
}

/** The sleep API of the vLLM server at `endpoint`, as an Instance's methods (runtime.ts). */
export function vllmSleepApi(endpoint: () => string): Pick<import('./runtime.js').Instance, 'sleep' | 'wake' | 'sleepingLevel'> {
  return {
    sleep: (level, opts) => sleepServer(endpoint(), level, opts),
    wake: (level, opts) => wakeServer(endpoint(), level, opts),
    sleepingLevel: (configured, timeoutMs) => sleepingLevel(endpoint(), configured, timeoutMs),
  };
}
