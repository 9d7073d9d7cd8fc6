// Picks the GatewayApi for where the dashboard runs: the desktop window (preload bridge present)
// or a browser tab at /ui (HTTP + SSE, admin token from the URL fragment).
import type { GatewayBridge } from '../../common/ipc-contract.js';
import type { GatewayApi } from './gateway-api.js';
import { HttpGatewayApi } from './http-api.js';
import { IpcGatewayApi } from './ipc-api.js';
import { takeAdminToken } from './token.js';

declare global {
  interface Window {
    gateway?: GatewayBridge;
  }
}

function sessionStorageOf(win: Window): Storage | null {
  try {
    return win.sessionStorage;
  } catch {
    return null; // storage disabled (privacy settings): the token lives for this page only
  }
}

export function createGatewayApi(win: Window = window): GatewayApi {
  if (win.gateway) return new IpcGatewayApi(win.gateway);
  const adminToken = takeAdminToken({
    location: win.location,
    history: win.history,
    storage: sessionStorageOf(win),
  });
  return new HttpGatewayApi({ adminToken });
}

/**
 * Opening the `dashboard:` link in a tab that already shows /ui changes only the fragment, which
 * does not reload the page: reload it then, so the API is made again with the token.
 * Returns a function that stops watching.
 */
export function watchForTokenLink(win: Window = window): () => void {
  if (win.gateway) return () => {};
  const onHashChange = () => {
    // The reload keeps the fragment; createGatewayApi() then takes the token and clears it.
    if (new URLSearchParams(win.location.hash.replace(/^#/, '')).has('token')) win.location.reload();
  };
  win.addEventListener('hashchange', onHashChange);
  return () => win.removeEventListener('hashchange', onHashChange);
}
