#include "key_wrap.h"

#include "keystore.h"
#include "random_pool.h"
#include "secure_memory.h"
#include "xaes.h"

namespace krypton {

namespace {

constexpr uint8_t kWrapLabel[] = {'k', 'r', 'y', 'p', 't', 'o', 'n', ':', 'w', 'r', 'a', 'p', ':', 'v', '1', 0};

}  // namespace

Status WrapKey(KeyHandle wrapping, KeyHandle target, Bytes aad, uint8_t* out, size_t out_len) {
  KeyStore::Reader r(KeyStore::Instance());
  if (!r.ok()) return kKeyUnavailable;
  const KeyMaterial* kek = r.Key(wrapping);
  const KeyMaterial* key = r.Key(target);
  if (kek == nullptr || key == nullptr) return kKeyUnavailable;
  if (kek->len != 32 || wrapping == target) return kInvalidArgument;
  if (out_len != kWrapOverhead + key->len) return kInvalidArgument;
  if (!RandomBytes(out, 24)) return kInternal;
  const Aad a{kWrapLabel, sizeof(kWrapLabel), aad.p, aad.n};
  const Status s = XaesSealWithNonce(*kek, out, a, key->key, key->len, out + 24, out + 24 + key->len);
  if (s != kOk) SecureZero(out, out_len);
  return s;
}

Status UnwrapKey(KeyHandle wrapping, Bytes wrapped, Bytes aad, KeyHandle* handle) {
  if (wrapped.n < kWrapOverhead + kMinKeyBytes || wrapped.n > kWrapOverhead + kMaxKeyBytes) return kInvalidBlob;
  const size_t len = wrapped.n - kWrapOverhead;
  return KeyStore::Instance().ImportWith(
      len,
      [&](uint8_t* dst, size_t n) -> Status {
        KeyStore::Reader r(KeyStore::Instance());
        if (!r.ok()) return kKeyUnavailable;
        const KeyMaterial* kek = r.Key(wrapping);
        if (kek == nullptr) return kKeyUnavailable;
        if (kek->len != 32) return kInvalidArgument;
        const Aad a{kWrapLabel, sizeof(kWrapLabel), aad.p, aad.n};
        return XaesOpen(*kek, wrapped.p, a, wrapped.p + 24, n, wrapped.p + 24 + n, dst);
      },
      handle);
}

}  // namespace krypton
