// Tests that run the gateway as `node gateway/bin.mjs` (or the bench) need dist/ built from the
// current sources. `npm test` builds first; a single file run with `npx vitest run` may find dist/
// missing or stale, so these tests build it rather than skip or test old code.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Whether every gateway/**.ts has a dist/ file at least as new. */
function distIsFresh(dir = 'gateway'): boolean {
  for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!distIsFresh(rel)) return false;
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      const out = path.join(ROOT, 'dist', rel.replace(/\.ts$/, '.js'));
      if (!existsSync(out) || statSync(out).mtimeMs < statSync(path.join(ROOT, rel)).mtimeMs) return false;
    }
  }
  return true;
}

/** Builds dist/ (tsc) when it is missing or older than the gateway sources. */
export function ensureBuilt(): void {
  if (distIsFresh()) return;
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
    cwd: ROOT,
    stdio: 'ignore',
  });
}
