// Scrapes each running model server's own `/metrics` every poll interval, off the request path:
// its own timer, its own connection pool, one scrape in flight per model, a short timeout.
//
// It sees models only through `targets()`, a snapshot of (id, state, endpoint): it holds no
// reference to the scheduler, so it cannot start, wake or stop anything. A model is scraped
// only while ready or sleeping (a sleeping vLLM still serves /metrics and says it sleeps), and a
// reading that arrives after its model stopped, or moved to another endpoint, is dropped.

import { Agent, request } from 'undici';
import type { EngineStatus } from '../status-types.js';
import { nextEngineTrack, sameEngineStatus, type EngineTrack } from './engine-rates.js';
import { parseEngineMetrics } from './parse-engine-metrics.js';

export interface ScrapeTarget {
  id: string;
  state: string;
  /** Where the server listens (origin, or a remote model's url); null while none runs. */
  endpoint: string | null;
  /** False for remote models unless their config asks for it (a remote server may be shared). */
  scrape: boolean;
}

/** Fetches a metrics page; resolves with its text, rejects on any failure. */
export type MetricsFetch = (url: string, timeoutMs: number) => Promise<string>;

export interface EngineScraperOptions {
  targets: () => ScrapeTarget[];
  pollMs: number;
  /** Called once per poll tick, after the scrapes of that tick were started (history sampling). */
  onTick?: (now: number) => void;
  /** Called when a model's figures changed (to push a status update). */
  onChange?: () => void;
  fetch?: MetricsFetch;
  now?: () => number;
}

const SCRAPED_STATES = new Set(['ready', 'sleeping']);
/** Whether a model in this state is scraped (and so may show engine figures). */
export const isScrapedState = (state: string): boolean => SCRAPED_STATES.has(state);
/** A metrics page larger than this is not a vLLM one (a real one is 10–100 KiB). */
const MAX_METRICS_BYTES = 4 * 1024 * 1024;

export interface EngineTotals {
  promptTokensSeen: number;
  generationTokensSeen: number;
}

interface ModelScrape {
  endpoint: string;
  url: string;
  inFlight: boolean;
  track: EngineTrack | null;
  /** Null after a failed or unusable scrape. */
  status: EngineStatus | null;
}

/** `/metrics` beside a server's API: a remote url's base path is kept, a trailing /v1 dropped. */
export function metricsUrl(endpoint: string): string {
  const u = new URL(endpoint);
  const base = u.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${u.origin}${base}/metrics`;
}

export class EngineScraper {
  private readonly models = new Map<string, ModelScrape>();
  private readonly totals = new Map<string, EngineTotals>();
  private timer: NodeJS.Timeout | null = null;
  private agent: Agent | null = null;
  private readonly fetchText: MetricsFetch;
  private readonly now: () => number;
  readonly timeoutMs: number;
  /** Scrapes started and finished (tests, bench). */
  scrapes = 0;

  constructor(private readonly opts: EngineScraperOptions) {
    this.now = opts.now ?? Date.now;
    // Short: a server too busy to answer its metrics within this is skipped until the next tick.
    this.timeoutMs = Math.min(5000, Math.max(1000, opts.pollMs));
    this.fetchText = opts.fetch ?? ((url, timeoutMs) => this.httpGet(url, timeoutMs));
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.opts.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const agent = this.agent;
    this.agent = null;
    await agent?.close().catch(() => {});
  }

  /** The model's figures for the status document. */
  engine(id: string): EngineStatus | null {
    return this.models.get(id)?.status ?? null;
  }

  /** Tokens the model's servers reported since the gateway started (re-exported on /metrics). */
  tokensSeen(id: string): EngineTotals | null {
    const m = this.models.get(id);
    return m?.track ?? this.totals.get(id) ?? null;
  }

  /**
   * One poll: starts a scrape for every scrapeable model that has none in flight. Resolves when
   * the scrapes it started have ended (the timer does not wait for that).
   */
  tick(): Promise<void> {
    const now = this.now();
    const seen = new Set<string>();
    const started: Array<Promise<void>> = [];
    for (const t of this.opts.targets()) {
      if (!t.scrape || !t.endpoint || !SCRAPED_STATES.has(t.state)) continue;
      seen.add(t.id);
      let m = this.models.get(t.id);
      if (m && m.endpoint !== t.endpoint) {
        this.forget(t.id); // another instance: its counters are not comparable
        m = undefined;
      }
      if (!m) {
        m = { endpoint: t.endpoint, url: metricsUrl(t.endpoint), inFlight: false, track: null, status: null };
        this.models.set(t.id, m);
      }
      if (!m.inFlight) started.push(this.scrape(t.id, m));
    }
    let changed = false;
    for (const id of [...this.models.keys()]) {
      if (seen.has(id)) continue;
      if (this.models.get(id)!.status !== null) changed = true;
      this.forget(id);
    }
    if (changed) this.opts.onChange?.();
    this.opts.onTick?.(now);
    return Promise.all(started).then(() => undefined);
  }

  private forget(id: string): void {
    const m = this.models.get(id);
    if (m?.track) this.totals.set(id, { promptTokensSeen: m.track.promptTokensSeen, generationTokensSeen: m.track.generationTokensSeen });
    this.models.delete(id);
  }

  private async scrape(id: string, m: ModelScrape): Promise<void> {
    m.inFlight = true;
    let text: string | null;
    try {
      text = await this.fetchText(m.url, this.timeoutMs);
    } catch {
      text = null;
    } finally {
      m.inFlight = false;
      this.scrapes++;
    }
    // Stopped, or replaced by another instance, while the scrape ran: the reading is not its.
    if (this.models.get(id) !== m) return;
    const reading = text === null ? null : parseEngineMetrics(text);
    const before = m.status;
    if (reading === null) {
      m.status = null;
    } else {
      m.track = nextEngineTrack(m.track, reading, this.now(), this.totals.get(id));
      m.status = m.track.status;
    }
    if (!sameEngineStatus(before, m.status)) this.opts.onChange?.();
  }

  private async httpGet(url: string, timeoutMs: number): Promise<string> {
    // Its own pool, so scrapes never take a connection the proxy would use.
    this.agent ??= new Agent({ connections: 4, keepAliveTimeout: 4000, maxResponseSize: MAX_METRICS_BYTES });
    // Timeouts through undici's own timers: an AbortSignal.timeout() per scrape costs more CPU
    // (~0.4 ms on Node 20) than the whole request.
    const res = await request(url, {
      dispatcher: this.agent,
      headers: { accept: 'text/plain;version=0.0.4' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`GET ${url}: ${res.statusCode}`);
    }
    return res.body.text();
  }
}
