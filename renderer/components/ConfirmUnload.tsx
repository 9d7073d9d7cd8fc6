// Asked before forcing an unload that would cut requests in flight or queued (409 model_busy).
// Its words are the dashboard's (the Evict button, docs/desktop.md); what it confirms is a forced unload.
import type { ReactElement } from 'react';
import { plural } from '../lib/format.js';
import { Modal } from './Modal.js';

export interface ConfirmUnloadProps {
  id: string;
  inFlight: number;
  queued: number;
  onConfirm(): void;
  onCancel(): void;
}

export function ConfirmUnload({ id, inFlight, queued, onConfirm, onCancel }: ConfirmUnloadProps): ReactElement {
  const parts: string[] = [];
  if (inFlight > 0) parts.push(`${plural(inFlight, 'request')} in flight`);
  if (queued > 0) parts.push(`${plural(queued, 'request')} queued`);
  const what = parts.length > 0 ? parts.join(' and ') : 'requests in flight or queued';
  return (
    <Modal variant="dialog" labelledBy="confirm-title" describedBy="confirm-body" onClose={onCancel} initialFocus="[data-cancel]">
      <h2 id="confirm-title">Evict {id} now?</h2>
      <p id="confirm-body">
        <strong>{id}</strong> has {what}. Evicting it now ends them with an error (503) and frees its GPU memory.
      </p>
      <div className="dialog-actions">
        <button type="button" className="btn" data-cancel onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className="btn danger" onClick={onConfirm}>
          Evict anyway
        </button>
      </div>
    </Modal>
  );
}
