// Which folder may import which (docs/architecture.md "Folders"): the dashboard's bundle must not
// depend on the Electron shell, so renderer/ imports nothing from electron/ (nor the `electron`
// package); what both sides use lives in common/, which imports neither of them.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(import.meta.dirname, '../..');

function sourcesUnder(folder: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(REPO, folder), { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && /\.(ts|tsx|mts)$/.test(entry.name)) out.push(path.join(entry.parentPath, entry.name));
  }
  return out;
}

/** Every module a source names (static and dynamic imports, re-exports), resolved against its file when relative. */
function importsOf(file: string, text: string): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) =>
      f.fileName.startsWith('.') ? path.relative(REPO, path.resolve(path.dirname(file), f.fileName)) : f.fileName,
    );
}

/** The imports of `file` that reach into one of `forbidden` (repo folders, or package names). */
function crossings(file: string, text: string, forbidden: readonly string[]): string[] {
  return importsOf(file, text).filter((target) => forbidden.some((f) => target === f || target.startsWith(`${f}/`)));
}

function crossingsUnder(folder: string, forbidden: readonly string[]): string[] {
  return sourcesUnder(folder).flatMap((file) =>
    crossings(file, readFileSync(file, 'utf8'), forbidden).map((t) => `${path.relative(REPO, file)} → ${t}`),
  );
}

describe('import boundaries', () => {
  it('finds an import into electron/ when a file has one (the check itself can fail)', () => {
    const file = path.join(REPO, 'renderer/api/x.ts');
    const text = "import type { A } from '../../electron/ipc/handlers.js';\nexport const b = () => import('electron');";
    expect(crossings(file, text, ['electron'])).toEqual(['electron/ipc/handlers.js', 'electron']);
    expect(crossings(file, "import { c } from '../../common/ipc-contract.js';", ['electron'])).toEqual([]);
  });

  it('renderer/ imports nothing from electron/ (nor the electron package)', () => {
    expect(sourcesUnder('renderer').length).toBeGreaterThan(10);
    expect(crossingsUnder('renderer', ['electron'])).toEqual([]);
  });

  it('common/ imports neither electron/ nor renderer/', () => {
    expect(sourcesUnder('common').length).toBeGreaterThan(0);
    expect(crossingsUnder('common', ['electron', 'renderer'])).toEqual([]);
  });
});
