/** L1 providers: the customer's root of trust behind one interface. */
export type { L1Kind, L1Provider, OpenL1Options, WrappedL2 } from './provider.js';
export { L1_KINDS } from './provider.js';
export { openL1Provider } from './open.js';
export { createSoftL1Key, SoftL1Provider, SOFT_L1_KEY_BYTES } from './soft.js';
export { Pkcs11L1Provider, PKCS11_WRAPPED_BYTES } from './pkcs11.js';
export { createPkcs11L1Key, destroyPkcs11L1Key } from './pkcs11-admin.js';
export { formatPkcs11Uri, parsePkcs11Uri, percentDecodeBytes } from './pkcs11-uri.js';
export type { Pkcs11ObjectType, Pkcs11Uri } from './pkcs11-uri.js';
