/**
 * Linking and unlinking a pkcs11 L1: create the AES-256 key object in the
 * token, or destroy it. Used by tests and, later, by `krypton` admin
 * commands. Destroying the key is irreversible for every L2 bound to it.
 */
import { errors } from '../../errors.js';
import { pkcs11js, unavailable } from './pkcs11-module.js';
import { resolvePin, resolveTarget, TokenSession } from './pkcs11-token.js';
import type { OpenL1Options } from './provider.js';

/**
 * Generates an AES-256 key labelled `label` in the token the URI names
 * (persistent, private, sensitive, never extractable, encrypt/decrypt only)
 * and returns the L1 ref (the URI with object=label, without the PIN).
 * A key with that label already there: BAD_REQUEST.
 */
export async function createPkcs11L1Key(uri: string, label: string, opts: OpenL1Options = {}): Promise<string> {
  const target = resolveTarget(uri, label);
  const token = TokenSession.open(target, resolvePin(target.uri, opts.pin), { readWrite: true });
  try {
    if (token.findKeys(target.object, target.uri.id).length > 0) {
      throw errors.badRequest('the token already holds a key with this label');
    }
    const template = [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_LABEL, value: target.object },
      ...(target.uri.id === undefined ? [] : [{ type: pkcs11js.CKA_ID, value: target.uri.id }]),
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      // Only GCM over L2 bytes: no C_WrapKey/C_UnwrapKey, no signing.
      { type: pkcs11js.CKA_WRAP, value: false },
      { type: pkcs11js.CKA_UNWRAP, value: false },
      { type: pkcs11js.CKA_SIGN, value: false },
      { type: pkcs11js.CKA_VERIFY, value: false },
    ];
    try {
      token.module.lib.C_GenerateKey(token.session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, template);
    } catch (err) {
      throw unavailable('the token could not generate the L1 key', err);
    }
    return target.ref;
  } finally {
    token.close();
  }
}

/** Destroys the L1 key the URI names ("unlink"); none there: KEY_UNAVAILABLE. */
export async function destroyPkcs11L1Key(uri: string, opts: OpenL1Options = {}): Promise<void> {
  const target = resolveTarget(uri);
  const token = TokenSession.open(target, resolvePin(target.uri, opts.pin), { readWrite: true });
  try {
    const key = token.findKey(target);
    try {
      token.module.lib.C_DestroyObject(token.session, key);
    } catch (err) {
      throw unavailable('the token could not destroy the L1 key', err);
    }
  } finally {
    token.close();
  }
}
