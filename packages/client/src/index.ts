/** The public API of the Krypton client SDK. */
export { KryptonClient, type CallOptions, type ConnectOptions, type DataKey, type KeyInfo } from './client.js';
export { KryptonConnectionError, type ConnectionFailure } from './errors.js';
export {
  decryptEnvelope as decrypt,
  encryptEnvelope as encrypt,
  type EnvelopeOptions,
  type KeySource,
} from './envelope.js';
export type { ClientStats } from './dispatcher.js';
export type { BackoffOptions } from './backoff.js';
export { ERROR_CATALOGUE, isErrorCode, KryptonError, type ErrorCode } from './catalogue.js';
