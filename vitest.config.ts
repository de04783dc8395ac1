import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    // The browser tests (a real Chromium against a running stack) and the container tests (a
    // Docker engine) have their own runs: `npm run test:browser` (vitest.browser.config.ts) and
    // `npm run test:containers` (vitest.containers.config.ts).
    exclude: ['node_modules/**', 'dist/**', 'client/dist/**', 'test/browser/**', 'test/containers/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration files start their own servers and process stacks; two cores, so keep the
    // number of stacks running at once small.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
