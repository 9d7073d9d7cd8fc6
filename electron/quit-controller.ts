// The one way the desktop app quits, whatever asked (tray or app menu Quit, Cmd+Q, the window closed
// in window mode, SIGINT/SIGTERM, a Windows session ending, the system shutting down):
//  - the first request drains in-flight requests (shutdown.drainSeconds), then stops the models the
//    gateway started; quitting while the gateway is still starting waits for that start to settle,
//    and a gateway whose listen() failed is closed too (it may have started or adopted models);
//  - a later request cuts the drain short, and the models are still stopped;
//  - `finish` (flush logs, exit) runs once, after the gateway's close settled, even when it failed.
export type QuitPhase = 'running' | 'draining' | 'stopping' | 'done';

export interface Closable {
  close(opts?: { cutDrain?: boolean }): Promise<void>;
}

export interface QuitDeps {
  /** The gateway once its start-up settled, or null when none was created. */
  gateway(): Promise<Closable | null>;
  onPhase(phase: QuitPhase): void;
  /** Runs once, at the end. */
  finish(result: { error?: unknown }): void;
}

export type QuitReason = 'quit' | 'signal' | 'window-closed' | 'session-end' | 'system-shutdown';

/** Reasons that leave no time for a drain: the OS ends the session within seconds. */
const URGENT = new Set<QuitReason>(['session-end', 'system-shutdown']);

export class QuitController {
  private current: QuitPhase = 'running';
  private cut = false;
  private gw: Closable | null = null;

  constructor(private readonly deps: QuitDeps) {}

  get phase(): QuitPhase {
    return this.current;
  }

  /** True once a quit was asked for: the caller then holds off Electron's own quit. */
  get quitting(): boolean {
    return this.current !== 'running';
  }

  get done(): boolean {
    return this.current === 'done';
  }

  request(reason: QuitReason): void {
    if (this.current === 'done') return;
    const urgent = URGENT.has(reason);
    if (this.current === 'running') {
      this.cut = urgent;
      this.set(urgent ? 'stopping' : 'draining');
      void this.run();
      return;
    }
    if (this.cut) return; // already stopping the models; nothing faster to do
    this.cut = true;
    this.set('stopping');
    void this.gw?.close({ cutDrain: true }).catch(() => undefined);
  }

  private set(phase: QuitPhase): void {
    if (phase === this.current) return;
    this.current = phase;
    this.deps.onPhase(phase);
  }

  private async run(): Promise<void> {
    let error: unknown;
    try {
      this.gw = await this.deps.gateway();
      if (this.gw) await this.gw.close(this.cut ? { cutDrain: true } : undefined);
    } catch (err) {
      error = err;
    }
    this.set('done');
    this.deps.finish(error === undefined ? {} : { error });
  }
}
