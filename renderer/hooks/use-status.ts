// Live status document: the first one fetched, then every pushed one (SSE or IPC).
import { useEffect, useState } from 'react';
import type { StatusDocument } from '../../gateway/status-types.js';
import { errorMessage, isApiError, type GatewayApi } from '../api/gateway-api.js';

/** `locked`: the gateway answers but wants a credential this tab does not have. */
export type Connection = 'connecting' | 'live' | 'stale' | 'offline' | 'locked';

export interface StatusState {
  status: StatusDocument | null;
  connection: Connection;
  /** Why the first fetch failed (shown until a document arrives). */
  error: string | null;
  /**
   * True when the gateway refused to show its status without a credential (auth.apiKeys set and
   * no admin token in this tab, or a stale one): only the `dashboard:` link helps then.
   */
  needsToken: boolean;
}

/** The gateway pushes at least every 5 s; silence for longer than this marks the view stale. */
export const STALE_AFTER_MS = 12_000;
const RETRY_MS = 3_000;

export function useStatus(api: GatewayApi): StatusState {
  const [state, setState] = useState<StatusState>({
    status: null,
    connection: 'connecting',
    error: null,
    needsToken: false,
  });

  useEffect(() => {
    const ctrl = new AbortController();
    let staleTimer: ReturnType<typeof setTimeout> | undefined;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;

    const armStale = () => {
      clearTimeout(staleTimer);
      staleTimer = setTimeout(() => {
        if (!ctrl.signal.aborted) setState((s) => ({ ...s, connection: 'stale' }));
      }, STALE_AFTER_MS);
    };
    const accept = (doc: StatusDocument) => {
      if (ctrl.signal.aborted) return;
      setState({ status: doc, connection: 'live', error: null, needsToken: false });
      armStale();
    };

    api.onStatus(accept, ctrl.signal);

    const fetchFirst = () => {
      api.status().then(accept, (err: unknown) => {
        if (ctrl.signal.aborted) return;
        const needsToken = isApiError(err) && err.status === 401;
        setState((s) =>
          s.status ? s : { status: null, connection: needsToken ? 'locked' : 'offline', error: errorMessage(err), needsToken },
        );
        // A refused credential stays refused until the page is opened with the right link.
        if (!needsToken) retryTimer = setTimeout(fetchFirst, RETRY_MS);
      });
    };
    fetchFirst();

    return () => {
      ctrl.abort();
      clearTimeout(staleTimer);
      clearTimeout(retryTimer);
    };
  }, [api]);

  return state;
}
