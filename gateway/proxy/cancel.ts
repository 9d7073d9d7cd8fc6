// A one-shot cancellation with the part of AbortSignal's surface the gateway uses. On Node 20 an
// AbortController costs several µs to create and its EventTarget listeners several more; the
// proxy makes one per request on its hot path, so it uses this instead. Code that only listens
// (admission, forwarding) accepts either through `AbortLike`.

export interface AbortLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export class Cancel implements AbortLike {
  aborted = false;
  reason: unknown = undefined;
  private listeners: Array<() => void> | null = null;

  /** For symmetry with AbortController: the cancel is its own signal. */
  get signal(): this {
    return this;
  }

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason ?? new Error('aborted');
    const listeners = this.listeners;
    this.listeners = null;
    if (listeners) for (const l of listeners) l();
  }

  /** Listeners run once, at abort (every listener is a `once` listener). */
  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const ls = this.listeners;
    if (!ls) return;
    const i = ls.indexOf(listener);
    if (i >= 0) ls.splice(i, 1);
  }
}
