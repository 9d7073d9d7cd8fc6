import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.{ts,tsx}'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration, docker and e2e tests start real servers and containers: keep CPU contention sane on 2 cores.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
