// Bundles electron/preload.ts into dist/electron/preload.cjs: one CommonJS file whose only
// require is 'electron', as a sandboxed preload needs (no ESM, no local files).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  configFile: false,
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/electron', import.meta.url)),
    emptyOutDir: false, // tsc writes main.js and friends into the same folder
    target: 'node20',
    minify: false,
    sourcemap: false,
    lib: {
      entry: fileURLToPath(new URL('../electron/preload.ts', import.meta.url)),
      formats: ['cjs'],
      fileName: () => 'preload.cjs',
    },
    rollupOptions: {
      external: ['electron'],
      output: { exports: 'none' },
    },
  },
});
