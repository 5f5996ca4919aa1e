// Known-answer entry points: the same internal primitives the store uses,
// driven with raw test keys so that the FIPS-197, C2SP XAES and Wycheproof
// AES-GCM vectors can check them. Keys pass through the store (imported,
// used, destroyed), exactly as production keys do. Not used by the product.
#include <cstring>

#include "bindings.h"
#include "keystore.h"
#include "napi_util.h"
#include "secure_memory.h"
#include "xaes.h"

namespace krypton {

namespace {

// Runs fn(key) on a temporary store key made from raw bytes.
template <typename Fn>
Status WithTempKey(Bytes raw, Fn fn) {
  KeyHandle h = 0;
  Status s = KeyStore::Instance().Import(raw.p, raw.n, &h);
  if (s != kOk) return s;
  {
    KeyStore::Reader r(KeyStore::Instance());
    const KeyMaterial* k = r.ok() ? r.Key(h) : nullptr;
    s = k == nullptr ? kKeyUnavailable : fn(*k);
  }
  KeyStore::Instance().Destroy(h);
  return s;
}

// katAes256Block(key32, in16, out16): the AES-NI block function (FIPS-197).
Napi::Value KatAes256Block(const Napi::CallbackInfo& info) {
  const Bytes key = ArgBytes(info, 0), in = ArgBytes(info, 1);
  const MutBytes out = ArgOut(info, 2);
  if (key.n != 32 || in.n != 16 || out.n != 16) ThrowStatus(info.Env(), kInvalidArgument);
  Check(info.Env(),
        WithTempKey(key, [&](const KeyMaterial& k) { return Aes256Encrypt1(k.rk, in.p, out.p) ? kOk : kInternal; }));
  return info.Env().Undefined();
}

// katXaesSubkey(key32, nonce24, kx32): the XAES subkey for the nonce prefix.
Napi::Value KatXaesSubkey(const Napi::CallbackInfo& info) {
  const Bytes key = ArgBytes(info, 0), nonce = ArgBytes(info, 1);
  const MutBytes out = ArgOut(info, 2);
  if (key.n != 32 || nonce.n != kXaesNonceBytes || out.n != 32) ThrowStatus(info.Env(), kInvalidArgument);
  Check(info.Env(),
        WithTempKey(key, [&](const KeyMaterial& k) { return XaesDeriveSubkey(k, nonce.p, out.p) ? kOk : kInternal; }));
  return info.Env().Undefined();
}

// katXaesSeal(key32, nonce24, aad, pt, out = ct||tag)
Napi::Value KatXaesSeal(const Napi::CallbackInfo& info) {
  const Bytes key = ArgBytes(info, 0), nonce = ArgBytes(info, 1), aad = ArgBytesOrEmpty(info, 2),
              pt = ArgBytes(info, 3);
  const MutBytes out = ArgOut(info, 4);
  if (key.n != 32 || nonce.n != kXaesNonceBytes || out.n != pt.n + kTagBytes) ThrowStatus(info.Env(), kInvalidArgument);
  Check(info.Env(), WithTempKey(key, [&](const KeyMaterial& k) {
          return XaesSealWithNonce(k, nonce.p, Aad{aad.p, aad.n, nullptr, 0}, pt.p, pt.n, out.p, out.p + pt.n);
        }));
  return info.Env().Undefined();
}

// katXaesOpen(key32, nonce24, aad, ct||tag, out) -> status
Napi::Value KatXaesOpen(const Napi::CallbackInfo& info) {
  const Bytes key = ArgBytes(info, 0), nonce = ArgBytes(info, 1), aad = ArgBytesOrEmpty(info, 2),
              ct = ArgBytes(info, 3);
  const MutBytes out = ArgOut(info, 4);
  if (key.n != 32 || nonce.n != kXaesNonceBytes || ct.n < kTagBytes || out.n != ct.n - kTagBytes) {
    ThrowStatus(info.Env(), kInvalidArgument);
  }
  const Status s = WithTempKey(key, [&](const KeyMaterial& k) {
    return XaesOpen(k, nonce.p, Aad{aad.p, aad.n, nullptr, 0}, ct.p, out.n, ct.p + out.n, out.p);
  });
  return Napi::Number::New(info.Env(), s);
}

// katAesGcmSeal(key, iv12, aad, pt, out = ct||tag)
Napi::Value KatAesGcmSeal(const Napi::CallbackInfo& info) {
  const Bytes key = ArgBytes(info, 0), iv = ArgBytes(info, 1), aad = ArgBytesOrEmpty(info, 2), pt = ArgBytes(info, 3);
  const MutBytes out = ArgOut(info, 4);
  if (iv.n != 12 || out.n != pt.n + kTagBytes) ThrowStatus(info.Env(), kInvalidArgument);
  Check(info.Env(), AesGcmSeal(key.p, key.n, iv.p, Aad{aad.p, aad.n, nullptr, 0}, pt.p, pt.n, out.p, out.p + pt.n));
  return info.Env().Undefined();
}

// katAesGcmOpen(key, iv12, aad, ct||tag, out) -> status
Napi::Value KatAesGcmOpen(const Napi::CallbackInfo& info) {
  const Bytes key = ArgBytes(info, 0), iv = ArgBytes(info, 1), aad = ArgBytesOrEmpty(info, 2), ct = ArgBytes(info, 3);
  const MutBytes out = ArgOut(info, 4);
  if (iv.n != 12 || ct.n < kTagBytes || out.n != ct.n - kTagBytes) ThrowStatus(info.Env(), kInvalidArgument);
  return Napi::Number::New(
      info.Env(), AesGcmOpen(key.p, key.n, iv.p, Aad{aad.p, aad.n, nullptr, 0}, ct.p, out.n, ct.p + out.n, out.p));
}

}  // namespace

void RegisterKat(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "katAes256Block", KatAes256Block);
  Export(env, exports, "katXaesSubkey", KatXaesSubkey);
  Export(env, exports, "katXaesSeal", KatXaesSeal);
  Export(env, exports, "katXaesOpen", KatXaesOpen);
  Export(env, exports, "katAesGcmSeal", KatAesGcmSeal);
  Export(env, exports, "katAesGcmOpen", KatAesGcmOpen);
}

}  // namespace krypton
