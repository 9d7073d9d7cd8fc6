// Runs in each test file's worker before the file: names the file and the running test in the
// environment, so a process left behind says which test started it (see run-marker.ts).
import path from 'node:path';
import { beforeEach, expect } from 'vitest';
import { FILE_ENV, TEST_ENV } from './run-marker.js';

process.env[FILE_ENV] = path.relative(process.cwd(), expect.getState().testPath ?? '?');
process.env[TEST_ENV] = '(outside a test: beforeAll or module scope)';

beforeEach((ctx) => {
  process.env[TEST_ENV] = ctx.task.name;
});
