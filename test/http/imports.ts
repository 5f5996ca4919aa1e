/** One import point for the tests, so the public surface under test is explicit. */
export * from '../../src/http/index.js';
export type { PemPair } from '../../src/pki/index.js';
