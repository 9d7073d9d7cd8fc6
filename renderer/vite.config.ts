// Builds the dashboard into dist/renderer with relative URLs (base './'), so the same files load
// from file:// in the desktop window and from /ui/ in a browser.
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { DASHBOARD_CSP_META } from '../gateway/http/content-security-policy.js';

const root = fileURLToPath(new URL('.', import.meta.url));

/** The CSP the built page carries (the gateway and Electron also send it as a header). */
export const DASHBOARD_CSP = DASHBOARD_CSP_META;

/** Adds the CSP meta tag to the built index.html only (the dev server needs inline scripts for HMR). */
function cspMeta(): Plugin {
  return {
    name: 'dashboard-csp-meta',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler: () => [
        {
          tag: 'meta',
          attrs: {
            'http-equiv': 'Content-Security-Policy',
            content: DASHBOARD_CSP,
          },
          injectTo: 'head-prepend',
        },
      ],
    },
  };
}

export default defineConfig({
  root,
  base: './',
  plugins: [react(), cspMeta()],
  build: {
    outDir: fileURLToPath(new URL('../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
  },
  server: { port: 5173, strictPort: true },
});
