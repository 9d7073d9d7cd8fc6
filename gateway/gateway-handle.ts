// The gateway as an embeddable object: what the CLI and the Electron main process hold.
// Created by createGateway() in gateway/index.ts.

import type { HistoryDocument, ModelStatus, StatusDocument } from './status-types.js';

export interface GatewayHandle {
  /** Starts listening; resolves with the base URL, e.g. http://127.0.0.1:8080. */
  listen(): Promise<string>;
  /** The admin token in force (generated or configured). */
  readonly adminToken: string;
  status(): StatusDocument;
  /** GPU memory and tokens/s over the last `seconds` (at most 300) at the poll interval. */
  history(seconds?: number): HistoryDocument;
  /** Called with the status document on every change (coalesced to at most 4/s) and at least every 5 s. */
  onStatus(cb: (doc: StatusDocument) => void): () => void;
  /** Starts the model (evicting as needed); resolves with its entry once ready. Rejects with GatewayError. */
  load(id: string): Promise<ModelStatus>;
  /** Stops the model; rejects with GatewayError('model_busy') when busy unless force. */
  unload(id: string, opts?: { force?: boolean }): Promise<ModelStatus>;
  logs(id: string, tail?: number): Promise<string>;
  /**
   * Graceful shutdown (README.md): stop accepting, drain, stop started models. Idempotent: later
   * calls return the same promise; `cutDrain` (a second Quit or signal) ends the drain now, and the
   * models are still stopped as configured.
   */
  close(opts?: { cutDrain?: boolean }): Promise<void>;
}
