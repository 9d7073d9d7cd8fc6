// The CLI's log destination: lifecycle lines are on disk the moment they are logged, request
// lines wait for the batch (and come out in order, before the next lifecycle line).

import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { cliLogDestination } from '../../gateway/cli-log-destination.js';

describe('cliLogDestination', () => {
  it('writes lifecycle lines at once, after the request lines batched before them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-log-'));
    const file = join(dir, 'log');
    const fd = openSync(file, 'w');
    try {
      const dest = cliLogDestination(fd);
      const log = pino({ base: undefined, timestamp: false }, dest);
      log.info({ reqId: 'a' }, 'request done');
      expect(readFileSync(file, 'utf8')).toBe(''); // batched
      log.info({ model: 'm' }, 'model ready');
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).msg);
      expect(lines).toEqual(['request done', 'model ready']); // synchronously, in order
      log.info({ reqId: 'b' }, 'request done');
      dest.flush();
      expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(3);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
