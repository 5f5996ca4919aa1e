// RFC 9180 base mode over OpenSSL: X25519 via EVP_PKEY, Extract via
// EVP_MAC HMAC-SHA256 (streamed, so labeled inputs are never concatenated
// into ordinary memory), Expand via EVP_KDF HKDF in EXPAND_ONLY mode, and
// the AEAD via AesGcmSeal/AesGcmOpen. Secrets live in one arena block per
// operation, released (zeroized) by its destructor on every path.
#include "hpke.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <array>
#include <cstring>
#include <initializer_list>

#include "secure_memory.h"
#include "xaes.h"

namespace krypton {

namespace {

constexpr size_t kHashBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr uint8_t kZeroSalt[kHashBytes] = {};
constexpr uint8_t kVersionLabel[] = {'H', 'P', 'K', 'E', '-', 'v', '1'};

// suite_id: "KEM" || kem_id for the KEM, "HPKE" || kem || kdf || aead for the rest.
constexpr uint8_t kKemSuite[] = {'K', 'E', 'M', 0x00, 0x20};

struct HpkeSuite {
  uint8_t id[10];
  size_t key_bytes;
};

bool SuiteFor(uint16_t aead, HpkeSuite* s) {
  if (aead != kHpkeAeadAes128Gcm && aead != kHpkeAeadAes256Gcm) return false;
  const uint8_t id[10] = {'H', 'P', 'K', 'E', 0x00, 0x20, 0x00, 0x01, 0x00, static_cast<uint8_t>(aead)};
  std::memcpy(s->id, id, sizeof(id));
  s->key_bytes = aead == kHpkeAeadAes128Gcm ? 16 : 32;
  return true;
}

ConstBytes Str(const char* s) {
  return ConstBytes{reinterpret_cast<const uint8_t*>(s), std::strlen(s)};
}

// Fetched once: fetching is slow and the fetched objects are immutable.
EVP_MAC* HmacAlg() {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

EVP_KDF* HkdfAlg() {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kdf;
}

// HKDF-Extract: HMAC-SHA256(salt, parts...) into prk (32). An empty salt is
// HashLen zeros (RFC 5869 2.2), which HMAC treats identically.
bool Extract(ConstBytes salt, std::initializer_list<ConstBytes> parts, uint8_t prk[kHashBytes]) {
  if (salt.n == 0) salt = ConstBytes{kZeroSalt, sizeof(kZeroSalt)};
  EVP_MAC_CTX* ctx = HmacAlg() != nullptr ? EVP_MAC_CTX_new(HmacAlg()) : nullptr;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
                         OSSL_PARAM_construct_end()};
  bool ok = ctx != nullptr && EVP_MAC_init(ctx, salt.p, salt.n, params) == 1;
  for (const ConstBytes& part : parts) {
    if (ok && part.n != 0) ok = EVP_MAC_update(ctx, part.p, part.n) == 1;
  }
  size_t out_len = 0;
  ok = ok && EVP_MAC_final(ctx, prk, &out_len, kHashBytes) == 1 && out_len == kHashBytes;
  EVP_MAC_CTX_free(ctx);  // cleanses the HMAC state
  if (!ok) {
    SecureZero(prk, kHashBytes);
    ERR_clear_error();
  }
  return ok;
}

// HKDF-Expand(prk, info, len) into out (len <= 255 * 32).
bool Expand(const uint8_t prk[kHashBytes], ConstBytes info, uint8_t* out, size_t len) {
  if (len == 0 || len > kHkdfSha256MaxOutput) return false;
  EVP_KDF_CTX* ctx = HkdfAlg() != nullptr ? EVP_KDF_CTX_new(HkdfAlg()) : nullptr;
  int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
                         OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
                         OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(prk), kHashBytes),
                         OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<uint8_t*>(info.p), info.n),
                         OSSL_PARAM_construct_end()};
  if (info.n == 0) params[3] = OSSL_PARAM_construct_end();
  const bool ok = ctx != nullptr && EVP_KDF_derive(ctx, out, len, params) == 1;
  EVP_KDF_CTX_free(ctx);  // clear-frees its copy of the PRK
  if (!ok) {
    SecureZero(out, len);
    ERR_clear_error();
  }
  return ok;
}

// LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite || label || ikm)
bool LabeledExtract(ConstBytes suite, ConstBytes salt, const char* label, ConstBytes ikm, uint8_t prk[kHashBytes]) {
  return Extract(salt, {ConstBytes{kVersionLabel, sizeof(kVersionLabel)}, suite, Str(label), ikm}, prk);
}

// LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite || label || info, L).
// info here is always public (kem_context, key_schedule_context), so the
// labeled info may sit on the stack.
bool LabeledExpand(ConstBytes suite, const uint8_t prk[kHashBytes], const char* label, ConstBytes info, uint8_t* out,
                   size_t len) {
  std::array<uint8_t, 160> buf{};
  const ConstBytes l = Str(label);
  const size_t total = 2 + sizeof(kVersionLabel) + suite.n + l.n + info.n;
  if (total > buf.size() || len > 0xffff) return false;
  size_t at = 0;
  buf[at++] = static_cast<uint8_t>(len >> 8);
  buf[at++] = static_cast<uint8_t>(len);
  for (const ConstBytes& part : {ConstBytes{kVersionLabel, sizeof(kVersionLabel)}, suite, l, info}) {
    if (part.n != 0) std::memcpy(buf.data() + at, part.p, part.n);
    at += part.n;
  }
  return Expand(prk, ConstBytes{buf.data(), total}, out, len);
}

// Every secret of one HPKE operation, in one arena block.
struct Secrets {
  uint8_t dh[kX25519Bytes];
  uint8_t prk[kHashBytes];  // eae_prk, then the key schedule's secret
  uint8_t shared[kHashBytes];
  uint8_t key[32];
  uint8_t base_nonce[kNonceBytes];
  uint8_t nonce[kNonceBytes];
};

class SecretsBlock {
 public:
  Secrets* get() { return block_.ok() ? reinterpret_cast<Secrets*>(block_.data()) : nullptr; }

 private:
  SecureBlock<sizeof(Secrets)> block_;
};

void ClearErrorsOnFailure(bool ok) {
  if (!ok) ERR_clear_error();
}

EVP_PKEY* RawPrivate(const uint8_t sk[kX25519Bytes]) {
  return EVP_PKEY_new_raw_private_key_ex(nullptr, "X25519", nullptr, sk, kX25519Bytes);
}

bool RawPublicOf(EVP_PKEY* key, uint8_t out[kX25519Bytes]) {
  size_t len = kX25519Bytes;
  const bool ok = EVP_PKEY_get_raw_public_key(key, out, &len) == 1 && len == kX25519Bytes;
  ClearErrorsOnFailure(ok);
  return ok;
}

// DH(sk, pk) into out. OpenSSL itself refuses an all-zero result; the
// explicit check keeps RFC 9180 7.1.4 true whatever the library does.
Status Dh(EVP_PKEY* sk, const uint8_t pk[kX25519Bytes], uint8_t out[kX25519Bytes]) {
  EVP_PKEY* peer = EVP_PKEY_new_raw_public_key_ex(nullptr, "X25519", nullptr, pk, kX25519Bytes);
  EVP_PKEY_CTX* ctx = peer != nullptr ? EVP_PKEY_CTX_new_from_pkey(nullptr, sk, nullptr) : nullptr;
  Status s = kInternal;
  if (ctx != nullptr && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) == 1) {
    size_t len = kX25519Bytes;
    const bool derived = EVP_PKEY_derive(ctx, out, &len) == 1 && len == kX25519Bytes;
    s = derived && CRYPTO_memcmp(out, kZeroSalt, kX25519Bytes) != 0 ? kOk : kInvalidArgument;
  }
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(peer);
  if (s != kOk) {
    SecureZero(out, kX25519Bytes);
    ERR_clear_error();
  }
  return s;
}

// ExtractAndExpand(dh, enc || pkR) into x->shared.
bool SharedSecret(Secrets* x, const uint8_t enc[kHpkeEncBytes], const uint8_t pkR[kX25519Bytes]) {
  uint8_t kem_context[kHpkeEncBytes + kX25519Bytes];
  std::memcpy(kem_context, enc, kHpkeEncBytes);
  std::memcpy(kem_context + kHpkeEncBytes, pkR, kX25519Bytes);
  const ConstBytes suite{kKemSuite, sizeof(kKemSuite)};
  return LabeledExtract(suite, ConstBytes{nullptr, 0}, "eae_prk", ConstBytes{x->dh, kX25519Bytes}, x->prk) &&
         LabeledExpand(suite, x->prk, "shared_secret", ConstBytes{kem_context, sizeof(kem_context)}, x->shared,
                       kHashBytes);
}

// KeySchedule(mode_base, shared_secret, info, default_psk, default_psk_id),
// then nonce = base_nonce XOR I2OSP(seq, 12).
bool KeySchedule(Secrets* x, const HpkeSuite& hs, const HpkeParams& hp) {
  const ConstBytes suite{hs.id, sizeof(hs.id)};
  const ConstBytes none{nullptr, 0};
  uint8_t context[1 + 2 * kHashBytes] = {0x00};  // mode_base || psk_id_hash || info_hash (public)
  if (!LabeledExtract(suite, none, "psk_id_hash", none, context + 1) ||
      !LabeledExtract(suite, none, "info_hash", hp.info, context + 1 + kHashBytes) ||
      !LabeledExtract(suite, ConstBytes{x->shared, kHashBytes}, "secret", none, x->prk)) {
    return false;
  }
  const ConstBytes ctx{context, sizeof(context)};
  if (!LabeledExpand(suite, x->prk, "key", ctx, x->key, hs.key_bytes) ||
      !LabeledExpand(suite, x->prk, "base_nonce", ctx, x->base_nonce, kNonceBytes)) {
    return false;
  }
  std::memcpy(x->nonce, x->base_nonce, kNonceBytes);
  for (size_t i = 0; i < 8; ++i) x->nonce[kNonceBytes - 1 - i] ^= static_cast<uint8_t>(hp.seq >> (8 * i));
  return true;
}

}  // namespace

Status X25519(const uint8_t sk[kX25519Bytes], const uint8_t pk[kX25519Bytes], uint8_t out[kX25519Bytes]) {
  EVP_PKEY* key = RawPrivate(sk);
  if (key == nullptr) {
    ERR_clear_error();
    SecureZero(out, kX25519Bytes);
    return kInvalidArgument;
  }
  const Status s = Dh(key, pk, out);
  EVP_PKEY_free(key);
  return s;
}

Status HkdfSha256(ConstBytes salt, ConstBytes ikm, ConstBytes info, uint8_t* out, size_t len) {
  if (len == 0 || len > kHkdfSha256MaxOutput) return kInvalidArgument;
  SecureBlock<kHashBytes> prk;
  if (!prk.ok()) return kArenaExhausted;
  if (!Extract(salt, {ikm}, prk.data()) || !Expand(prk.data(), info, out, len)) {
    SecureZero(out, len);
    return kInternal;
  }
  return kOk;
}

Status HpkeSealWith(EVP_PKEY* skE, const uint8_t pkR[kX25519Bytes], const HpkeParams& hp, const uint8_t* pt, size_t n,
                    uint8_t enc[kHpkeEncBytes], uint8_t* ct) {
  HpkeSuite hs;
  if (skE == nullptr || !SuiteFor(hp.aead, &hs)) return kInvalidArgument;
  SecretsBlock block;
  Secrets* x = block.get();
  if (x == nullptr) return kArenaExhausted;
  const Status s = Dh(skE, pkR, x->dh);
  if (s != kOk) return s;
  if (!RawPublicOf(skE, enc) || !SharedSecret(x, enc, pkR) || !KeySchedule(x, hs, hp)) return kInternal;
  return AesGcmSeal(x->key, hs.key_bytes, x->nonce, Aad{hp.aad.p, hp.aad.n, nullptr, 0}, pt, n, ct, ct + n);
}

Status HpkeOpenWith(EVP_PKEY* skR, const uint8_t enc[kHpkeEncBytes], const HpkeParams& hp, const uint8_t* ct, size_t n,
                    uint8_t* pt) {
  HpkeSuite hs;
  if (skR == nullptr || !SuiteFor(hp.aead, &hs)) return kInvalidArgument;
  SecretsBlock block;
  Secrets* x = block.get();
  if (x == nullptr) return kArenaExhausted;
  uint8_t pkR[kX25519Bytes];
  // One answer for every failure that depends on the input: it reveals nothing.
  if (Dh(skR, enc, x->dh) != kOk || !RawPublicOf(skR, pkR) || !SharedSecret(x, enc, pkR) || !KeySchedule(x, hs, hp) ||
      AesGcmOpen(x->key, hs.key_bytes, x->nonce, Aad{hp.aad.p, hp.aad.n, nullptr, 0}, ct, n, ct + n, pt) != kOk) {
    return kInvalidLease;
  }
  return kOk;
}

Status HpkeSealRaw(const uint8_t skE[kX25519Bytes], const uint8_t pkR[kX25519Bytes], const HpkeParams& hp,
                   const uint8_t* pt, size_t n, uint8_t enc[kHpkeEncBytes], uint8_t* ct) {
  EVP_PKEY* key = RawPrivate(skE);
  if (key == nullptr) {
    ERR_clear_error();
    return kInvalidArgument;
  }
  const Status s = HpkeSealWith(key, pkR, hp, pt, n, enc, ct);
  EVP_PKEY_free(key);
  return s;
}

Status HpkeOpenRaw(const uint8_t skR[kX25519Bytes], const uint8_t enc[kHpkeEncBytes], const HpkeParams& hp,
                   const uint8_t* ct, size_t n, uint8_t* pt) {
  EVP_PKEY* key = RawPrivate(skR);
  if (key == nullptr) {
    ERR_clear_error();
    return kInvalidArgument;
  }
  const Status s = HpkeOpenWith(key, enc, hp, ct, n, pt);
  EVP_PKEY_free(key);
  return s;
}

}  // namespace krypton
