// The polling machinery shared by the probes that read a GPU source (nvidia-smi-probe.ts,
// si-probe.ts): state, start/stop, one shared in-flight poll, onReading listeners, the tick chain.
//
// Never two polls at once: a refresh() while a poll runs gets that poll's result. A failed poll
// keeps the last good snapshot and sets `error` (the message of the subclass's toError); the next
// good poll clears it. `at` handed to read() is the time the poll *began*.

import type { GpuProbe, GpuSnapshot, ProbeState } from './probe.js';

export interface PollingProbeOptions {
  intervalMs: number;
  /**
   * 'from-start': the next poll begins intervalMs after the last one began (at once if it took
   * longer); 'after-end': intervalMs after the last one ended.
   */
  schedule: 'from-start' | 'after-end';
  /** Epoch-ms clock (tests). */
  now?: () => number;
}

export abstract class PollingProbe implements GpuProbe {
  abstract readonly kind: GpuProbe['kind'];
  protected readonly now: () => number;
  protected snapshot: GpuSnapshot | null = null;
  private readonly intervalMs: number;
  private readonly schedule: PollingProbeOptions['schedule'];
  private error: string | null = null;
  private pollMs: number | null = null;
  private inFlight: Promise<GpuSnapshot> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  /** Bumped by start()/stop() so a poll chain from before a restart does not reschedule itself. */
  private generation = 0;
  private readonly listeners = new Set<(s: GpuSnapshot) => void>();

  constructor(opts: PollingProbeOptions) {
    this.intervalMs = opts.intervalMs;
    this.schedule = opts.schedule;
    this.now = opts.now ?? Date.now;
  }

  /** One reading of the source; `at`: when the poll began (epoch ms, from `now`). */
  protected abstract read(at: number): Promise<GpuSnapshot>;

  /** A failed read() as the error refresh() rejects with; its message becomes state().error. */
  protected abstract toError(err: unknown): Error;

  start(): void {
    if (this.running) return;
    this.running = true;
    this.tick(++this.generation);
  }

  /**
   * Ends polling; resolves once a poll in flight has ended, so whoever stops the probe (the
   * gateway's close()) leaves no nvidia-smi running behind it.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight?.catch(() => undefined);
  }

  state(): ProbeState {
    return { snapshot: this.snapshot, error: this.error, pollMs: this.pollMs };
  }

  onReading(cb: (snapshot: GpuSnapshot) => void): () => void {
    this.listeners.add(cb);
    return () => {
      this.listeners.delete(cb);
    };
  }

  refresh(): Promise<GpuSnapshot> {
    if (!this.inFlight) {
      this.inFlight = this.poll().finally(() => {
        this.inFlight = null;
      });
    }
    return this.inFlight;
  }

  private tick(generation: number): void {
    if (!this.running || generation !== this.generation) return;
    const began = Date.now();
    this.refresh()
      .catch(() => undefined) // recorded in state()
      .finally(() => {
        if (!this.running || generation !== this.generation) return;
        const wait = this.schedule === 'from-start' ? Math.max(0, this.intervalMs - (Date.now() - began)) : this.intervalMs;
        this.timer = setTimeout(() => this.tick(generation), wait);
        this.timer.unref?.();
      });
  }

  private async poll(): Promise<GpuSnapshot> {
    const at = this.now();
    const t0 = performance.now();
    try {
      const snapshot = await this.read(at);
      this.snapshot = snapshot;
      this.error = null;
      this.pollMs = performance.now() - t0;
      for (const cb of [...this.listeners]) {
        try {
          cb(snapshot);
        } catch {
          // A subscriber's failure is its own; the probe keeps going.
        }
      }
      return snapshot;
    } catch (err) {
      const e = this.toError(err);
      this.error = e.message;
      this.pollMs = performance.now() - t0;
      throw e;
    }
  }
}
