// Pure: turns the JSON messages of `POST /images/create` (docker pull) into a ModelProgress.
// Percent = bytes downloaded over the bytes of the layers to download (a layer not started yet
// counts as the average known layer size); layers that finished count whole, layers that
// already exist locally are left out. It never goes backwards, and
// stays below 100 until the pull has finished.

import type { ModelProgress } from '../status-types.js';

/** One message of the pull stream, as the Engine API sends it (one JSON object per line). */
export interface PullMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { code?: number; message?: string };
}

interface Layer {
  current: number;
  total: number | null;
  done: boolean;
}

export class PullProgressTracker {
  private readonly layers = new Map<string, Layer>();
  private lastPercent: number | null = null;
  private finished = false;
  private error: string | null = null;

  constructor(private readonly image: string) {}

  /** Feeds one message; returns the progress to show now. */
  update(msg: PullMessage): ModelProgress {
    if (msg.error || msg.errorDetail?.message) {
      this.error = msg.errorDetail?.message ?? msg.error ?? 'pull failed';
      return this.progress();
    }
    const status = msg.status ?? '';
    if (/^Status: (Downloaded newer image|Image is up to date)/.test(status)) {
      this.finished = true;
      return this.progress();
    }
    // Messages without an id ("Pulling from library/x", "Digest: …") carry no layer state.
    // The first message's id is the tag ("latest: Pulling from …"): not a layer.
    if (!msg.id || /^Pulling from /.test(status)) return this.progress();
    const layer = this.layers.get(msg.id) ?? { current: 0, total: null, done: false };
    this.layers.set(msg.id, layer);
    switch (status) {
      case 'Downloading': {
        const { current, total } = msg.progressDetail ?? {};
        if (typeof total === 'number' && total > 0) layer.total = total;
        if (typeof current === 'number') layer.current = Math.max(layer.current, current);
        break;
      }
      case 'Download complete':
      case 'Verifying Checksum':
      case 'Extracting':
      case 'Pull complete':
      case 'Already exists':
        if (layer.total !== null) layer.current = layer.total;
        if (status === 'Pull complete' || status === 'Already exists' || status === 'Download complete') layer.done = true;
        break;
      default:
        // "Pulling fs layer", "Waiting", "Retrying in N seconds"…
        break;
    }
    return this.progress();
  }

  /** Marks the pull finished (the stream ended without an error). */
  finish(): ModelProgress {
    if (!this.error) this.finished = true;
    return this.progress();
  }

  get failed(): string | null {
    return this.error;
  }

  get percent(): number | null {
    return this.lastPercent;
  }

  progress(): ModelProgress {
    const layers = [...this.layers.values()];
    let percent: number | null;
    if (this.finished) {
      percent = 100;
    } else {
      // Layers still waiting have no size yet: count each as the average known size, so that
      // a small layer finishing first does not read as "almost done".
      let known = 0;
      let have = 0;
      let sized = 0;
      let waiting = 0;
      for (const l of layers) {
        if (l.total !== null) {
          known += l.total;
          sized++;
          have += Math.min(l.done ? l.total : l.current, l.total);
        } else if (!l.done) {
          waiting++;
        }
      }
      const estimate = sized > 0 ? known + waiting * (known / sized) : 0;
      percent = estimate > 0 ? Math.min(99, Math.floor((have / estimate) * 100)) : null;
    }
    if (percent !== null && this.lastPercent !== null) percent = Math.max(percent, this.lastPercent);
    if (percent !== null) this.lastPercent = percent;

    const doneCount = layers.filter((l) => l.done).length;
    let message: string;
    if (this.error) message = `pulling ${this.image} failed: ${this.error}`;
    else if (this.finished) message = `pulled ${this.image}`;
    else {
      const bytes = layers.reduce(
        (acc, l) => (l.total !== null ? { have: acc.have + (l.done ? l.total : l.current), total: acc.total + l.total } : acc),
        { have: 0, total: 0 },
      );
      message =
        `pulling ${this.image}: ${doneCount}/${layers.length} layers` +
        (bytes.total > 0 ? `, ${formatBytes(bytes.have)} of ${formatBytes(bytes.total)}` : '');
    }
    return { phase: 'pulling', percent: this.lastPercent, message };
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Splits a byte stream of concatenated / newline-separated JSON objects into parsed messages. */
export class JsonLineSplitter {
  private buffer = '';

  push(chunk: string | Buffer): unknown[] {
    this.buffer += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    const out: unknown[] = [];
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) out.push(...parseConcatenated(line));
    }
    return out;
  }

  end(): unknown[] {
    const rest = this.buffer.trim();
    this.buffer = '';
    return rest ? parseConcatenated(rest) : [];
  }
}

function parseConcatenated(line: string): unknown[] {
  try {
    return [JSON.parse(line)];
  } catch {
    // Some engines write "}{" without a newline between objects.
    const parts = line.split(/(?<=\})\s*(?=\{)/);
    const out: unknown[] = [];
    for (const p of parts) {
      try {
        out.push(JSON.parse(p));
      } catch {
        /* not JSON: ignored */
      }
    }
    return out;
  }
}
