import { defineConfig } from 'vitest/config';

// `npm run test:browser`: the dashboard in a real headless Chromium (the system's, e.g. Debian's
// `chromium` package; TM_CHROMIUM_PATH names another) against a running process stack.
// Screenshots go to test-artifacts/browser/ (git-ignored).
export default defineConfig({
  test: {
    include: ['test/browser/**/*.browser.test.ts'],
    testTimeout: 90_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
