/**
 * Known-answer entry points: the addon's internal primitives driven with raw
 * test keys, for the FIPS-197, C2SP XAES-256-GCM and Wycheproof vectors and
 * the differential tests. The product never calls these.
 */
import { view } from './addon.js';
import { statusError } from './status.js';

interface KatNative {
  katAes256Block(key: Uint8Array, input: Uint8Array, out: Uint8Array): void;
  katXaesSubkey(key: Uint8Array, nonce: Uint8Array, out: Uint8Array): void;
  katXaesSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | null, pt: Uint8Array, out: Uint8Array): void;
  katXaesOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | null, ct: Uint8Array, out: Uint8Array): number;
  katAesGcmSeal(key: Uint8Array, iv: Uint8Array, aad: Uint8Array | null, pt: Uint8Array, out: Uint8Array): void;
  katAesGcmOpen(key: Uint8Array, iv: Uint8Array, aad: Uint8Array | null, ct: Uint8Array, out: Uint8Array): number;
}

const native = view<KatNative>();

export const kat = {
  aes256Block(key: Uint8Array, block: Uint8Array): Buffer {
    const out = Buffer.alloc(16);
    native.katAes256Block(key, block, out);
    return out;
  },
  xaesSubkey(key: Uint8Array, nonce: Uint8Array): Buffer {
    const out = Buffer.alloc(32);
    native.katXaesSubkey(key, nonce, out);
    return out;
  },
  /** ciphertext || tag */
  xaesSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
    const out = Buffer.alloc(plaintext.length + 16);
    native.katXaesSeal(key, nonce, aad ?? null, plaintext, out);
    return out;
  },
  xaesOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Buffer {
    const out = Buffer.alloc(Math.max(0, sealed.length - 16));
    const s = native.katXaesOpen(key, nonce, aad ?? null, sealed, out);
    if (s !== 0) throw statusError(s);
    return out;
  },
  aesGcmSeal(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
    const out = Buffer.alloc(plaintext.length + 16);
    native.katAesGcmSeal(key, iv, aad ?? null, plaintext, out);
    return out;
  },
  aesGcmOpen(key: Uint8Array, iv: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Buffer {
    const out = Buffer.alloc(Math.max(0, sealed.length - 16));
    const s = native.katAesGcmOpen(key, iv, aad ?? null, sealed, out);
    if (s !== 0) throw statusError(s);
    return out;
  },
};
