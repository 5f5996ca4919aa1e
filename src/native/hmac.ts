/**
 * HMAC-SHA256 under a stored key (key check values and other keyed
 * digests): the key stays in the addon's arena, only the MAC comes back.
 */
import { fromNative } from '../errors.js';
import { view } from './addon.js';
import type { KeyHandle } from './keystore.js';

interface HmacNative {
  hmacSha256(handle: number, data: Uint8Array, out: Buffer): void;
  keyDerive(handle: number, info: Uint8Array): number;
}

const native = view<HmacNative>();

export const HMAC_SHA256_BYTES = 32;

/** HMAC-SHA256(key of `handle`, `data`), 32 bytes. Unknown handle: KEY_UNAVAILABLE. */
export function hmacSha256(handle: KeyHandle, data: Uint8Array): Buffer {
  const out = Buffer.alloc(HMAC_SHA256_BYTES);
  try {
    native.hmacSha256(handle, data, out);
  } catch (err) {
    throw fromNative(err);
  }
  return out;
}

/**
 * A new 32-byte key derived from `handle` for the purpose named by `info`
 * (HKDF-Expand over HMAC-SHA256); it stays in the store.
 */
export function deriveKey(handle: KeyHandle, info: string | Uint8Array): KeyHandle {
  try {
    return native.keyDerive(handle, typeof info === 'string' ? Buffer.from(info) : info);
  } catch (err) {
    throw fromNative(err);
  }
}
