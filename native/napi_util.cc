#include "napi_util.h"

#include <cstdint>
#include <string>

namespace krypton {

const char* StatusCode(Status s) {
  switch (s) {
    case kOk:
      return "OK";
    case kInvalidBlob:
      return "INVALID_BLOB";
    case kKeyRevoked:
      return "KEY_REVOKED";
    case kKeyUnavailable:
      return "KEY_UNAVAILABLE";
    case kInvalidArgument:
      return "BAD_REQUEST";
    case kArenaExhausted:
      return "ARENA_EXHAUSTED";
    case kInvalidLease:
      return "INVALID_LEASE";
    case kInternal:
      break;
  }
  return "INTERNAL";
}

namespace {

const char* StatusMessage(Status s) {
  switch (s) {
    case kInvalidBlob:
      return "invalid blob";
    case kKeyRevoked:
      return "key version is revoked";
    case kKeyUnavailable:
      return "no usable key";
    case kInvalidArgument:
      return "invalid argument";
    case kArenaExhausted:
      return "the locked key arena is full: raise KRYPTON_ARENA_BYTES (see krypton_arena_used_bytes)";
    case kInvalidLease:
      return "invalid lease";
    default:
      return "internal error";
  }
}

[[noreturn]] void ThrowType(Napi::Env env, size_t i, const char* what) {
  throw Napi::TypeError::New(env, std::string("argument ") + std::to_string(i) + " must be " + what);
}

Bytes ViewOf(Napi::Env env, const Napi::Value& v, size_t i) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowType(env, i, "a Uint8Array");
  }
  auto a = v.As<Napi::Uint8Array>();
  return Bytes{a.Data(), a.ByteLength()};
}

// An integer in 0..2^53 - 1 (NaN and fractions fail the comparisons).
bool IsSafeU53(double d) {
  return d >= 0 && d <= static_cast<double>(kMaxSafeInteger) && d == static_cast<double>(static_cast<uint64_t>(d));
}

}  // namespace

Bytes ArgBytes(const Napi::CallbackInfo& info, size_t i) {
  return ViewOf(info.Env(), info[i], i);
}

Bytes ArgBytesOrEmpty(const Napi::CallbackInfo& info, size_t i) {
  const Napi::Value v = info[i];
  if (v.IsNull() || v.IsUndefined()) return Bytes{nullptr, 0};
  return ViewOf(info.Env(), v, i);
}

MutBytes ArgOut(const Napi::CallbackInfo& info, size_t i) {
  const Bytes b = ViewOf(info.Env(), info[i], i);
  return MutBytes{const_cast<uint8_t*>(b.p), b.n};
}

uint64_t ArgU53(const Napi::CallbackInfo& info, size_t i) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) ThrowType(info.Env(), i, "a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!IsSafeU53(d)) ThrowType(info.Env(), i, "a safe non-negative integer");
  return static_cast<uint64_t>(d);
}

bool TryU53(const Napi::Value& v, uint64_t* out) {
  if (!v.IsNumber()) return false;
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!IsSafeU53(d)) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

bool TryId(const Napi::Value& v, std::string_view* out) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) return false;
  const auto a = v.As<Napi::Uint8Array>();
  if (!ValidId(a.Data(), a.ByteLength())) return false;
  *out = std::string_view(reinterpret_cast<const char*>(a.Data()), a.ByteLength());
  return true;
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) ThrowType(info.Env(), i, "a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    ThrowType(info.Env(), i, "an unsigned 32-bit integer");
  }
  return static_cast<uint32_t>(d);
}

std::string_view ArgId(const Napi::CallbackInfo& info, size_t i) {
  const Bytes b = ViewOf(info.Env(), info[i], i);
  if (!ValidId(b.p, b.n)) ThrowStatus(info.Env(), kInvalidArgument);
  return std::string_view(reinterpret_cast<const char*>(b.p), b.n);
}

std::vector<Napi::Value> ArgElements(const Napi::CallbackInfo& info, size_t i, uint32_t max) {
  if (!info[i].IsArray()) ThrowType(info.Env(), i, "an array of Uint8Array");
  const Napi::Array a = info[i].As<Napi::Array>();
  const uint32_t n = a.Length();
  if (n > max) ThrowStatus(info.Env(), kInvalidArgument);
  std::vector<Napi::Value> out;
  out.reserve(n);
  for (uint32_t k = 0; k < n; ++k) out.push_back(a.Get(k));
  return out;
}

std::vector<Bytes> ElementBytes(Napi::Env env, const std::vector<Napi::Value>& elements, size_t i) {
  std::vector<Bytes> out;
  out.reserve(elements.size());
  for (const Napi::Value& v : elements) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      ThrowType(env, i, "an array of Uint8Array");
    }
    const auto a = v.As<Napi::Uint8Array>();
    out.push_back(Bytes{a.Data(), a.ByteLength()});
  }
  return out;
}

bool Overlaps(const uint8_t* a, size_t a_len, const uint8_t* b, size_t b_len) {
  if (a_len == 0 || b_len == 0) return false;
  const uintptr_t a0 = reinterpret_cast<uintptr_t>(a), b0 = reinterpret_cast<uintptr_t>(b);
  return a0 < b0 + b_len && b0 < a0 + a_len;
}

void ThrowStatus(Napi::Env env, Status s) {
  Napi::Error e = Napi::Error::New(env, StatusMessage(s));
  e.Set("code", Napi::String::New(env, StatusCode(s)));
  throw e;
}

void Export(Napi::Env env, Napi::Object exports, const char* name, Napi::Function::Callback fn) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

}  // namespace krypton
