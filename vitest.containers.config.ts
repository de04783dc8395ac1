import { defineConfig } from 'vitest/config';

// `npm run test:containers`: the real Dockerfile and docker-compose.yml on a Docker engine of this
// machine (test/containers/). The global setup installs Docker's tools where missing, starts an
// engine when none runs and builds the base images no registry gives here.
export default defineConfig({
  test: {
    include: ['test/containers/**/*.test.ts'],
    globalSetup: ['test/containers/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 900_000,
    fileParallelism: false,
  },
});
