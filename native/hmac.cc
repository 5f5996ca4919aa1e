#include "hmac.h"

#include <initializer_list>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "keystore.h"
#include "secure_memory.h"

namespace krypton {

namespace {

// Fetching the HMAC implementation walks the provider tables; do it once.
// EVP_MAC objects are reference counted and safe to share across threads.
EVP_MAC* HmacImpl() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

// Owns an EVP_MAC_CTX. EVP_MAC_CTX_free cleanses the HMAC state (the
// ipad/opad digests are as secret as the key) and the provider's key copy.
class MacCtx {
 public:
  explicit MacCtx(EVP_MAC* mac) : ctx_(mac != nullptr ? EVP_MAC_CTX_new(mac) : nullptr) {}
  ~MacCtx() { EVP_MAC_CTX_free(ctx_); }
  MacCtx(const MacCtx&) = delete;
  MacCtx& operator=(const MacCtx&) = delete;
  EVP_MAC_CTX* get() const { return ctx_; }

 private:
  EVP_MAC_CTX* ctx_;
};

// out = HMAC-SHA256(k, parts[0] || parts[1] || ...).
bool Compute(const KeyMaterial& k, std::initializer_list<Bytes> parts, uint8_t* out) {
  MacCtx ctx(HmacImpl());
  if (ctx.get() == nullptr) return false;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(ctx.get(), k.key, k.len, params) != 1) return false;
  for (const Bytes& part : parts) {
    if (EVP_MAC_update(ctx.get(), part.p, part.n) != 1) return false;
  }
  size_t n = 0;
  return EVP_MAC_final(ctx.get(), out, &n, kHmacSha256Bytes) == 1 && n == kHmacSha256Bytes;
}

}  // namespace

Status HmacSha256(KeyHandle handle, Bytes data, uint8_t* out, size_t out_len) {
  if (out_len != kHmacSha256Bytes) return kInvalidArgument;
  KeyStore::Reader r(KeyStore::Instance());
  const KeyMaterial* k = r.ok() ? r.Key(handle) : nullptr;
  if (k == nullptr) return kKeyUnavailable;
  if (!Compute(*k, {data}, out)) {
    SecureZero(out, out_len);
    return kInternal;
  }
  return kOk;
}

Status DeriveKey(KeyHandle handle, Bytes info, KeyHandle* derived) {
  static constexpr uint8_t kLabel[] = {'k', 'r', 'y', 'p', 't', 'o', 'n', ':', 'd',
                                       'e', 'r', 'i', 'v', 'e', ':', 'v', '1', 0};
  return KeyStore::Instance().ImportWith(
      kHmacSha256Bytes,
      [&](uint8_t* dst, size_t) -> Status {
        KeyStore::Reader r(KeyStore::Instance());
        const KeyMaterial* k = r.ok() ? r.Key(handle) : nullptr;
        if (k == nullptr) return kKeyUnavailable;
        return Compute(*k, {Bytes{kLabel, sizeof(kLabel)}, info}, dst) ? kOk : kInternal;
      },
      derived);
}

}  // namespace krypton
