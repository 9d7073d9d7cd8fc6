// The admin token for browser mode (README.md): `serve` prints
// `dashboard: http://HOST:PORT/ui#token=ADMIN_TOKEN`. The fragment never reaches a server; we keep
// the token in sessionStorage (this tab only) and remove it from the address bar at once.

export const TOKEN_STORAGE_KEY = 'vllm-gateway.adminToken';

interface LocationLike {
  hash: string;
  pathname: string;
  search: string;
}

export interface TokenEnv {
  location: LocationLike;
  history: Pick<History, 'replaceState' | 'state'>;
  storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null;
}

/** Reads `#token=…` (also among other fragment parameters), stores it and clears it from the URL. */
export function takeAdminToken(env: TokenEnv): string | null {
  const hash = env.location.hash.replace(/^#/, '');
  let fromHash: string | null = null;
  if (hash) {
    const params = new URLSearchParams(hash);
    const t = params.get('token');
    if (t !== null) {
      fromHash = t.trim() || null;
      params.delete('token');
      const rest = params.toString();
      const url = env.location.pathname + env.location.search + (rest ? `#${rest}` : '');
      try {
        env.history.replaceState(env.history.state, '', url);
      } catch {
        /* a sandboxed document may refuse; the token is still only in this tab */
      }
    }
  }
  try {
    if (fromHash) {
      env.storage?.setItem(TOKEN_STORAGE_KEY, fromHash);
      return fromHash;
    }
    return env.storage?.getItem(TOKEN_STORAGE_KEY) ?? null;
  } catch {
    return fromHash; // storage disabled: keep it in memory for this page only
  }
}
