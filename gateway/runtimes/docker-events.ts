// Follows Docker's event stream for the containers the gateway manages (label
// vllm-gateway.managed=true). When the stream breaks (daemon restarted, socket gone) it reconnects
// with exponential backoff and jitter, and tells its owner, which then re-lists its containers:
// events missed while disconnected are never relied upon.

import type Dockerode from 'dockerode';
import { JsonLineSplitter } from './docker-pull-progress.js';
import { LABEL_MANAGED } from './docker-naming.js';

export interface DockerEvent {
  Type?: string;
  Action?: string;
  /** Older engines. */
  status?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number;
}

export interface EventFollowerOptions {
  /** Extra label filters ("key=value"), besides vllm-gateway.managed=true. */
  labels?: string[];
  onEvent(event: DockerEvent): void;
  /** Called on every successful (re)connection; `reconnect` is false the first time. */
  onConnected?(reconnect: boolean): void;
  onDisconnected?(err: unknown): void;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Deterministic tests: replaces Math.random for jitter. */
  random?: () => number;
}

/** The wait before reconnect attempt `attempt` (0-based): initial × 2^attempt, capped, ±20 % jitter. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.8 + 0.4 * random()));
}

export class DockerEventFollower {
  private readonly abort = new AbortController();
  private stream: NodeJS.ReadableStream | null = null;
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private everConnected = false;
  private closed = false;
  private lastEventTime: number | null = null;
  /** Number of successful reconnections (tests and diagnostics). */
  reconnects = 0;
  connected = false;

  constructor(
    private readonly docker: Dockerode,
    private readonly opts: EventFollowerOptions,
  ) {}

  start(): void {
    if (this.closed || this.stream || this.timer) return;
    void this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.abort.abort();
    const s = this.stream as (NodeJS.ReadableStream & { destroy?: () => void }) | null;
    s?.destroy?.();
    this.stream = null;
    this.connected = false;
  }

  private async connect(): Promise<void> {
    this.timer = null;
    if (this.closed) return;
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.getEvents({
        filters: { type: ['container'], label: [`${LABEL_MANAGED}=true`, ...(this.opts.labels ?? [])] },
        // Replays what the daemon still remembers since the last event seen; the owner re-lists anyway.
        ...(this.lastEventTime !== null ? { since: this.lastEventTime } : {}),
        abortSignal: this.abort.signal,
      } as Dockerode.GetEventsOptions);
    } catch (err) {
      this.scheduleReconnect(err);
      return;
    }
    if (this.closed) {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      return;
    }
    this.stream = stream;
    this.connected = true;
    this.attempt = 0;
    const reconnect = this.everConnected;
    this.everConnected = true;
    if (reconnect) this.reconnects++;
    const splitter = new JsonLineSplitter();
    let ended = false;
    const onEnd = (err?: unknown) => {
      if (ended) return;
      ended = true;
      this.connected = false;
      if (this.stream === stream) this.stream = null;
      for (const msg of splitter.end()) this.dispatch(msg);
      this.scheduleReconnect(err ?? new Error('Docker event stream ended'));
    };
    stream.on('data', (chunk: Buffer | string) => {
      for (const msg of splitter.push(chunk)) this.dispatch(msg);
    });
    stream.on('end', () => onEnd());
    stream.on('close', () => onEnd());
    stream.on('error', (err: unknown) => onEnd(err));
    try {
      this.opts.onConnected?.(reconnect);
    } catch {
      /* the owner's problem */
    }
  }

  private dispatch(msg: unknown): void {
    if (!msg || typeof msg !== 'object') return;
    const ev = msg as DockerEvent;
    if (typeof ev.time === 'number') this.lastEventTime = ev.time;
    try {
      this.opts.onEvent(ev);
    } catch {
      /* the owner's problem */
    }
  }

  private scheduleReconnect(err: unknown): void {
    if (this.closed || this.timer) return;
    try {
      this.opts.onDisconnected?.(err);
    } catch {
      /* ignore */
    }
    const delay = backoffDelay(this.attempt++, this.opts.initialDelayMs ?? 250, this.opts.maxDelayMs ?? 10_000, this.opts.random);
    this.timer = setTimeout(() => void this.connect(), delay);
    this.timer.unref?.();
  }
}
