// The short history (GET /gateway/history or IPC status:history), fetched again every few seconds
// while the dashboard is open. A failed fetch keeps the last one shown.
import { useEffect, useState } from 'react';
import type { HistoryDocument } from '../../gateway/status-types.js';
import type { GatewayApi } from '../api/gateway-api.js';

export const HISTORY_REFRESH_MS = 2000;

export function useHistory(api: GatewayApi, enabled: boolean): HistoryDocument | null {
  const [doc, setDoc] = useState<HistoryDocument | null>(null);
  useEffect(() => {
    if (!enabled) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = () => {
      api.history(300).then(
        (d) => {
          if (stopped) return;
          setDoc(d);
          timer = setTimeout(load, Math.max(HISTORY_REFRESH_MS, d.intervalSeconds * 1000));
        },
        () => {
          if (!stopped) timer = setTimeout(load, HISTORY_REFRESH_MS * 2);
        },
      );
    };
    load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api, enabled]);
  return doc;
}
