// Picks the GatewayApi for where the dashboard runs: the desktop window (preload bridge present)
// or a browser tab at /ui (HTTP + SSE, admin token from the URL fragment).
import type { GatewayBridge } from '../../electron/ipc/contract.js';
import type { GatewayApi } from './gateway-api.js';
import { HttpGatewayApi } from './http-api.js';
import { IpcGatewayApi } from './ipc-api.js';
import { takeAdminToken } from './token.js';

declare global {
  interface Window {
    gateway?: GatewayBridge;
  }
}

export function createGatewayApi(win: Window = window): GatewayApi {
  if (win.gateway) return new IpcGatewayApi(win.gateway);
  let storage: Storage | null;
  try {
    storage = win.sessionStorage;
  } catch {
    storage = null; // storage disabled (privacy settings): the token lives for this page only
  }
  const adminToken = takeAdminToken({
    location: win.location,
    history: win.history,
    storage,
  });
  return new HttpGatewayApi({ adminToken });
}
