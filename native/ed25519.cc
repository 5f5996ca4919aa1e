#include "ed25519.h"

#include <openssl/err.h>
#include <openssl/evp.h>

namespace krypton {

namespace {

// The signing key of a stored 32-byte seed, for one use: free it with
// EVP_PKEY_free (which clear-frees the private key).
EVP_PKEY* KeyOf(KeyHandle seed, Status* s) {
  KeyStore::Reader r(KeyStore::Instance());
  const KeyMaterial* k = r.ok() ? r.Key(seed) : nullptr;
  if (k == nullptr) {
    *s = kKeyUnavailable;
    return nullptr;
  }
  if (k->len != kEd25519SeedBytes) {
    *s = kInvalidArgument;
    return nullptr;
  }
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key_ex(nullptr, "ED25519", nullptr, k->key, kEd25519SeedBytes);
  if (key == nullptr) {
    ERR_clear_error();
    *s = kInternal;
  }
  return key;
}

}  // namespace

Status Ed25519Sign(KeyHandle seed, Bytes msg, uint8_t* sig, size_t sig_len) {
  if (sig_len != kEd25519SignatureBytes) return kInvalidArgument;
  Status s = kOk;
  EVP_PKEY* key = KeyOf(seed, &s);
  if (key == nullptr) return s;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t n = kEd25519SignatureBytes;
  // Ed25519 is one-shot: no digest, the whole message in one call.
  const bool ok = ctx != nullptr && EVP_DigestSignInit_ex(ctx, nullptr, nullptr, nullptr, nullptr, key, nullptr) == 1 &&
                  EVP_DigestSign(ctx, sig, &n, msg.p, msg.n) == 1 && n == kEd25519SignatureBytes;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (!ok) ERR_clear_error();
  return ok ? kOk : kInternal;
}

Status Ed25519PublicKey(KeyHandle seed, uint8_t* pub, size_t pub_len) {
  if (pub_len != kEd25519PublicBytes) return kInvalidArgument;
  Status s = kOk;
  EVP_PKEY* key = KeyOf(seed, &s);
  if (key == nullptr) return s;
  size_t n = kEd25519PublicBytes;
  const bool ok = EVP_PKEY_get_raw_public_key(key, pub, &n) == 1 && n == kEd25519PublicBytes;
  EVP_PKEY_free(key);
  if (!ok) ERR_clear_error();
  return ok ? kOk : kInternal;
}

}  // namespace krypton
