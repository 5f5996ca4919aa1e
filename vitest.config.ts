import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The client package's own tests run here too (and alone: npm test -w @krypton/client).
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    // Installs (as root) or names what the tests need from the system.
    globalSetup: ['test/setup/system-deps.ts'],
    pool: 'forks',
    // X25519 private keys live in OpenSSL's secure heap, which exists only
    // when node starts with --secure-heap.
    execArgv: ['--secure-heap=65536'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
