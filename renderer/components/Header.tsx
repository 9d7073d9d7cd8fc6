// Top bar: product, the gateway URL with a copy button, connection state.
import type { ReactElement } from 'react';
import type { GatewayApi } from '../api/gateway-api.js';
import type { Connection } from '../hooks/use-status.js';
import { useClipboard } from '../hooks/use-clipboard.js';
import { CheckIcon, CopyIcon, ExternalIcon, LockIcon, LogoMark } from './icons.js';

const CONNECTION_TEXT: Record<Connection, string> = {
  connecting: 'Connecting',
  live: 'Live',
  stale: 'Reconnecting',
  offline: 'Offline',
  locked: 'Needs the link',
};

export function Header({
  api,
  listen,
  version,
  connection,
}: {
  api: GatewayApi;
  listen: string | null;
  version: string | null;
  connection: Connection;
}): ReactElement {
  const { copied, failed, copy } = useClipboard();
  return (
    <header className="topbar">
      <div className="topbar-inner">
        <div className="brand">
          <LogoMark />
          <span className="brand-name">vLLM Gateway</span>
          {version ? <span className="brand-version num">v{version}</span> : null}
        </div>
        <div className="topbar-right">
          {listen ? (
            <div className="url-field" aria-label="Gateway URL" role="group">
              <span className="url-label">URL</span>
              <code className="url-value" title={listen}>
                {listen}
              </code>
              <button type="button" className="icon-btn sm" aria-label="Copy gateway URL" onClick={() => void copy(listen)} title="Copy">
                {copied ? <CheckIcon width={14} height={14} /> : <CopyIcon width={14} height={14} />}
              </button>
              {api.mode === 'desktop' ? (
                <button
                  type="button"
                  className="icon-btn sm"
                  aria-label="Open model list in browser"
                  onClick={() => void api.openExternal(`${listen}/v1/models`).catch(() => undefined)}
                >
                  <ExternalIcon width={14} height={14} />
                </button>
              ) : null}
              <span className="sr-only" role="status">
                {copied ? 'Copied' : failed ? 'Copy failed' : ''}
              </span>
            </div>
          ) : null}
          {!api.canControl ? (
            <span className="badge warn-badge" title="No admin token: models cannot be controlled from this tab">
              <LockIcon width={12} height={12} /> Read-only
            </span>
          ) : null}
          <span className={`conn conn-${connection}`} role="status" aria-label={`Connection: ${CONNECTION_TEXT[connection]}`}>
            <span className="conn-dot" aria-hidden />
            {CONNECTION_TEXT[connection]}
          </span>
        </div>
      </div>
    </header>
  );
}
