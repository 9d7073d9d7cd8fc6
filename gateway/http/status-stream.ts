// One subscriber of GET /gateway/events (docs/http-api.md): the status document as Server-Sent
// Events. A subscriber that reads nothing (a suspended process, a stuck client) must not make the
// gateway buffer every document it misses: while its socket is full, documents are skipped (each
// one supersedes the last) and the newest is sent once it drains; one whose socket stays full for
// timeouts.idleSeconds is cut (an EventSource reconnects by itself).

import type { ServerResponse } from 'node:http';

export interface StatusStreamOptions {
  /** How long the socket may stay full before the subscriber is cut (timeouts.idleSeconds). */
  stallMs: number;
  /** The frame for the current status document: sent when the socket drains after a skip. */
  latest(): string;
  /** Called once, as a stalled subscriber is cut. */
  onCut(): void;
}

export class StatusStream {
  private stallTimer: NodeJS.Timeout | null = null;
  private skipped = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly o: StatusStreamOptions,
  ) {}

  /** Sends a frame, or skips it while the subscriber has not taken the last one. */
  send(frame: string): void {
    if (this.stallTimer !== null) {
      this.skipped = true;
      return;
    }
    if (this.res.destroyed || this.res.writableEnded) return;
    if (!this.res.write(frame)) {
      this.stallTimer = setTimeout(this.onStall, this.o.stallMs);
      this.stallTimer.unref();
      this.res.once('drain', this.onDrain);
    }
  }

  /** The stream ended: nothing more to send or to wait for. */
  close(): void {
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    this.res.removeListener('drain', this.onDrain);
  }

  private readonly onDrain = () => {
    if (this.stallTimer !== null) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    if (this.skipped) {
      this.skipped = false;
      this.send(this.o.latest());
    }
  };

  private readonly onStall = () => {
    this.stallTimer = null;
    this.res.removeListener('drain', this.onDrain);
    this.o.onCut();
    this.res.destroy();
  };
}

/**
 * The SSE frame for a document, built once per document and audience (admin or not) however many
 * subscribers it goes to: the hub hands every subscriber the same document object.
 */
export function frameCache<D extends object>(render: (doc: D, admin: boolean) => string): (doc: D, admin: boolean) => string {
  let last: D | null = null;
  const frames: [string | null, string | null] = [null, null];
  return (doc, admin) => {
    if (doc !== last) {
      last = doc;
      frames[0] = frames[1] = null;
    }
    const i = admin ? 1 : 0;
    return (frames[i] ??= render(doc, admin));
  };
}
