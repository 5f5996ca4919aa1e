import { defineConfig } from 'vitest/config';

// The package's own tests: no server, no system services; they run on any
// Node the package supports (.ci/run runs them on Node 22 as well).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
