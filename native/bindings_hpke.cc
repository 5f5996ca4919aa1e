// N-API surface of HPKE: recipient keys (Gateway), lease seal (Core) and
// open (Gateway), and the X25519 / HKDF / HPKE known-answer entry points.
// Native code checks arity and types; src/native/hpke.ts validates ranges.
//
// 64-bit integers (expiresAtMs, the KAT sequence number) cross as JS
// numbers: non-negative integers up to Number.MAX_SAFE_INTEGER (2^53 - 1).
#include <openssl/crypto.h>

#include <exception>
#include <string>

#include "bindings.h"
#include "hpke.h"
#include "lease_message.h"
#include "napi_util.h"

namespace krypton {

namespace {

ConstBytes Const(Bytes b) {
  return ConstBytes{b.p, b.n};
}

ConstBytes IdArg(const Napi::CallbackInfo& info, size_t i) {
  const std::string_view id = ArgId(info, i);
  return ConstBytes{reinterpret_cast<const uint8_t*>(id.data()), id.size()};
}

// Key creation refuses (std::runtime_error) without a secure heap: the
// operator-facing message becomes a plain JS Error.
template <typename Fn>
Status Guarded(Napi::Env env, Fn fn) {
  try {
    return fn();
  } catch (const std::runtime_error& e) {
    throw Napi::Error::New(env, e.what());
  }
}

Napi::Value RecipientGenerateJs(const Napi::CallbackInfo& info) {
  uint32_t id = 0;
  Check(info.Env(), Guarded(info.Env(), [&] { return RecipientGenerate(&id); }));
  return Napi::Number::New(info.Env(), id);
}

Napi::Value RecipientImportJs(const Napi::CallbackInfo& info) {
  const Bytes sk = ArgBytes(info, 0);
  if (sk.n != kX25519Bytes) ThrowStatus(info.Env(), kInvalidArgument);
  uint32_t id = 0;
  Check(info.Env(), RecipientImport(sk.p, &id));
  return Napi::Number::New(info.Env(), id);
}

Napi::Value RecipientPublicKeyJs(const Napi::CallbackInfo& info) {
  const uint32_t id = ArgU32(info, 0);
  const MutBytes out = ArgOut(info, 1);
  if (out.n != kX25519Bytes) ThrowStatus(info.Env(), kInvalidArgument);
  Check(info.Env(), RecipientPublicKey(id, out.p));
  return info.Env().Undefined();
}

// -> true if the recipient existed.
Napi::Value RecipientDestroyJs(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), RecipientDestroy(ArgU32(info, 0)) == kOk);
}

// leaseSeal(recipientPublic32, keyHandle, tenant, service, version, state, expiresAtMs, outEnc32, outSealed)
Napi::Value LeaseSealJs(const Napi::CallbackInfo& info) {
  const Bytes pk = ArgBytes(info, 0);
  const KeyHandle handle = ArgHandle(info, 1);
  const uint32_t state = ArgU32(info, 5);
  const LeaseRequest req{IdArg(info, 2), IdArg(info, 3), ArgU32(info, 4), static_cast<KeyState>(state & 0xff),
                         ArgU53(info, 6)};
  const MutBytes enc = ArgOut(info, 7), sealed = ArgOut(info, 8);
  // LeaseSeal accepts only ACTIVE and DECRYPT_ONLY; reject wider values before the narrowing matters.
  if (pk.n != kX25519Bytes || enc.n != kHpkeEncBytes || state > 0xff) ThrowStatus(info.Env(), kInvalidArgument);
  Check(info.Env(), Guarded(info.Env(), [&] {
          RequireSecureHeap();  // the ephemeral private key, too, belongs in the secure heap
          return LeaseSeal(pk.p, handle, req, enc.p, sealed.p, sealed.n);
        }));
  return info.Env().Undefined();
}

// leaseOpen(recipientId, tenant, service, enc, sealed) -> {scopeId, version, state, expiresAtMs}
Napi::Value LeaseOpenJs(const Napi::CallbackInfo& info) {
  const uint32_t id = ArgU32(info, 0);
  const ConstBytes tenant = IdArg(info, 1), service = IdArg(info, 2);
  const Bytes enc = ArgBytes(info, 3), sealed = ArgBytes(info, 4);
  LeaseResult r{};
  Check(info.Env(), LeaseOpen(id, tenant, service, Const(enc), Const(sealed), &r));
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("scopeId", Napi::Number::New(info.Env(), r.scope_id));
  o.Set("version", Napi::Number::New(info.Env(), r.version));
  o.Set("state", Napi::Number::New(info.Env(), static_cast<uint32_t>(r.state)));
  o.Set("expiresAtMs", Napi::Number::New(info.Env(), static_cast<double>(r.expires_at_ms)));  // <= 2^53 - 1
  return o;
}

// Bytes in use in OpenSSL's secure heap (0 when it is not initialized):
// lets a test prove that recipient private keys are allocated there.
Napi::Value SecureHeapUsedJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(CRYPTO_secure_used()));
}

// katX25519(sk32, pk32, out32)
Napi::Value KatX25519(const Napi::CallbackInfo& info) {
  const Bytes sk = ArgBytes(info, 0), pk = ArgBytes(info, 1);
  const MutBytes out = ArgOut(info, 2);
  if (sk.n != kX25519Bytes || pk.n != kX25519Bytes || out.n != kX25519Bytes) ThrowStatus(info.Env(), kInvalidArgument);
  Check(info.Env(), X25519(sk.p, pk.p, out.p));
  return info.Env().Undefined();
}

// katHkdfSha256(salt, ikm, info, out): out.length is L (1..8160).
Napi::Value KatHkdfSha256(const Napi::CallbackInfo& info) {
  const Bytes salt = ArgBytesOrEmpty(info, 0), ikm = ArgBytesOrEmpty(info, 1), inf = ArgBytesOrEmpty(info, 2);
  const MutBytes out = ArgOut(info, 3);
  Check(info.Env(), HkdfSha256(Const(salt), Const(ikm), Const(inf), out.p, out.n));
  return info.Env().Undefined();
}

HpkeParams KatParams(const Napi::CallbackInfo& info, size_t aead, size_t inf, size_t aad, size_t seq) {
  const uint32_t id = ArgU32(info, aead);
  if (id != kHpkeAeadAes128Gcm && id != kHpkeAeadAes256Gcm) ThrowStatus(info.Env(), kInvalidArgument);
  return HpkeParams{static_cast<uint16_t>(id), Const(ArgBytesOrEmpty(info, inf)), Const(ArgBytesOrEmpty(info, aad)),
                    ArgU53(info, seq)};
}

// katHpkeSeal(aeadId, skE32, pkR32, info, aad, seq, pt, outEnc32, outCt)
Napi::Value KatHpkeSeal(const Napi::CallbackInfo& info) {
  const HpkeParams hp = KatParams(info, 0, 3, 4, 5);
  const Bytes skE = ArgBytes(info, 1), pkR = ArgBytes(info, 2), pt = ArgBytes(info, 6);
  const MutBytes enc = ArgOut(info, 7), ct = ArgOut(info, 8);
  if (skE.n != kX25519Bytes || pkR.n != kX25519Bytes || enc.n != kHpkeEncBytes || ct.n != pt.n + kHpkeTagBytes) {
    ThrowStatus(info.Env(), kInvalidArgument);
  }
  Check(info.Env(), HpkeSealRaw(skE.p, pkR.p, hp, pt.p, pt.n, enc.p, ct.p));
  return info.Env().Undefined();
}

// katHpkeOpen(aeadId, skR32, enc32, info, aad, seq, ct, outPt) -> status
Napi::Value KatHpkeOpen(const Napi::CallbackInfo& info) {
  const HpkeParams hp = KatParams(info, 0, 3, 4, 5);
  const Bytes skR = ArgBytes(info, 1), enc = ArgBytes(info, 2), ct = ArgBytes(info, 6);
  const MutBytes pt = ArgOut(info, 7);
  if (skR.n != kX25519Bytes || enc.n != kHpkeEncBytes || ct.n < kHpkeTagBytes || pt.n != ct.n - kHpkeTagBytes) {
    ThrowStatus(info.Env(), kInvalidArgument);
  }
  return Napi::Number::New(info.Env(), HpkeOpenRaw(skR.p, enc.p, hp, ct.p, pt.n, pt.p));
}

}  // namespace

void RegisterHpke(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "hpkeRecipientGenerate", RecipientGenerateJs);
  Export(env, exports, "hpkeRecipientImport", RecipientImportJs);
  Export(env, exports, "hpkeRecipientPublicKey", RecipientPublicKeyJs);
  Export(env, exports, "hpkeRecipientDestroy", RecipientDestroyJs);
  Export(env, exports, "hpkeSecureHeapUsed", SecureHeapUsedJs);
  Export(env, exports, "leaseSeal", LeaseSealJs);
  Export(env, exports, "leaseOpen", LeaseOpenJs);
  Export(env, exports, "katX25519", KatX25519);
  Export(env, exports, "katHkdfSha256", KatHkdfSha256);
  Export(env, exports, "katHpkeSeal", KatHpkeSeal);
  Export(env, exports, "katHpkeOpen", KatHpkeOpen);
  exports.Set("LEASE_FIXED_BYTES", Napi::Number::New(env, kLeaseFixedBytes));
  exports.Set("LEASE_KEY_BYTES", Napi::Number::New(env, kLeaseKeyBytes));
  exports.Set("HPKE_ENC_BYTES", Napi::Number::New(env, kHpkeEncBytes));
  exports.Set("HPKE_TAG_BYTES", Napi::Number::New(env, kHpkeTagBytes));
  exports.Set("X25519_BYTES", Napi::Number::New(env, kX25519Bytes));
  exports.Set("HKDF_SHA256_MAX_BYTES", Napi::Number::New(env, kHkdfSha256MaxOutput));
  exports.Set("LEASE_MAX_EXPIRY_MS", Napi::Number::New(env, static_cast<double>(kMaxLeaseExpiryMs)));
  exports.Set("LEASE_INFO", Napi::String::New(env, kLeaseInfo));
}

}  // namespace krypton
