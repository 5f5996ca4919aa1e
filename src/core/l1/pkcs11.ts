/**
 * `pkcs11` L1: an AES-256 key that never leaves an HSM (SoftHSM2 in tests).
 * A binding is AES-256-GCM computed by the token: iv (12) || ciphertext (32)
 * || tag (16), with the caller's AAD.
 *
 * Limitation, by design: pkcs11js moves data through JS Buffers, and the
 * native store never exports key bytes. So the L2 is bound when it is born
 * (`generateWrapped`): 32 random bytes in a Buffer, encrypted by the token,
 * imported into the store, Buffer wiped; `unwrap` is the mirror. Those two
 * short windows are the only time an L2 is in the JS heap. `wrap` of a key
 * already in the store is refused (BAD_REQUEST).
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import type { GcmParams, Mechanism } from 'pkcs11js';
import { errors, KryptonError } from '../../errors.js';
import { importKey } from '../../native/index.js';
import type { KeyHandle } from '../../native/index.js';
import { ckrName, pkcs11js, unavailable } from './pkcs11-module.js';
import type { Pkcs11Handle } from './pkcs11-module.js';
import { resolvePin, resolveTarget, TokenSession } from './pkcs11-token.js';
import type { L1Target } from './pkcs11-token.js';
import type { L1Provider, OpenL1Options, WrappedL2 } from './provider.js';

const L2_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const PKCS11_WRAPPED_BYTES = IV_BYTES + L2_BYTES + TAG_BYTES;

/** Cryptoki codes that mean "this ciphertext is wrong", not "the token is gone". */
const BAD_CIPHERTEXT = new Set(['CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE']);

function gcm(iv: Buffer, aad: Uint8Array): Mechanism {
  const parameter: GcmParams = {
    // The v2.40 CK_GCM_PARAMS layout (with ulIvBits), which SoftHSM2 2.6 and current HSMs use.
    type: pkcs11js.CK_PARAMS_AES_GCM_v240,
    iv,
    ivBits: IV_BYTES * 8,
    ...(aad.length > 0 ? { aad: Buffer.from(aad.buffer, aad.byteOffset, aad.byteLength) } : {}),
    tagBits: TAG_BYTES * 8,
  };
  return { mechanism: pkcs11js.CKM_AES_GCM, parameter };
}

export class Pkcs11L1Provider implements L1Provider {
  readonly kind = 'pkcs11' as const;
  readonly ref: string;
  readonly #target: L1Target;
  readonly #token: TokenSession;
  #key: Pkcs11Handle;

  private constructor(target: L1Target, token: TokenSession, key: Pkcs11Handle) {
    this.ref = target.ref;
    this.#target = target;
    this.#token = token;
    this.#key = key;
  }

  /** Opens the L1 the URI names. Token, PIN or key unusable: KEY_UNAVAILABLE; bad URI: BAD_REQUEST. */
  static open(uri: string, opts: OpenL1Options = {}): Pkcs11L1Provider {
    const target = resolveTarget(uri);
    const token = TokenSession.open(target, resolvePin(target.uri, opts.pin));
    try {
      return new Pkcs11L1Provider(target, token, token.findKey(target));
    } catch (err) {
      token.close();
      throw err;
    }
  }

  async wrap(_l2: KeyHandle, _aad: Uint8Array): Promise<Buffer> {
    throw errors.badRequest('pkcs11 binds an L2 at creation; use generateWrapped');
  }

  async generateWrapped(aad: Uint8Array): Promise<WrappedL2> {
    this.#token.ping();
    const l2 = Buffer.alloc(L2_BYTES); // alloc, never the shared pool, so fill(0) reaches every copy
    try {
      randomFillSync(l2);
      const iv = randomBytes(IV_BYTES);
      const lib = this.#token.module.lib;
      const out = Buffer.alloc(L2_BYTES + TAG_BYTES);
      let sealed: Buffer;
      try {
        lib.C_EncryptInit(this.#token.session, gcm(iv, aad), this.#key);
        sealed = lib.C_Encrypt(this.#token.session, l2, out);
      } catch (err) {
        throw unavailable('encryption in the token failed', err);
      }
      if (sealed.length !== L2_BYTES + TAG_BYTES) throw errors.internal('pkcs11 L1: unexpected GCM output length');
      const wrapped = Buffer.concat([iv, sealed]);
      return { handle: importKey(l2), wrapped };
    } finally {
      l2.fill(0);
    }
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<KeyHandle> {
    this.#token.ping();
    if (wrapped.length !== PKCS11_WRAPPED_BYTES) throw errors.invalidBlob();
    const input = Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
    const iv = input.subarray(0, IV_BYTES);
    const lib = this.#token.module.lib;
    try {
      lib.C_DecryptInit(this.#token.session, gcm(iv, aad), this.#key);
    } catch (err) {
      throw unavailable('the L1 key cannot decrypt', err);
    }
    // Sized for the whole input: some tokens want room for ciphertext + tag before checking it.
    const out = Buffer.alloc(L2_BYTES + TAG_BYTES);
    try {
      let l2: Buffer;
      try {
        l2 = lib.C_Decrypt(this.#token.session, input.subarray(IV_BYTES), out);
      } catch (err) {
        const name = ckrName(err);
        if (
          name !== undefined &&
          (BAD_CIPHERTEXT.has(name) || name === 'CKR_GENERAL_ERROR' || name === 'CKR_FUNCTION_FAILED')
        ) {
          // Init succeeded, so key and session were fine: a failure here is the tag check
          // (SoftHSM2 2.6 reports a GCM tag mismatch as CKR_GENERAL_ERROR).
          throw new KryptonError('INVALID_BLOB', 'invalid blob', { cause: err });
        }
        throw unavailable('decryption in the token failed', err);
      }
      if (l2.length !== L2_BYTES) throw errors.invalidBlob();
      return importKey(l2);
    } finally {
      out.fill(0);
    }
  }

  async check(): Promise<void> {
    this.#token.ping();
    // Re-find rather than trust the cached handle: the object may have been destroyed.
    this.#key = this.#token.findKey(this.#target);
  }

  async close(): Promise<void> {
    this.#token.close();
  }
}
