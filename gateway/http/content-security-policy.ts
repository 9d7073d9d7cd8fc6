// The dashboard's Content-Security-Policy, in one place for the three that apply it: the gateway's
// /ui route (header), the desktop window (header, electron/window.ts) and the built index.html
// (meta tag, renderer/vite.config.ts). No imports: the Vite config and Electron load it as is.

/** The directives a <meta http-equiv> policy can carry. */
const DIRECTIVES = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
];

/** The policy sent as a response header. */
export const DASHBOARD_CSP = [...DIRECTIVES, "frame-ancestors 'none'"].join('; ');

/** The policy for the built page's meta tag: without frame-ancestors, which browsers ignore there. */
export const DASHBOARD_CSP_META = DIRECTIVES.join('; ');
