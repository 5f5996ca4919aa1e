import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // X25519 private keys live in OpenSSL's secure heap, which exists only
    // when node starts with --secure-heap.
    execArgv: ['--secure-heap=65536'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
