// N-API surface of HMAC, Shamir sharing and process hardening. Arity and
// types only: src/native checks ranges and meaning, and the C++ checks
// them again.
#include <limits>
#include <vector>

#include "bindings.h"
#include "ed25519.h"
#include "hardening.h"
#include "hmac.h"
#include "napi_util.h"
#include "shamir.h"

namespace krypton {

namespace {

// ed25519Sign(handle of a 32-byte seed, message, out64)
Napi::Value Ed25519SignJs(const Napi::CallbackInfo& info) {
  const KeyHandle handle = ArgHandle(info, 0);
  const Bytes msg = ArgBytes(info, 1);
  const MutBytes out = ArgOut(info, 2);
  if (Overlaps(out.p, out.n, msg.p, msg.n)) ThrowStatus(info.Env(), kInvalidArgument);
  Check(info.Env(), Ed25519Sign(handle, msg, out.p, out.n));
  return info.Env().Undefined();
}

// ed25519PublicKey(handle of a 32-byte seed, out32)
Napi::Value Ed25519PublicKeyJs(const Napi::CallbackInfo& info) {
  const KeyHandle handle = ArgHandle(info, 0);
  const MutBytes out = ArgOut(info, 1);
  Check(info.Env(), Ed25519PublicKey(handle, out.p, out.n));
  return info.Env().Undefined();
}

// keyDerive(handle, info) -> new handle
Napi::Value KeyDeriveJs(const Napi::CallbackInfo& info) {
  KeyHandle derived = 0;
  Check(info.Env(), DeriveKey(ArgHandle(info, 0), ArgBytes(info, 1), &derived));
  return HandleValue(info.Env(), derived);
}

// hmacSha256(handle, data, out32)
Napi::Value HmacSha256Js(const Napi::CallbackInfo& info) {
  const KeyHandle handle = ArgHandle(info, 0);
  const Bytes data = ArgBytes(info, 1);
  const MutBytes out = ArgOut(info, 2);
  Check(info.Env(), HmacSha256(handle, data, out.p, out.n));
  return info.Env().Undefined();
}

// shamirSplit(handle, threshold, shares, out): out = shares * (1 + keyLen)
Napi::Value ShamirSplitJs(const Napi::CallbackInfo& info) {
  const KeyHandle handle = ArgHandle(info, 0);
  const uint32_t threshold = ArgU32(info, 1), shares = ArgU32(info, 2);
  const MutBytes out = ArgOut(info, 3);
  Check(info.Env(), ShamirSplit(handle, threshold, shares, out.p, out.n));
  return info.Env().Undefined();
}

// shamirCombine([Uint8Array, ...]) -> handle. Every element is read before
// any share pointer is taken (a getter could detach a share's buffer).
Napi::Value ShamirCombineJs(const Napi::CallbackInfo& info) {
  const std::vector<Napi::Value> elements = ArgElements(info, 0, kMaxShares);
  const std::vector<Bytes> shares = ElementBytes(info.Env(), elements, 0);
  KeyHandle h = 0;
  Check(info.Env(), ShamirCombine(shares.data(), shares.size(), &h));
  return HandleValue(info.Env(), h);
}

Napi::Value SetDumpableJs(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) throw Napi::TypeError::New(info.Env(), "argument 0 must be a boolean");
  Check(info.Env(), SetDumpable(info[0].As<Napi::Boolean>().Value()) == 0 ? kOk : kInternal);
  return info.Env().Undefined();
}

Napi::Value GetDumpableJs(const Napi::CallbackInfo& info) {
  const int d = GetDumpable();
  if (d < 0) ThrowStatus(info.Env(), kInternal);
  return Napi::Boolean::New(info.Env(), d != 0);
}

Napi::Value DisableCoreDumpsJs(const Napi::CallbackInfo& info) {
  Check(info.Env(), DisableCoreDumps() == 0 ? kOk : kInternal);
  return info.Env().Undefined();
}

// The soft RLIMIT_CORE in bytes; Infinity when unlimited.
Napi::Value CoreDumpLimitJs(const Napi::CallbackInfo& info) {
  const CoreLimit c = CoreDumpLimit();
  if (!c.ok) ThrowStatus(info.Env(), kInternal);
  const double v = c.unlimited ? std::numeric_limits<double>::infinity() : static_cast<double>(c.soft);
  return Napi::Number::New(info.Env(), v);
}

// lockAllMemory() -> { ok, error? }: failing to lock is reported, not
// thrown, so that the caller decides whether it is fatal.
Napi::Value LockAllMemoryJs(const Napi::CallbackInfo& info) {
  const int err = LockAllMemory();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("ok", Napi::Boolean::New(info.Env(), err == 0));
  if (err != 0) o.Set("error", Napi::String::New(info.Env(), "mlockall failed: " + ErrnoText(err)));
  return o;
}

// unlockAllMemory() -> { ok, error? }: undoes lockAllMemory, keeping the
// key arena locked; run before V8 teardown (see hardening.h).
Napi::Value UnlockAllMemoryJs(const Napi::CallbackInfo& info) {
  const int err = UnlockAllMemory();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("ok", Napi::Boolean::New(info.Env(), err == 0));
  if (err != 0) o.Set("error", Napi::String::New(info.Env(), "munlockall failed: " + ErrnoText(err)));
  return o;
}

Napi::Value MemoryLockedJs(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), MemoryLocked());
}

}  // namespace

void RegisterMisc(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "hmacSha256", HmacSha256Js);
  Export(env, exports, "ed25519Sign", Ed25519SignJs);
  Export(env, exports, "ed25519PublicKey", Ed25519PublicKeyJs);
  exports.Set("ED25519_SIGNATURE_BYTES", Napi::Number::New(env, kEd25519SignatureBytes));
  exports.Set("ED25519_PUBLIC_BYTES", Napi::Number::New(env, kEd25519PublicBytes));
  // The catalogue code of each native status, by number: the one mapping, read by src/native/status.ts.
  Napi::Array codes = Napi::Array::New(env, kInvalidLease + 1);
  for (int32_t s = kOk; s <= kInvalidLease; s++)
    codes.Set(static_cast<uint32_t>(s), StatusCode(static_cast<Status>(s)));
  exports.Set("STATUS_CODES", codes);
  Export(env, exports, "keyDerive", KeyDeriveJs);
  Export(env, exports, "shamirSplit", ShamirSplitJs);
  Export(env, exports, "shamirCombine", ShamirCombineJs);
  Export(env, exports, "setDumpable", SetDumpableJs);
  Export(env, exports, "getDumpable", GetDumpableJs);
  Export(env, exports, "disableCoreDumps", DisableCoreDumpsJs);
  Export(env, exports, "coreDumpLimit", CoreDumpLimitJs);
  Export(env, exports, "lockAllMemory", LockAllMemoryJs);
  Export(env, exports, "unlockAllMemory", UnlockAllMemoryJs);
  Export(env, exports, "memoryLocked", MemoryLockedJs);
}

}  // namespace krypton
