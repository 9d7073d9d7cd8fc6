// A stand-in for Electron's unpacked Linux distribution (what electron-builder copies into the app
// and renames), for machines where Electron's binary cannot be downloaded. The `electron` file is a
// shell script that carries Electron's fuse wire after its sentinel, as the real binary does, so
// electron-builder's fuse flipping (@electron/fuses) runs on it and can be checked.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** @electron/fuses' sentinel: the fuse wire (version 1, length, one byte per fuse) follows it. */
export const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';

/**
 * The fuse states an Electron release ships with, in FuseV1Options order ('1' on, '0' off):
 * RunAsNode on, EnableCookieEncryption off, EnableNodeOptionsEnvironmentVariable on,
 * EnableNodeCliInspectArguments on, EnableEmbeddedAsarIntegrityValidation off,
 * OnlyLoadAppFromAsar off, LoadBrowserProcessSpecificV8Snapshot off, GrantFileProtocolExtraPrivileges on.
 */
export const SHIPPED_FUSES = '10110001';

/** Writes the stand-in into `dir`; `body` is the script run when the "binary" is executed. */
export function writeStandInElectronDist(dir: string, body = 'echo "stand-in Electron binary: it cannot run an app" >&2\nexit 1'): string {
  mkdirSync(path.join(dir, 'locales'), { recursive: true });
  mkdirSync(path.join(dir, 'resources'), { recursive: true });
  writeFileSync(path.join(dir, 'locales', 'en-US.pak'), '');
  writeFileSync(path.join(dir, 'LICENSE'), 'stand-in\n');
  writeFileSync(path.join(dir, 'LICENSES.chromium.html'), '');
  writeFileSync(path.join(dir, 'version'), '41.7.1');
  const wire = Buffer.concat([
    Buffer.from(`# ${FUSE_SENTINEL}`),
    Buffer.from([1, SHIPPED_FUSES.length]),
    Buffer.from(SHIPPED_FUSES),
    Buffer.from('\n'),
  ]);
  writeFileSync(path.join(dir, 'electron'), Buffer.concat([Buffer.from(`#!/bin/sh\n${body}\n`), wire]));
  chmodSync(path.join(dir, 'electron'), 0o755);
  return dir;
}
