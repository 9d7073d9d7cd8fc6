// The last lines of a model server's output, refreshed while the drawer is open.
import { useCallback, useEffect, useRef, useState, type ReactElement } from 'react';
import { errorMessage, type GatewayApi } from '../api/gateway-api.js';
import { useClipboard } from '../hooks/use-clipboard.js';
import { CheckIcon, CloseIcon, CopyIcon, RefreshIcon } from './icons.js';
import { Modal } from './Modal.js';

export const LOG_TAIL = 300;
const FOLLOW_MS = 2000;

export function LogsDrawer({ api, id, onClose }: { api: GatewayApi; id: string; onClose(): void }): ReactElement {
  const [text, setText] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [follow, setFollow] = useState(true);
  const [loading, setLoading] = useState(false);
  const pre = useRef<HTMLPreElement>(null);
  const { copied, copy } = useClipboard();

  const refresh = useCallback(async () => {
    setLoading(true);
    try {
      const t = await api.logs(id, LOG_TAIL);
      setText(t);
      setError(null);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setLoading(false);
    }
  }, [api, id]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  useEffect(() => {
    if (!follow) return;
    const t = setInterval(() => void refresh(), FOLLOW_MS);
    return () => clearInterval(t);
  }, [follow, refresh]);

  useEffect(() => {
    const el = pre.current;
    if (el && follow) el.scrollTop = el.scrollHeight;
  }, [text, follow]);

  return (
    <Modal variant="drawer" labelledBy="logs-title" onClose={onClose} initialFocus="[data-close]">
      <header className="drawer-head">
        <div>
          <div className="eyebrow">Server output</div>
          <h2 id="logs-title">Logs of {id}</h2>
        </div>
        <button type="button" className="icon-btn" data-close aria-label="Close logs" onClick={onClose}>
          <CloseIcon />
        </button>
      </header>
      <div className="drawer-tools">
        <label className="toggle">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} />
          <span>Follow</span>
        </label>
        <span className="muted small">last {LOG_TAIL} lines</span>
        <span className="spacer" />
        <button type="button" className="btn ghost sm" onClick={() => void refresh()} disabled={loading} aria-label="Refresh logs">
          <RefreshIcon width={14} height={14} /> Refresh
        </button>
        <button type="button" className="btn ghost sm" onClick={() => void copy(text ?? '')} disabled={!text} aria-label="Copy logs">
          {copied ? <CheckIcon width={14} height={14} /> : <CopyIcon width={14} height={14} />} {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      {error ? (
        <div className="action-error" role="alert">
          {error}
        </div>
      ) : null}
      <pre ref={pre} className="logs" tabIndex={0} aria-label={`Output of ${id}`}>
        {text === null ? 'Loading…' : text.trim() ? text : 'No output yet.'}
      </pre>
    </Modal>
  );
}
