// N-API surface of the arena, the key store, scopes and key wrapping.
#include <vector>

#include "aes_block.h"
#include "bindings.h"
#include "key_wrap.h"
#include "keystore.h"
#include "napi_util.h"
#include "secure_memory.h"
#include "xaes.h"

namespace krypton {

namespace {

Napi::Value ArenaInfoJs(const Napi::CallbackInfo& info) {
  const ArenaInfo a = SecureArena::Instance().Info();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("base", Napi::BigInt::New(info.Env(), static_cast<uint64_t>(a.base)));
  o.Set("size", Napi::Number::New(info.Env(), static_cast<double>(a.size)));
  o.Set("guardBytes", Napi::Number::New(info.Env(), static_cast<double>(a.guard_bytes)));
  o.Set("used", Napi::Number::New(info.Env(), static_cast<double>(a.used)));
  o.Set("locked", Napi::Boolean::New(info.Env(), a.locked));
  o.Set("dontDump", Napi::Boolean::New(info.Env(), a.dontdump));
  o.Set("wipeOnFork", Napi::Boolean::New(info.Env(), a.wipeonfork));
  return o;
}

Napi::Value CapabilitiesJs(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("aesNi", Napi::Boolean::New(info.Env(), AesNiAvailable()));
  o.Set("softwareAes", Napi::Boolean::New(info.Env(), SoftwareAesAllowed()));
  return o;
}

Napi::Value KeyGenerate(const Napi::CallbackInfo& info) {
  KeyHandle h = 0;
  Check(info.Env(), KeyStore::Instance().Generate(ArgU32(info, 0), &h));
  return HandleValue(info.Env(), h);
}

Napi::Value KeyImport(const Napi::CallbackInfo& info) {
  const Bytes k = ArgBytes(info, 0);
  KeyHandle h = 0;
  Check(info.Env(), KeyStore::Instance().Import(k.p, k.n, &h));
  return HandleValue(info.Env(), h);
}

Napi::Value KeyDestroy(const Napi::CallbackInfo& info) {
  Check(info.Env(), KeyStore::Instance().Destroy(ArgHandle(info, 0)));
  return info.Env().Undefined();
}

Napi::Value KeyLength(const Napi::CallbackInfo& info) {
  const KeyHandle handle = ArgHandle(info, 0);  // arguments first, then the lock
  KeyStore::Reader r(KeyStore::Instance());
  const KeyMaterial* k = r.ok() ? r.Key(handle) : nullptr;
  if (k == nullptr) ThrowStatus(info.Env(), kKeyUnavailable);
  return Napi::Number::New(info.Env(), k->len);
}

Napi::Value ZeroizeAll(const Napi::CallbackInfo& info) {
  KeyStore::Instance().ZeroizeAll();
  return info.Env().Undefined();
}

Napi::Value StoreStatsJs(const Napi::CallbackInfo& info) {
  const StoreStats s = KeyStore::Instance().Stats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("keys", Napi::Number::New(info.Env(), static_cast<double>(s.keys)));
  o.Set("scopes", Napi::Number::New(info.Env(), static_cast<double>(s.scopes)));
  return o;
}

KeyState ArgState(const Napi::CallbackInfo& info, size_t i) {
  const uint32_t s = ArgU32(info, i);
  if (!ValidKeyState(static_cast<uint8_t>(s)) || s > 255) ThrowStatus(info.Env(), kInvalidArgument);
  return static_cast<KeyState>(s);
}

Napi::Value ScopeBind(const Napi::CallbackInfo& info) {
  uint32_t id = 0;
  Check(info.Env(), KeyStore::Instance().Bind(ArgId(info, 0), ArgId(info, 1), ArgU32(info, 2), ArgState(info, 3),
                                              ArgHandle(info, 4), &id));
  return Napi::Number::New(info.Env(), id);
}

Napi::Value ScopeSetState(const Napi::CallbackInfo& info) {
  Check(info.Env(), KeyStore::Instance().SetState(ArgId(info, 0), ArgId(info, 1), ArgU32(info, 2), ArgState(info, 3)));
  return info.Env().Undefined();
}

// scopeRetire(tenant, service, version) -> true when the version was
// retired, false when it was not held or is revoked (its tombstone stays).
Napi::Value ScopeRetire(const Napi::CallbackInfo& info) {
  const Status s = KeyStore::Instance().Retire(ArgId(info, 0), ArgId(info, 1), ArgU32(info, 2));
  if (s != kOk && s != kKeyUnavailable && s != kKeyRevoked) ThrowStatus(info.Env(), s);
  return Napi::Boolean::New(info.Env(), s == kOk);
}

Napi::Value ScopeEvict(const Napi::CallbackInfo& info) {
  const Status s = KeyStore::Instance().Evict(ArgId(info, 0), ArgId(info, 1));
  if (s != kOk && s != kKeyUnavailable) ThrowStatus(info.Env(), s);
  return Napi::Boolean::New(info.Env(), s == kOk);
}

// scopeHolder() -> a fresh holder id (never 0)
Napi::Value ScopeHolderJs(const Napi::CallbackInfo& info) {
  HolderId h = 0;
  Check(info.Env(), KeyStore::Instance().NewHolder(&h));
  return HandleValue(info.Env(), h);
}

// scopeHold(tenant, service, holder) -> scope id
Napi::Value ScopeHoldJs(const Napi::CallbackInfo& info) {
  uint32_t id = 0;
  Check(info.Env(), KeyStore::Instance().Hold(ArgId(info, 0), ArgId(info, 1), ArgU53(info, 2), &id));
  return Napi::Number::New(info.Env(), id);
}

// scopeRelease(tenant, service, holder) -> 1 destroyed, 0 kept or absent,
// -status for bad arguments. Never throws: revocation and shutdown call it
// in loops that must not stop halfway.
Napi::Value ScopeReleaseJs(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  try {
    std::string_view tenant, service;
    uint64_t holder = 0;
    if (info.Length() < 3 || !TryId(info[0], &tenant) || !TryId(info[1], &service) || !TryU53(info[2], &holder)) {
      return Napi::Number::New(env, -static_cast<double>(kInvalidArgument));
    }
    bool destroyed = false;
    const Status s = KeyStore::Instance().Release(tenant, service, holder, &destroyed);
    if (s != kOk && s != kKeyUnavailable) return Napi::Number::New(env, -static_cast<double>(s));
    return Napi::Number::New(env, destroyed ? 1 : 0);
  } catch (...) {
    // Only N-API failures land here (a pending exception is cleared into
    // the caught Napi::Error); report them as a status.
    return Napi::Number::New(env, -static_cast<double>(kInternal));
  }
}

// scopeHolders(tenant, service) -> how many holders (0 for no scope)
Napi::Value ScopeHoldersJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(),
                           static_cast<double>(KeyStore::Instance().Holders(ArgId(info, 0), ArgId(info, 1))));
}

Napi::Value ScopeLookup(const Napi::CallbackInfo& info) {
  uint32_t id = 0;
  KeyStore::Instance().Lookup(ArgId(info, 0), ArgId(info, 1), &id);
  return Napi::Number::New(info.Env(), id);  // 0: no such scope
}

Napi::Value ScopeList(const Napi::CallbackInfo& info) {
  std::vector<ScopeVersion> versions;
  const Status s = KeyStore::Instance().List(ArgId(info, 0), ArgId(info, 1), &versions);
  Napi::Array out = Napi::Array::New(info.Env(), versions.size());
  if (s != kOk) return out;
  for (size_t i = 0; i < versions.size(); ++i) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("version", Napi::Number::New(info.Env(), versions[i].version));
    o.Set("state", Napi::Number::New(info.Env(), static_cast<uint32_t>(versions[i].state)));
    o.Set("handle", HandleValue(info.Env(), versions[i].handle));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

Napi::Value KeyWrap(const Napi::CallbackInfo& info) {
  const MutBytes out = ArgOut(info, 3);
  Check(info.Env(), WrapKey(ArgHandle(info, 0), ArgHandle(info, 1), ArgBytesOrEmpty(info, 2), out.p, out.n));
  return info.Env().Undefined();
}

Napi::Value KeyUnwrap(const Napi::CallbackInfo& info) {
  KeyHandle h = 0;
  Check(info.Env(), UnwrapKey(ArgHandle(info, 0), ArgBytes(info, 1), ArgBytesOrEmpty(info, 2), &h));
  return HandleValue(info.Env(), h);
}

// Generic XAES-256-GCM under a stored key: out = nonce || ct || tag.
Napi::Value XaesSealJs(const Napi::CallbackInfo& info) {
  const KeyHandle handle = ArgHandle(info, 0);
  const Bytes aad = ArgBytesOrEmpty(info, 1);
  const Bytes pt = ArgBytes(info, 2);
  const MutBytes out = ArgOut(info, 3);
  if (out.n != pt.n + kXaesNonceBytes + kTagBytes) ThrowStatus(info.Env(), kInvalidArgument);
  KeyStore::Reader r(KeyStore::Instance());
  const KeyMaterial* k = r.ok() ? r.Key(handle) : nullptr;
  if (k == nullptr) ThrowStatus(info.Env(), kKeyUnavailable);
  Check(info.Env(), XaesSealFresh(*k, Aad{aad.p, aad.n, nullptr, 0}, pt.p, pt.n, out.p, out.p + kXaesNonceBytes,
                                  out.p + kXaesNonceBytes + pt.n));
  return info.Env().Undefined();
}

Napi::Value XaesOpenJs(const Napi::CallbackInfo& info) {
  const KeyHandle handle = ArgHandle(info, 0);
  const Bytes aad = ArgBytesOrEmpty(info, 1);
  const Bytes sealed = ArgBytes(info, 2);
  const MutBytes out = ArgOut(info, 3);
  if (sealed.n < kXaesNonceBytes + kTagBytes || out.n != sealed.n - kXaesNonceBytes - kTagBytes) {
    ThrowStatus(info.Env(), kInvalidBlob);
  }
  KeyStore::Reader r(KeyStore::Instance());
  const KeyMaterial* k = r.ok() ? r.Key(handle) : nullptr;
  if (k == nullptr) ThrowStatus(info.Env(), kKeyUnavailable);
  Check(info.Env(), XaesOpen(*k, sealed.p, Aad{aad.p, aad.n, nullptr, 0}, sealed.p + kXaesNonceBytes, out.n,
                             sealed.p + kXaesNonceBytes + out.n, out.p));
  return info.Env().Undefined();
}

Napi::Value SweepContexts(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), XaesSweepThreadContexts());
}

Napi::Value WipeContexts(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), XaesWipeThreadContexts());
}

}  // namespace

void RegisterKeystore(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "arenaInfo", ArenaInfoJs);
  Export(env, exports, "capabilities", CapabilitiesJs);
  Export(env, exports, "keyGenerate", KeyGenerate);
  Export(env, exports, "keyImport", KeyImport);
  Export(env, exports, "keyDestroy", KeyDestroy);
  Export(env, exports, "keyLength", KeyLength);
  Export(env, exports, "zeroizeAll", ZeroizeAll);
  Export(env, exports, "storeStats", StoreStatsJs);
  Export(env, exports, "scopeBind", ScopeBind);
  Export(env, exports, "scopeSetState", ScopeSetState);
  Export(env, exports, "scopeEvict", ScopeEvict);
  Export(env, exports, "scopeRetire", ScopeRetire);
  Export(env, exports, "scopeHolder", ScopeHolderJs);
  Export(env, exports, "scopeHold", ScopeHoldJs);
  Export(env, exports, "scopeRelease", ScopeReleaseJs);
  Export(env, exports, "scopeHolders", ScopeHoldersJs);
  Export(env, exports, "scopeLookup", ScopeLookup);
  Export(env, exports, "scopeList", ScopeList);
  Export(env, exports, "keyWrap", KeyWrap);
  Export(env, exports, "keyUnwrap", KeyUnwrap);
  Export(env, exports, "xaesSeal", XaesSealJs);
  Export(env, exports, "xaesOpen", XaesOpenJs);
  Export(env, exports, "sweepCryptoContexts", SweepContexts);
  Export(env, exports, "wipeCryptoContexts", WipeContexts);
  exports.Set("WRAP_OVERHEAD", Napi::Number::New(env, kWrapOverhead));
  exports.Set("XAES_OVERHEAD", Napi::Number::New(env, kXaesNonceBytes + kTagBytes));
}

}  // namespace krypton
