import { defineConfig } from 'vitest/config';

// Two projects: everything else runs files in parallel; the Docker-engine tests run one file at a
// time, because two of them restart the shared dockerd and would break each other's Docker calls.
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    // Fails the run when a test leaves a process or container behind (only this run's).
    globalSetup: ['test/lifecycle/leak-check.global.ts'],
    setupFiles: ['test/lifecycle/mark-test.setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.{ts,tsx}'],
          exclude: ['test/docker/**', '**/node_modules/**'],
          environment: 'node',
        },
      },
      {
        extends: true,
        test: {
          name: 'docker',
          include: ['test/docker/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
        },
      },
    ],
  },
});
