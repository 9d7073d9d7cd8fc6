// A GatewayApi double for the renderer's component tests (not a test file itself).
import { vi } from 'vitest';
import { ApiError, type GatewayApi } from '../../renderer/api/gateway-api.js';
import type { HistoryDocument, ModelStatus, StatusDocument } from '../../gateway/status-types.js';

export class FakeApi implements GatewayApi {
  readonly mode = 'browser' as const;
  private listeners = new Set<(doc: StatusDocument) => void>();
  current: StatusDocument;
  statusError: ApiError | null = null;

  constructor(
    doc: StatusDocument,
    readonly canControl = true,
  ) {
    this.current = doc;
  }

  status = vi.fn(async (): Promise<StatusDocument> => {
    if (this.statusError) throw this.statusError;
    return this.current;
  });

  onStatus = vi.fn((cb: (doc: StatusDocument) => void, signal?: AbortSignal) => {
    this.listeners.add(cb);
    const off = () => this.listeners.delete(cb);
    signal?.addEventListener('abort', off);
    return off;
  });

  push(doc: StatusDocument): void {
    this.current = doc;
    for (const cb of this.listeners) cb(doc);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  private entry(id: string): ModelStatus {
    const m = this.current.models.find((x) => x.id === id);
    if (!m) throw new ApiError(`Unknown model ${id}.`, { code: 'model_not_found', status: 404 });
    return m;
  }

  load = vi.fn(async (id: string) => this.entry(id));
  unload = vi.fn(async (id: string, _opts: { force: boolean }) => this.entry(id));
  logs = vi.fn(async (id: string, _tail: number) => `log line 1 of ${id}\nApplication startup complete.\n`);
  openExternal = vi.fn(async (_url: string) => undefined);
  historyDoc: HistoryDocument = { intervalSeconds: 1, windowSeconds: 300, at: [], gpus: [], models: [] };
  history = vi.fn(async (_seconds: number) => this.historyDoc);
}
