/** The TypeScript surface of the native addon. */
export * from './keystore.js';
export * from './blob.js';
export * from './hpke.js';
export { kat } from './kat.js';
export { isValidId, ID_PATTERN } from './ids.js';
export * from './hmac.js';
export * from './signing.js';
export * from './shamir.js';
export * from './hardening.js';
