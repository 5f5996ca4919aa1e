/**
 * The one interface behind which every L1 (the customer's root of trust)
 * sits. An L1 binds a tenant's L2 ("sovereign binding"): whoever removes
 * the L1 makes every L2 bound to it unrecoverable by Krypton.
 *
 * L2 keys stay in the native store and are named by handle. The one
 * exception is the `pkcs11` provider: an HSM can only encrypt bytes that it
 * is given, and the store never exports key bytes, so a pkcs11 L1 binds an
 * L2 when it is created (`generateWrapped`), in the short window before the
 * fresh key enters the store.
 */
import type { KeyHandle } from '../../native/index.js';

export type L1Kind = 'soft' | 'pkcs11';

export const L1_KINDS: readonly L1Kind[] = ['soft', 'pkcs11'];

/** A fresh L2 in the native store together with its sovereign binding. */
export interface WrappedL2 {
  handle: KeyHandle;
  wrapped: Buffer;
}

export interface L1Provider {
  readonly kind: L1Kind;
  /** What the KSI stores to find this L1 again: a path, or an RFC 7512 URI without the PIN. */
  readonly ref: string;
  /**
   * Sovereign binding of an L2 already held in the native store.
   * `pkcs11` cannot do this (no key export from the store): it throws
   * BAD_REQUEST; use `generateWrapped` when the L2 is created.
   */
  wrap(l2: KeyHandle, aad: Uint8Array): Promise<Buffer>;
  /** Creates a fresh 256-bit L2 in the store and returns it with its binding under this L1. */
  generateWrapped(aad: Uint8Array): Promise<WrappedL2>;
  /** Recovers a bound L2 into the store. Wrong AAD or tampered input: INVALID_BLOB; L1 gone: KEY_UNAVAILABLE. */
  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<KeyHandle>;
  /** Throws KEY_UNAVAILABLE if the L1 is gone, changed or unreachable. */
  check(): Promise<void>;
  /** Releases the L1 (destroys its handle, or logs out of the token). Idempotent. */
  close(): Promise<void>;
}

/** Options for opening an L1. `pin` overrides any PIN source of a pkcs11 URI. */
export interface OpenL1Options {
  pin?: string;
}
